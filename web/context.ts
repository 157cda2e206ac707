// What the route modules of the web app share: the Hono environment type, the
// dependencies built once by createWebApp (control API, limits, admin credential,
// sessions, login limiter, history, log), and small request helpers.
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { ControlApi } from "../agent/control/types.ts";
import { asTandemError, TandemError } from "../agent/errors.ts";
import type { AdminStore } from "./admin.ts";
import type { StatusHistory } from "./history.ts";
import type { WebLimits } from "./limits.ts";
import type { LoginLimiter } from "./ratelimit.ts";
import type { Session, SessionStore } from "./sessions.ts";
import { buildStatus, type StatusView } from "./status.ts";

/** Per-request values the server passes in (`app.fetch(req, { clientIp })`). */
export interface WebBindings {
  clientIp?: string;
}

export type WebEnv = { Bindings: WebBindings; Variables: { session: Session } };
export type Ctx = Context<WebEnv>;

export interface WebDeps {
  control: ControlApi;
  limits: WebLimits;
  admin: AdminStore;
  sessions: SessionStore;
  limiter: LoginLimiter;
  history: StatusHistory;
  /** No sampler runs: sample when a status is asked for. */
  lazyHistory: boolean;
  https: boolean;
  sessionCookie: string;
  /** The one-time first-boot token; null once the admin password is set. */
  firstBoot: { token: string | null };
  log(severity: "warning" | "notice" | "info", message: string, alarm?: string): void;
  /** Counts an access outcome in the tandem_web_* metrics. */
  count(what: "loginFailures" | "logins" | "refused"): void;
}

export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  return ip.startsWith("127.") || ip === "::1" || ip.startsWith("::ffff:127.");
}

/** The request came from this machine and was addressed to an IP literal or localhost.
 *  The second half defeats DNS rebinding: a hostile page whose name was re-pointed at
 *  127.0.0.1 sends its own host name, so it never gets the loopback exemptions. */
export function isLocalRequest(c: Ctx): boolean {
  if (!isLoopback(c.env?.clientIp)) return false;
  // The request URL carries the Host header the browser sent (Bun builds it from that).
  const name = new URL(c.req.url).hostname.toLowerCase();
  return name === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || /^\[[0-9a-f:.]+\]$/.test(name);
}

export const clientOf = (c: Ctx): string => c.env?.clientIp ?? "unknown";
export const isApi = (c: Ctx): boolean => c.req.path.startsWith("/api/");

export const html = (c: Ctx, node: Child, status = 200) => c.html(node as unknown as string, status as 200);

export const controlChars = /[\u0000-\u001f\u007f]/;

/** A trimmed text field of a parsed form; control characters (a second config line) are refused. */
export function field(body: Record<string, unknown>, name: string, label: string): string {
  const v = body[name];
  if (v === undefined) return "";
  if (typeof v !== "string") throw new TandemError("badInput", `${label}: expected text`);
  if (controlChars.test(v)) throw new TandemError("badInput", `${label}: control characters are not allowed`);
  return v.trim();
}

/** Replaces configure's "line N: " with the form field that produced line N. */
export function explain(err: unknown, labels: string[]): string {
  const e = asTandemError(err);
  const m = /^line (\d+): (.*)$/s.exec(e.message);
  if (m) return `${labels[Number(m[1]) - 1] ?? `line ${m[1]}`}: ${m[2]}`;
  return labels.length === 1 && e.code === "badConfig" ? `${labels[0]}: ${e.message}` : e.message;
}

/** configure's messages quote the word they stumble on; a secret's words become ********. */
export function scrubSecret(message: string, secret: string): string {
  let out = message;
  for (const word of secret.split(/\s+/)) if (word !== "") out = out.replaceAll(`'${word}'`, "'********'");
  return out;
}

/** What is wrong with a new admin password, or null (first boot and password change). */
export function passwordProblem(password: string, confirm: string, limits: WebLimits): string | null {
  const chars = [...password].length;
  if (chars < limits.passwordCharsMin) return `The password needs at least ${limits.passwordCharsMin} characters`;
  if (chars > limits.passwordCharsMax) return `The password may have at most ${limits.passwordCharsMax} characters`;
  if (password !== confirm) return "The two passwords differ";
  return null;
}

/** Only paths on this server are followed after login or an action (no open redirect). */
export const safeNext = (next: unknown): string =>
  typeof next === "string" && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) && !next.startsWith("/login") ? next : "/";

/** The status view for this request (`?historyAfterMs=&eventsAfterId=` give increments). */
export function statusFor(c: Ctx, deps: WebDeps): StatusView {
  if (deps.lazyHistory) deps.history.sampleIfDue();
  const n = (name: string) => {
    const v = c.req.query(name);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  return buildStatus(deps.control, deps.history, { historyAfterMs: n("historyAfterMs"), eventsAfterId: n("eventsAfterId"), eventsMax: deps.limits.eventsPageMax });
}
