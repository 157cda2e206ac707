// Access routes of the web app, registered before everything else: static assets,
// /metrics (loopback, or with a session), first boot (loopback or the one-time
// token), login with the rate limiter and the pre-session double-submit CSRF cookie,
// the guard that every later route sits behind (session, then CSRF token on every
// change), and logout.
import type { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { asTandemError, TandemError } from "../../agent/errors.ts";
import { adminUsername } from "../admin.ts";
import { clientScript } from "../assets/client.ts";
import { styleCss } from "../assets/style.ts";
import { clientOf, html, isApi, isLocalRequest, passwordProblem, safeNext, type Ctx, type WebDeps, type WebEnv } from "../context.ts";
import { ErrorPage, FirstBootPage, FirstBootRefusedPage, LoginPage } from "../pages/auth.tsx";
import { randomToken, sameSecret, type Session } from "../sessions.ts";

const preCookie = "tandem_pre";
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#14202e"/><path d="M3 5h10M8 5v8" stroke="#4aa3df" stroke-width="2.2" fill="none"/></svg>`;

export function registerAccessRoutes(app: Hono<WebEnv>, deps: WebDeps): void {
  const { control, limits, admin, sessions, limiter, https, sessionCookie, firstBoot, log, count } = deps;

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

  // --- /metrics ---
  app.get("/metrics", (c) => {
    if (!isLocalRequest(c) && !currentSession(c)) {
      throw new TandemError("unauthorized", "/metrics needs a session unless scraped from loopback");
    }
    return c.body(control.metricsText(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  // --- first boot ---
  const firstBootAllowed = (c: Ctx, token: unknown): boolean => {
    if (isLocalRequest(c)) return true;
    return typeof token === "string" && firstBoot.token !== null && sameSecret(token, firstBoot.token);
  };
  const refuseFirstBoot = (c: Ctx, token: unknown) => {
    if (typeof token === "string" && token !== "") {
      limiter.fail(clientOf(c));
      log("warning", `first boot: wrong one-time token from ${clientOf(c)}`);
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
    const retryS = limiter.retryAfterS(clientOf(c));
    if (retryS > 0) return html(c, ErrorPage({ status: 429, message: rateLimited(c, retryS) }), 429);
    if (!firstBootAllowed(c, token)) return refuseFirstBoot(c, token);
    return html(c, FirstBootPage({ csrf: preToken(c), token: token ?? null, passwordCharsMin: limits.passwordCharsMin, username: adminUsername }));
  });

  let settingPassword = false;
  app.post("/first-boot", async (c) => {
    if (admin.isSet()) return c.redirect("/login", 303);
    const body = await c.req.parseBody();
    const retryS = limiter.retryAfterS(clientOf(c));
    if (retryS > 0) return html(c, ErrorPage({ status: 429, message: rateLimited(c, retryS) }), 429);
    if (!firstBootAllowed(c, body.token)) return refuseFirstBoot(c, body.token);
    checkPreToken(c, body);
    const password = typeof body.password === "string" ? body.password : "";
    const confirm = typeof body.confirm === "string" ? body.confirm : "";
    const again = (error: string) =>
      html(c, FirstBootPage({ csrf: preToken(c), token: typeof body.token === "string" ? body.token : null, error, passwordCharsMin: limits.passwordCharsMin, username: adminUsername }), 400);
    const problem = passwordProblem(password, confirm, limits);
    if (problem) return again(problem);
    if (settingPassword) return again("The password is being set from another browser; reload in a moment");
    settingPassword = true;
    try {
      await admin.setPassword(adminUsername, password);
    } finally {
      settingPassword = false;
    }
    firstBoot.token = null;
    log("notice", `admin password set from ${clientOf(c)}`);
    const session = sessions.create(adminUsername);
    session.flash = { kind: "ok", text: "Admin password set. You are logged in." };
    setCookie(c, sessionCookie, session.id, { httpOnly: true, sameSite: "Strict", path: "/", secure: https });
    return c.redirect("/", 303);
  });

  // --- login / logout ---

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
    const who = clientOf(c);
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
    const attemptMs = limiter.attempt(who);
    if (!(await admin.verify(username, password))) {
      count("loginFailures");
      const limited = limiter.retryAfterS(who) > 0;
      log("warning", `failed admin login from ${who}${limited ? "; further attempts refused for a while" : ""}`, limited ? "login_rate_limited" : undefined);
      return page("Wrong user name or password", 401);
    }
    limiter.succeed(who, attemptMs);
    count("logins");
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
      count("refused");
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
        count("refused");
        log("warning", `refused ${c.req.method} ${c.req.path} from ${clientOf(c)}: missing or wrong CSRF token`);
        throw new TandemError("forbidden", "CSRF token missing or wrong; reload the page and try again");
      }
    }
    c.set("session", session);
    await next();
  });

  app.post("/logout", (c) => {
    sessions.destroy(c.get("session").id);
    deleteCookie(c, sessionCookie, { path: "/", secure: https });
    log("info", `admin logged out from ${clientOf(c)}`);
    return c.redirect("/login?bye", 303);
  });

  // Changing the password needs the current one (counted by the limiter when wrong)
  // and logs out every other session.
  app.post("/admin/password", async (c) => {
    const body = await c.req.parseBody();
    const who = clientOf(c);
    const session = c.get("session");
    const text = (name: string) => (typeof body[name] === "string" ? (body[name] as string) : "");
    const back = (kind: "ok" | "error", message: string) => {
      c.get("session").flash = { kind, text: message };
      return c.redirect("/config", 303);
    };
    const retryS = limiter.retryAfterS(who);
    if (retryS > 0) return back("error", `Too many failed attempts from this address; try again in ${retryS} s`);
    const attemptMs = limiter.attempt(who);
    if (!(await admin.verify(session.username, text("current").slice(0, limits.passwordCharsMax * 4)))) {
      count("loginFailures");
      log("warning", `wrong current password in a password change from ${who}`);
      return back("error", "The current password is wrong");
    }
    limiter.succeed(who, attemptMs);
    const problem = passwordProblem(text("password"), text("confirm"), limits);
    if (problem) return back("error", problem);
    await admin.setPassword(session.username, text("password"));
    sessions.destroyAll();
    const fresh = sessions.create(session.username);
    setCookie(c, sessionCookie, fresh.id, { httpOnly: true, sameSite: "Strict", path: "/", secure: https });
    log("notice", `admin password changed from ${who}; other sessions logged out`);
    fresh.flash = { kind: "ok", text: "Password changed; other sessions were logged out" };
    return c.redirect("/config", 303);
  });
}
