// The Settings page and its form actions. A form sends only the fields that differ
// from the running config, each as the console line its SettingField declares, in
// one control.configure() call (all or nothing); a refusal comes back next to that
// group's form with configure's message and the operator's input kept (secrets
// excepted: they are never written into the page, not even inside a message).
import type { Hono } from "hono";
import { asTandemError, TandemError } from "../../agent/errors.ts";
import { explain, field, html, scrubSecret, type Ctx, type WebDeps, type WebEnv } from "../context.ts";
import { settingGroups, SettingsPage, settingValues, type SettingValues } from "../pages/appliance.tsx";
import { Page } from "../pages/layout.tsx";
import type { PageKit } from "./kit.ts";

export function registerSettingsRoutes(app: Hono<WebEnv>, deps: WebDeps, kit: PageKit): void {
  const { control } = deps;
  const { frame, flashRedirect, applied } = kit;

  const settingsPage = (c: Ctx, error: { group: string; text: string } | null, typed?: { group: string; values: SettingValues }, code = 200) => {
    const cfg = control.config();
    return html(c, Page({
      ...frame(c, "Settings", "/settings"),
      children: SettingsPage({
        csrf: c.get("session").csrf, values: settingValues(cfg, typed), secretSet: Boolean(cfg.serviceSecret), error,
        restartRequired: control.version().restartRequired ?? null,
      }),
    }), code);
  };
  app.get("/settings", (c) => settingsPage(c, null));

  // Registered before /settings/:group so "clear" is never taken for a group.
  app.post("/settings/optimization/clear", async (c) => {
    try {
      const r = await control.configure(["no service secret"]);
      return flashRedirect(c, "/settings", "ok", applied(r, "Service secret cleared"));
    } catch (err) {
      return settingsPage(c, { group: "optimization", text: asTandemError(err).message }, undefined, asTandemError(err).httpStatus);
    }
  });

  app.post("/settings/:group", async (c) => {
    const group = settingGroups.find((g) => g.id === c.req.param("group"));
    if (!group) throw new TandemError("notFound", `No settings group '${c.req.param("group")}'`);
    const body = await c.req.parseBody();
    const typed: SettingValues = {};
    const lines: string[] = [];
    const labels: string[] = [];
    let secret = "";
    try {
      const cfg = control.config();
      for (const f of group.fields) {
        const value = field(body, f.name, f.label);
        typed[f.name] = value;
        if (f.input === "secret") secret = value;
        // An empty secret field keeps the secret; other fields are sent when they changed.
        if (f.input === "secret" ? value === "" : value === f.current(cfg)) continue;
        lines.push(f.line(value));
        labels.push(f.label);
      }
      if (lines.length === 0) return flashRedirect(c, "/settings", "ok", `${group.title}: nothing changed`);
      const r = await control.configure(lines);
      return flashRedirect(c, "/settings", "ok", applied(r, `${group.title} settings applied`));
    } catch (err) {
      const text = scrubSecret(explain(err, labels), secret);
      return settingsPage(c, { group: group.id, text }, { group: group.id, values: typed }, asTandemError(err).httpStatus);
    }
  });
}
