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
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import type { ControlApi } from "../agent/control/types.ts";
import { asTandemError } from "../agent/errors.ts";
import type { EventLog } from "../agent/events.ts";
import type { MetricsRegistry } from "../agent/metrics/registry.ts";
import { AdminStore } from "./admin.ts";
import { isApi, type WebDeps, type WebEnv } from "./context.ts";
import { StatusHistory } from "./history.ts";
import { defaultWebLimits, type WebLimits } from "./limits.ts";
import { ErrorPage } from "./pages/auth.tsx";
import { LoginLimiter } from "./ratelimit.ts";
import { registerAccessRoutes } from "./routes/access.ts";
import { registerApiRoutes } from "./routes/api.ts";
import { registerPageRoutes } from "./routes/pages.ts";
import { randomToken, SessionStore } from "./sessions.ts";

export { isLoopback, type WebBindings } from "./context.ts";

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
  /** Where the UI's own counters go (tandem_web_*). */
  metrics?: MetricsRegistry;
  /** Dashboard history; by default one sampled when pages are requested. */
  history?: StatusHistory;
  now?: () => number;
}

/** Sessions and the login limiter outlive one server instance (restart of the web
 *  service within the process keeps operators logged in), one set per data directory. */
const sharedState = new Map<string, { sessions: SessionStore; limiter: LoginLimiter }>();

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
  const https = options.https === true;
  const sessions = shared.sessions;
  const m = options.metrics;
  m?.gauge("tandem_web_sessions", "Admin sessions of the web UI currently open", () => sessions.size());
  const counters = {
    loginFailures: m?.counter("tandem_web_login_failures_total", "Failed web UI logins and password-change checks"),
    logins: m?.counter("tandem_web_logins_total", "Successful web UI logins"),
    refused: m?.counter("tandem_web_requests_refused_total", "Web UI requests refused for a missing session or CSRF token"),
  };
  const log: WebDeps["log"] = (severity, message, alarm) => {
    if (options.events) options.events.emit(severity, "web", message, alarm);
    else process.stderr.write(`web: ${message}\n`);
  };
  const deps: WebDeps = {
    control, limits, admin, https, log,
    sessions,
    count: (what) => counters[what]?.inc(),
    limiter: shared.limiter,
    history: options.history ?? new StatusHistory(control, limits.historySampleMs, limits.historySamplesMax, now),
    lazyHistory: !options.history,
    sessionCookie: https ? "__Host-tandem_sid" : "tandem_sid",
    firstBoot: { token: null },
  };
  if (!admin.isSet()) {
    deps.firstBoot.token = randomToken(18);
    log("notice", `first boot: no admin password is set; set it from loopback, or open ${options.publicUrl ?? ""}/first-boot?token=${deps.firstBoot.token}`, "web_first_boot");
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

  // Order matters: the access routes end with the session guard the others sit behind.
  registerAccessRoutes(app, deps);
  registerPageRoutes(app, deps);
  registerApiRoutes(app, deps);
  return app;
}
