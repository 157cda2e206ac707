// The server-rendered pages and their form actions. Each change becomes console-grammar
// lines for control.configure() (or a control call); a refusal is shown with the
// TandemError's message and the operator's input kept, success as a flash message
// after a redirect (so reload never posts twice).
import type { Hono } from "hono";
import { maskSecretLines } from "../../agent/config/render.ts";
import { asTandemError, TandemError } from "../../agent/errors.ts";
import { explain, field, html, safeNext, scrubSecret, statusFor, type Ctx, type WebDeps, type WebEnv } from "../context.ts";
import { Dashboard } from "../pages/dashboard.tsx";
import { Page } from "../pages/layout.tsx";
import { AlarmsPage, ConfigPage, ConnectionsPage, DatastorePage } from "../pages/lists.tsx";
import { emptyRuleForm, RulesPage, syncFormValues, SyncPage, type RuleFormValues, type SyncFormValues } from "../pages/settings.tsx";
import { pageKit } from "./kit.ts";
import { registerSettingsRoutes } from "./settings.ts";

export function registerPageRoutes(app: Hono<WebEnv>, deps: WebDeps): void {
  const { control, limits } = deps;
  const status = (c: Ctx) => statusFor(c, deps);

  const kit = pageKit(deps);
  const { frame, flashRedirect, applied } = kit;

  // --- pages ---
  app.get("/", (c) => html(c, Page({ ...frame(c, "Dashboard", "/"), children: Dashboard({ s: status(c), sampleMs: limits.historySampleMs }) })));

  const syncPage = (c: Ctx, values: SyncFormValues | null, error: string | null, code = 200) => {
    const cfg = control.config().datastore.sync;
    return html(c, Page({ ...frame(c, "Data store sync", "/sync"), children: SyncPage({ s: status(c), csrf: c.get("session").csrf, values: values ?? syncFormValues(cfg), secretSet: cfg.secret !== null, error }) }), code);
  };
  app.get("/sync", (c) => syncPage(c, null, null));
  app.post("/sync", async (c) => {
    const body = await c.req.parseBody();
    const v: SyncFormValues = {
      enabled: body.enabled === "on",
      role: body.role === "master" ? "master" : "backup",
      peerIp: "", port: "", mode: "", reconnectS: "", checkIntervalS: "",
    };
    const labels: string[] = [];
    const lines: string[] = [];
    const add = (line: string, label: string) => {
      lines.push(line);
      labels.push(label);
    };
    let secret = "";
    try {
      v.peerIp = field(body, "peerIp", "Peer IP address");
      v.port = field(body, "port", "Port");
      v.mode = field(body, "mode", "Mode");
      v.reconnectS = field(body, "reconnectS", "Reconnect");
      v.checkIntervalS = field(body, "checkIntervalS", "Check interval");
      secret = field(body, "secret", "Pairing secret");
      // Disable first and enable last, so the pair never runs with half the new settings.
      if (!v.enabled) add("no datastore sync enable", "Enable");
      add(v.role === "master" ? "datastore sync master" : "no datastore sync master", "Role");
      add(v.peerIp ? `datastore sync peer-ip ${v.peerIp}` : "no datastore sync peer-ip", "Peer IP address");
      add(`datastore sync port ${v.port}`, "Port");
      add(`datastore sync mode ${v.mode}`, "Mode");
      if (secret) add(`datastore sync secret ${secret}`, "Pairing secret");
      add(`datastore sync reconnect ${v.reconnectS}`, "Reconnect");
      add(`datastore sync check-interval ${v.checkIntervalS}`, "Check interval");
      if (v.enabled) add("datastore sync enable", "Enable");
      const r = await control.configure(lines);
      return flashRedirect(c, "/sync", "ok", applied(r, "Sync settings applied"));
    } catch (err) {
      return syncPage(c, v, scrubSecret(explain(err, labels), secret), asTandemError(err).httpStatus);
    }
  });
  app.post("/sync/check", async (c) => {
    try {
      const r = await control.syncCheck();
      return flashRedirect(c, "/sync", r.inSync ? "ok" : "error", `Check: ${r.message} (${r.roundTrips} round trips, ${r.bytes} bytes)`);
    } catch (err) {
      return flashRedirect(c, "/sync", "error", `Check failed: ${asTandemError(err).message}`);
    }
  });

  const rulesPage = (c: Ctx, values: RuleFormValues, error: string | null, code = 200) => {
    const rules = control.config().inPathRules;
    return html(c, Page({ ...frame(c, "In-path rules", "/rules"), children: RulesPage({ rules, csrf: c.get("session").csrf, values, error }) }), code);
  };
  app.get("/rules", (c) => rulesPage(c, emptyRuleForm, null));
  app.post("/rules/add", async (c) => {
    const body = await c.req.parseBody();
    const v = { ...emptyRuleForm };
    try {
      const names: [keyof RuleFormValues, string][] = [
        ["listenPort", "Listen port"], ["dstAddr", "Destination address"], ["dstPort", "Destination port"], ["targetAddr", "Target appliance"],
        ["targetPort", "Target port"], ["backupAddr", "Backup appliance"], ["backupPort", "Backup port"],
      ];
      for (const [name, label] of names) v[name] = field(body, name, label);
      const missing = names.slice(0, 4).filter(([name]) => v[name] === "").map(([, label]) => label);
      if (missing.length > 0) throw new TandemError("badInput", `Fill in: ${missing.join(", ")}`);
      let line = `in-path rule fixed-target listen-port ${v.listenPort} dstaddr ${v.dstAddr} dstport ${v.dstPort} target-addr ${v.targetAddr}`;
      if (v.targetPort) line += ` target-port ${v.targetPort}`;
      if (v.backupAddr) line += ` backup-addr ${v.backupAddr}`;
      if (v.backupPort) line += ` backup-port ${v.backupPort}`;
      const r = await control.configure([line]);
      return flashRedirect(c, "/rules", "ok", applied(r, `Rule for listen port ${v.listenPort} added`));
    } catch (err) {
      return rulesPage(c, v, asTandemError(err).message, asTandemError(err).httpStatus);
    }
  });
  app.post("/rules/remove", async (c) => {
    const body = await c.req.parseBody();
    const port = field(body, "listenPort", "Listen port");
    if (!/^\d{1,5}$/.test(port)) throw new TandemError("badInput", "Listen port: expected a port number");
    try {
      const r = await control.configure([`no in-path rule fixed-target listen-port ${port}`]);
      return flashRedirect(c, "/rules", "ok", applied(r, `Rule for listen port ${port} removed`));
    } catch (err) {
      return flashRedirect(c, "/rules", "error", asTandemError(err).message);
    }
  });

  app.get("/connections", (c) => html(c, Page({ ...frame(c, "Connections", "/connections"), children: ConnectionsPage({ s: status(c) }) })));
  app.get("/datastore", (c) => html(c, Page({ ...frame(c, "Data store", "/datastore"), children: DatastorePage({ s: status(c), csrf: c.get("session").csrf }) })));
  app.post("/datastore/clear", async (c) => {
    const body = await c.req.parseBody();
    if (body.confirm !== "yes") return flashRedirect(c, "/datastore", "error", "Tick the confirmation box to clear the data store");
    try {
      await control.restart({ clean: true });
      return flashRedirect(c, "/datastore", "ok", "Data store cleared; services restarted with a new store identity");
    } catch (err) {
      return flashRedirect(c, "/datastore", "error", `Clear failed: ${asTandemError(err).message}`);
    }
  });
  app.get("/alarms", (c) => html(c, Page({ ...frame(c, "Alarms & log", "/alarms"), children: AlarmsPage({ s: status(c), events: control.events(0, limits.eventsPageMax) }) })));
  registerSettingsRoutes(app, deps, kit);
  app.get("/config", (c) => html(c, Page({ ...frame(c, "Configuration", "/config"), children: ConfigPage({ runningConfig: maskSecretLines(control.runningConfig()), version: control.version(), csrf: c.get("session").csrf, passwordCharsMin: limits.passwordCharsMin }) })));

  const back = (c: Ctx) => {
    const ref = c.req.header("referer");
    try {
      const u = ref ? new URL(ref) : null;
      return u && u.host === new URL(c.req.url).host ? safeNext(u.pathname) : "/";
    } catch {
      return "/";
    }
  };
  app.post("/save", async (c) => {
    try {
      const r = await control.writeMemory();
      return flashRedirect(c, back(c), "ok", `Configuration saved to ${r.path}`);
    } catch (err) {
      return flashRedirect(c, back(c), "error", `Save failed: ${asTandemError(err).message}`);
    }
  });
  app.post("/restart", async (c) => {
    const to = back(c);
    try {
      await control.restart({ clean: false });
      return flashRedirect(c, to, "ok", "Services restarted");
    } catch (err) {
      return flashRedirect(c, to, "error", `Restart failed: ${asTandemError(err).message}`);
    }
  });
}
