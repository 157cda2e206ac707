// The web UI as a Hono app, testable without a socket (app.request) and served by
// web/server.ts. It adds no appliance logic: every read and change goes through the
// control API, configuration changes as console-grammar lines to control.configure()
// so validation stays in one place. What it owns is access: first boot (no default
// password), login with rate limiting, sessions, CSRF tokens and security headers.
//
// Access rules:
//   * no admin password yet: only /first-boot (from loopback, or with the one-time
//     token printed to the agent log), /static/* and loopback /metrics answer; other
//     pages redirect to /first-boot and the API answers 401;
//   * otherwise every page and API needs a session (pages redirect to /login, the API
//     and /metrics from the network answer 401), and every POST needs the session's
//     CSRF token (form field `_csrf` or header `X-CSRF-Token`), else 403;
//   * /metrics: Prometheus text for loopback clients without a session (a local
//     scraper or an SSH tunnel), for everyone else only with a session.
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { secureHeaders } from "hono/secure-headers";
import type { Child } from "hono/jsx";
import type { ControlApi } from "../agent/control/types.ts";
import { asTandemError, TandemError } from "../agent/errors.ts";
import type { EventLog } from "../agent/events.ts";
import { AdminStore, adminUsername } from "./admin.ts";
import { clientScript } from "./assets/client.ts";
import { styleCss } from "./assets/style.ts";
import { StatusHistory } from "./history.ts";
import { defaultWebLimits, type WebLimits } from "./limits.ts";
import { LoginLimiter } from "./ratelimit.ts";
import { randomToken, sameSecret, SessionStore, type Session } from "./sessions.ts";
import { buildStatus } from "./status.ts";
import { ErrorPage, FirstBootPage, FirstBootRefusedPage, LoginPage } from "./pages/auth.tsx";
import { Dashboard } from "./pages/dashboard.tsx";
import { Page } from "./pages/layout.tsx";
import { AlarmsPage, ConfigPage, ConnectionsPage, DatastorePage } from "./pages/lists.tsx";
import { emptyRuleForm, RulesPage, syncFormValues, SyncPage, type RuleFormValues, type SyncFormValues } from "./pages/settings.tsx";

export interface WebAppOptions {
  control: ControlApi;
  dataDir: string;
  /** Where the first-boot token and login events go (agent log and console `show log`). */
  events?: EventLog;
  /** Served over HTTPS: cookies get Secure (and the __Host- prefix) and HSTS is sent. */
  https?: boolean;
  /** The address operators reach the UI at, used in the printed first-boot link. */
  publicUrl?: string;
  limits?: Partial<WebLimits>;
  /** Dashboard history; by default one sampled when pages are requested. */
  history?: StatusHistory;
  now?: () => number;
}

/** Per-request values the server passes in (`app.fetch(req, { clientIp })`). */
export interface WebBindings {
  clientIp?: string;
}

type WebEnv = { Bindings: WebBindings; Variables: { session: Session } };
type Ctx = Context<WebEnv>;

const preCookie = "tandem_pre";
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#14202e"/><path d="M3 5h10M8 5v8" stroke="#4aa3df" stroke-width="2.2" fill="none"/></svg>`;

export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  return ip.startsWith("127.") || ip === "::1" || ip.startsWith("::ffff:127.");
}

/** Sessions and the login limiter outlive one server instance (restart of the web
 *  service within the process keeps operators logged in), one set per data directory. */
const sharedState = new Map<string, { sessions: SessionStore; limiter: LoginLimiter }>();

const controlChars = /[\u0000-\u001f\u007f]/;

function field(body: Record<string, unknown>, name: string, label: string): string {
  const v = body[name];
  if (v === undefined) return "";
  if (typeof v !== "string") throw new TandemError("badInput", `${label}: expected text`);
  if (controlChars.test(v)) throw new TandemError("badInput", `${label}: control characters are not allowed`);
  return v.trim();
}

/** Replaces configure's "line N: " with the form field that produced line N. */
function explain(err: unknown, labels: string[]): string {
  const e = asTandemError(err);
  const m = /^line (\d+): (.*)$/s.exec(e.message);
  if (m) return `${labels[Number(m[1]) - 1] ?? `line ${m[1]}`}: ${m[2]}`;
  return labels.length === 1 && e.code === "badConfig" ? `${labels[0]}: ${e.message}` : e.message;
}

export function createWebApp(options: WebAppOptions): Hono<WebEnv> {
  const limits: WebLimits = { ...defaultWebLimits, ...options.limits };
  const now = options.now ?? Date.now;
  const { control } = options;
  const admin = new AdminStore(options.dataDir);
  let shared = sharedState.get(options.dataDir);
  if (!shared || options.limits || options.now) {
    shared = { sessions: new SessionStore(limits, now), limiter: new LoginLimiter(limits, now) };
    sharedState.set(options.dataDir, shared);
  }
  const { sessions, limiter } = shared;
  const history = options.history ?? new StatusHistory(control, limits.historySampleMs, limits.historySamplesMax, now);
  const lazyHistory = !options.history;
  const https = options.https === true;
  const sessionCookie = https ? "__Host-tandem_sid" : "tandem_sid";
  const log = (severity: "warning" | "notice" | "info", message: string, alarm?: string) => {
    if (options.events) options.events.emit(severity, "web", message, alarm);
    else process.stderr.write(`web: ${message}\n`);
  };

  let firstBootToken: string | null = null;
  if (!admin.isSet()) {
    firstBootToken = randomToken(18);
    const base = options.publicUrl ?? "";
    log("notice", `first boot: no admin password is set; set it from loopback, or open ${base}/first-boot?token=${firstBootToken}`, "web_first_boot");
  }

  const app = new Hono<WebEnv>();

  app.use(
    "*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
      strictTransportSecurity: https ? "max-age=31536000" : false,
      referrerPolicy: "same-origin",
    }),
  );
  app.use("*", async (c, next) => {
    await next();
    if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: limits.requestBytesMax,
      onError: (c) => c.json({ code: "limitExceeded", message: `request body over ${limits.requestBytesMax} bytes` }, 413),
    }),
  );

  const isApi = (c: Ctx) => c.req.path.startsWith("/api/");
  const client = (c: Ctx) => c.env?.clientIp ?? "unknown";

  app.onError((err, c) => {
    const e = asTandemError(err);
    if (e.code === "internal") log("warning", `${c.req.method} ${c.req.path}: ${e.message}`);
    const status = e.httpStatus as 400;
    if (isApi(c) || c.req.path === "/metrics") return c.json({ code: e.code, message: e.message }, status);
    return c.html(ErrorPage({ status, message: e.message }) as unknown as string, status);
  });
  app.notFound((c) => {
    if (isApi(c)) return c.json({ code: "notFound", message: `no such API: ${c.req.method} ${c.req.path}` }, 404);
    return c.html(ErrorPage({ status: 404, message: `No page at ${c.req.path}` }) as unknown as string, 404);
  });

  // --- static assets (no secrets; the login page needs them) ---
  const script = clientScript();
  app.get("/static/app.js", (c) => c.body(script, 200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache" }));
  app.get("/static/style.css", (c) => c.body(styleCss, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "no-cache" }));
  app.get("/static/favicon.svg", (c) => c.body(favicon, 200, { "Content-Type": "image/svg+xml", "Cache-Control": "no-cache" }));

  const currentSession = (c: Ctx): Session | null => sessions.get(getCookie(c, sessionCookie));

  // --- pre-session CSRF (login and first boot): double-submit cookie ---
  const preToken = (c: Ctx): string => {
    let token = getCookie(c, preCookie);
    if (!token || token.length < 16 || token.length > 64) {
      token = randomToken(18);
      setCookie(c, preCookie, token, { httpOnly: true, sameSite: "Strict", path: "/", secure: https });
    }
    return token;
  };
  const checkPreToken = (c: Ctx, body: Record<string, unknown>) => {
    const cookie = getCookie(c, preCookie);
    const sent = body._csrf;
    if (!cookie || typeof sent !== "string" || !sameSecret(cookie, sent)) {
      throw new TandemError("forbidden", "The form expired or was not sent from this page (CSRF check failed); reload and try again");
    }
  };

  const html = (c: Ctx, node: Child, status = 200) => c.html(node as unknown as string, status as 200);

  // --- /metrics ---
  app.get("/metrics", (c) => {
    if (!isLoopback(c.env?.clientIp) && !currentSession(c)) {
      throw new TandemError("unauthorized", "/metrics needs a session unless scraped from loopback");
    }
    return c.body(control.metricsText(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  // --- first boot ---
  const firstBootAllowed = (c: Ctx, token: unknown): boolean => {
    if (isLoopback(c.env?.clientIp)) return true;
    return typeof token === "string" && firstBootToken !== null && sameSecret(token, firstBootToken);
  };
  const refuseFirstBoot = (c: Ctx, token: unknown) => {
    if (typeof token === "string" && token !== "") {
      limiter.fail(client(c));
      log("warning", `first boot: wrong one-time token from ${client(c)}`);
    }
    return html(c, FirstBootRefusedPage(), 403);
  };
  const rateLimited = (c: Ctx, retryS: number) => {
    c.header("Retry-After", String(retryS));
    return `Too many failed attempts from this address; try again in ${retryS} s`;
  };

  app.get("/first-boot", (c) => {
    if (admin.isSet()) return c.redirect("/login", 303);
    const token = c.req.query("token");
    const retryS = limiter.retryAfterS(client(c));
    if (retryS > 0) return html(c, ErrorPage({ status: 429, message: rateLimited(c, retryS) }), 429);
    if (!firstBootAllowed(c, token)) return refuseFirstBoot(c, token);
    return html(c, FirstBootPage({ csrf: preToken(c), token: token ?? null, passwordCharsMin: limits.passwordCharsMin, username: adminUsername }));
  });

  let settingPassword = false;
  app.post("/first-boot", async (c) => {
    if (admin.isSet()) return c.redirect("/login", 303);
    const body = await c.req.parseBody();
    const retryS = limiter.retryAfterS(client(c));
    if (retryS > 0) return html(c, ErrorPage({ status: 429, message: rateLimited(c, retryS) }), 429);
    if (!firstBootAllowed(c, body.token)) return refuseFirstBoot(c, body.token);
    checkPreToken(c, body);
    const password = typeof body.password === "string" ? body.password : "";
    const confirm = typeof body.confirm === "string" ? body.confirm : "";
    const again = (error: string) =>
      html(c, FirstBootPage({ csrf: preToken(c), token: typeof body.token === "string" ? body.token : null, error, passwordCharsMin: limits.passwordCharsMin, username: adminUsername }), 400);
    if ([...password].length < limits.passwordCharsMin) return again(`The password needs at least ${limits.passwordCharsMin} characters`);
    if ([...password].length > limits.passwordCharsMax) return again(`The password may have at most ${limits.passwordCharsMax} characters`);
    if (password !== confirm) return again("The two passwords differ");
    if (settingPassword) return again("The password is being set from another browser; reload in a moment");
    settingPassword = true;
    try {
      await admin.setPassword(adminUsername, password);
    } finally {
      settingPassword = false;
    }
    firstBootToken = null;
    log("notice", `admin password set from ${client(c)}`);
    const session = sessions.create(adminUsername);
    session.flash = { kind: "ok", text: "Admin password set. You are logged in." };
    setCookie(c, sessionCookie, session.id, { httpOnly: true, sameSite: "Strict", path: "/", secure: https });
    return c.redirect("/", 303);
  });

  // --- login / logout ---
  const safeNext = (next: unknown) => (typeof next === "string" && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) && !next.startsWith("/login") ? next : "/");

  app.get("/login", (c) => {
    if (!admin.isSet()) return c.redirect("/first-boot", 303);
    if (currentSession(c)) return c.redirect("/", 303);
    const next = c.req.query("next");
    const notice = c.req.query("bye") !== undefined ? "You are logged out." : null;
    return html(c, LoginPage({ csrf: preToken(c), next: next ? safeNext(next) : undefined, notice }));
  });

  app.post("/login", async (c) => {
    if (!admin.isSet()) return c.redirect("/first-boot", 303);
    const body = await c.req.parseBody();
    const who = client(c);
    const username = typeof body.username === "string" ? body.username.slice(0, 64) : "";
    const page = (error: string, status: number) =>
      html(c, LoginPage({ csrf: preToken(c), error, username, next: typeof body.next === "string" ? safeNext(body.next) : undefined }), status);
    const retryS = limiter.retryAfterS(who);
    if (retryS > 0) return page(rateLimited(c, retryS), 429);
    try {
      checkPreToken(c, body);
    } catch (err) {
      return page(asTandemError(err).message, 403);
    }
    const password = typeof body.password === "string" ? body.password.slice(0, limits.passwordCharsMax * 4) : "";
    if (!(await admin.verify(username, password))) {
      limiter.fail(who);
      const limited = limiter.retryAfterS(who) > 0;
      log("warning", `failed admin login from ${who}${limited ? "; further attempts refused for a while" : ""}`, limited ? "login_rate_limited" : undefined);
      return page("Wrong user name or password", 401);
    }
    limiter.succeed(who);
    const session = sessions.create(username);
    setCookie(c, sessionCookie, session.id, { httpOnly: true, sameSite: "Strict", path: "/", secure: https });
    log("info", `admin logged in from ${who}`);
    return c.redirect(safeNext(body.next), 303);
  });

  // --- everything below needs a session ---
  app.use("*", async (c, next) => {
    if (!admin.isSet()) {
      if (isApi(c)) return c.json({ code: "unauthorized", message: "no admin password is set yet (first boot)" }, 401);
      return c.redirect("/first-boot", 303);
    }
    const session = currentSession(c);
    if (!session) {
      if (isApi(c)) return c.json({ code: "unauthorized", message: "log in first" }, 401);
      if (c.req.method !== "GET" && c.req.method !== "HEAD") return html(c, ErrorPage({ status: 401, message: "Your session ended; log in again." }), 401);
      const target = c.req.path + (new URL(c.req.url).search || "");
      return c.redirect(`/login?next=${encodeURIComponent(target)}`, 303);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      let sent = c.req.header("x-csrf-token");
      if (!sent && (c.req.header("content-type") ?? "").match(/^(application\/x-www-form-urlencoded|multipart\/form-data)/)) {
        const body = await c.req.parseBody();
        sent = typeof body._csrf === "string" ? body._csrf : undefined;
      }
      if (!sent || !sameSecret(sent, session.csrf)) {
        log("warning", `refused ${c.req.method} ${c.req.path} from ${client(c)}: missing or wrong CSRF token`);
        throw new TandemError("forbidden", "CSRF token missing or wrong; reload the page and try again");
      }
    }
    c.set("session", session);
    await next();
  });

  const status = (c: Ctx) => {
    if (lazyHistory) history.sampleIfDue();
    const n = (name: string) => {
      const v = c.req.query(name);
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    return buildStatus(control, history, { historyAfterMs: n("historyAfterMs"), eventsAfterId: n("eventsAfterId"), eventsMax: limits.eventsPageMax });
  };

  const frame = (c: Ctx, title: string, active: string, live = true) => {
    const session = c.get("session");
    const flash = session.flash;
    session.flash = null;
    const events = control.events(0, 1);
    return { title, active, hostname: control.version().hostname, csrf: session.csrf, flash, limits, lastEventId: events[events.length - 1]?.id ?? 0, live };
  };
  const flashRedirect = (c: Ctx, to: string, kind: "ok" | "error", text: string) => {
    c.get("session").flash = { kind, text };
    return c.redirect(to, 303);
  };
  const applied = (r: { notes: string[]; restartRequired?: string }, what: string) =>
    [what, ...r.notes].join("; ") + (r.restartRequired ? `. Restart required: ${r.restartRequired}` : "");

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
    try {
      v.peerIp = field(body, "peerIp", "Peer IP address");
      v.port = field(body, "port", "Port");
      v.mode = field(body, "mode", "Mode");
      v.reconnectS = field(body, "reconnectS", "Reconnect");
      v.checkIntervalS = field(body, "checkIntervalS", "Check interval");
      const secret = field(body, "secret", "Pairing secret");
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
      return syncPage(c, v, explain(err, labels), asTandemError(err).httpStatus);
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
  app.get("/alarms", (c) => html(c, Page({ ...frame(c, "Alarms & log", "/alarms"), children: AlarmsPage({ events: control.events(0, limits.eventsPageMax) }) })));
  app.get("/config", (c) => html(c, Page({ ...frame(c, "Configuration", "/config"), children: ConfigPage({ runningConfig: control.runningConfig(), version: control.version() }) })));

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
  app.post("/logout", (c) => {
    sessions.destroy(c.get("session").id);
    deleteCookie(c, sessionCookie, { path: "/", secure: https });
    log("info", `admin logged out from ${client(c)}`);
    return c.redirect("/login?bye", 303);
  });

  // --- JSON API (same session and CSRF rules) ---
  app.get("/api/status", (c) => c.json(status(c)));
  app.get("/api/connections", (c) => c.json(control.connections()));
  app.get("/api/events", (c) => {
    const after = Number(c.req.query("afterId") ?? "0");
    return c.json(control.events(Number.isFinite(after) ? after : 0, limits.eventsPageMax));
  });
  app.get("/api/config", (c) => c.json({ config: control.config(), runningConfig: control.runningConfig() }));
  app.get("/api/services", (c) => c.json(control.services()));
  app.post("/api/configure", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new TandemError("badInput", "expected a JSON body {\"lines\": [\"...\"]}");
    }
    const lines = (body as { lines?: unknown } | null)?.lines;
    if (!Array.isArray(lines) || !lines.every((l) => typeof l === "string" && !controlChars.test(l))) {
      throw new TandemError("badInput", "lines: expected an array of single-line strings");
    }
    if (lines.length > limits.configureLinesMax) throw new TandemError("limitExceeded", `at most ${limits.configureLinesMax} lines per call`);
    return c.json(await control.configure(lines));
  });
  app.post("/api/write-memory", async (c) => c.json(await control.writeMemory()));
  app.post("/api/restart", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { clean?: unknown };
    await control.restart({ clean: body?.clean === true });
    return c.json({ ok: true });
  });
  app.post("/api/sync/check", async (c) => c.json(await control.syncCheck()));

  return app;
}
