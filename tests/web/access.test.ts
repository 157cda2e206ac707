// Access rules of the web app that a loopback browser cannot show, through app.request
// with the client address the server would pass: first boot from the network needs
// the one-time token from the agent log (and wrong tokens are rate limited), /metrics
// from the network needs a session, sessions expire, the login limiter's window ends,
// the pre-session CSRF check, open redirects, the body bound and HTTPS cookie flags.
// The control API is the real one of an in-process appliance with a real LMDB store.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Appliance } from "../../agent/appliance.ts";
import { defaultConfig, cloneConfig } from "../../agent/config/types.ts";
import { readApplianceVersion } from "../../agent/version.ts";
import { createWebApp } from "../../web/app.ts";
import { defaultWebLimits } from "../../web/limits.ts";

const remote = { clientIp: "10.20.30.40" };
const local = { clientIp: "127.0.0.1" };
const password = "access password";

let dir: string;
let appliance: Appliance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tandem-web-access-"));
  appliance = new Appliance(readApplianceVersion(), dir, join(dir, "tandem.conf"), cloneConfig(defaultConfig));
  await appliance.openStore();
});

afterAll(async () => {
  await appliance?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** A minimal cookie jar: what a browser would send back. */
class Client {
  cookies = new Map<string, string>();
  constructor(readonly app: ReturnType<typeof createWebApp>, readonly env: { clientIp: string }, readonly base = "http://127.0.8.1:8080") {}
  async req(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await this.app.request(this.base + path, { ...init, headers, redirect: "manual" }, this.env);
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const [k, v] = pair!.split("=");
      if (/max-age=0/i.test(c) || v === "") this.cookies.delete(k!);
      else this.cookies.set(k!, v!);
    }
    return res;
  }
  form(path: string, fields: Record<string, string>): Promise<Response> {
    return this.req(path, { method: "POST", body: new URLSearchParams(fields) });
  }
  pre(): string {
    return this.cookies.get("tandem_pre") ?? "";
  }
}

function freshApp(dataDir: string, extra: Partial<Parameters<typeof createWebApp>[0]> = {}) {
  return createWebApp({ control: appliance.control, dataDir, events: appliance.events, limits: { loginFailuresPerClientMax: 3, loginWindowMs: 60_000 }, ...extra });
}

function tokenFromLog(): string {
  const events = appliance.events.recent(1000).filter((e) => e.alarm === "web_first_boot");
  const m = /first-boot\?token=([A-Za-z0-9_-]+)/.exec(events[events.length - 1]?.message ?? "");
  if (!m) throw new Error("no first-boot token in the event log");
  return m[1]!;
}

describe("first boot from the network", () => {
  test("needs the one-time token from the log; wrong tokens are refused and rate limited", async () => {
    const dataDir = mkdtempSync(join(dir, "fb-"));
    const app = freshApp(dataDir, { publicUrl: "http://10.0.0.1:8080" });
    const token = tokenFromLog();
    expect(appliance.events.recent(1000).some((e) => e.message.includes(`http://10.0.0.1:8080/first-boot?token=${token}`))).toBe(true);
    const c = new Client(app, remote);

    expect((await c.req("/first-boot")).status).toBe(403);
    for (let i = 0; i < 3; i++) expect((await c.req("/first-boot?token=wrong" + i)).status).toBe(403);
    // The limiter now refuses this address, even with the right token.
    const limited = await c.req(`/first-boot?token=${token}`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);

    // Another address with the right token gets the form and can set the password.
    const d = new Client(app, { clientIp: "10.20.30.41" });
    const page = await d.req(`/first-boot?token=${token}`);
    expect(page.status).toBe(200);
    // A POST without the token is refused even with a valid form.
    expect((await d.form("/first-boot", { _csrf: d.pre(), password, confirm: password })).status).toBe(403);
    const set = await d.form("/first-boot", { _csrf: d.pre(), token, password, confirm: password });
    expect(set.status).toBe(303);
    expect(set.headers.get("location")).toBe("/");
    expect((await d.req("/api/status")).status).toBe(200);
    // Used up: the token no longer opens anything.
    expect((await new Client(app, { clientIp: "10.20.30.42" }).req(`/first-boot?token=${token}`)).headers.get("location")).toBe("/login");
  });

  test("a rebinding page (loopback client, foreign host name) gets no loopback exemption", async () => {
    const dataDir = mkdtempSync(join(dir, "fb-"));
    const app = freshApp(dataDir);
    const rebound = new Client(app, local, "http://evil.example:8080");
    expect((await rebound.req("/first-boot")).status).toBe(403);
    expect((await rebound.req("/metrics")).status).toBe(401);
    for (const base of ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"]) {
      expect((await new Client(app, local, base).req("/first-boot")).status).toBe(200);
    }
  });

  test("from loopback no token is needed; the pre-session CSRF cookie is", async () => {
    const dataDir = mkdtempSync(join(dir, "fb-"));
    const app = freshApp(dataDir);
    const c = new Client(app, local);
    expect((await c.req("/first-boot")).status).toBe(200);
    expect((await c.form("/first-boot", { _csrf: "forged", password, confirm: password })).status).toBe(403);
    expect((await c.form("/first-boot", { _csrf: c.pre(), password, confirm: password })).status).toBe(303);
  });
});

describe("with a password", () => {
  let dataDir: string;
  let now = 1_000_000;
  let app: ReturnType<typeof createWebApp>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(dir, "pw-"));
    const first = freshApp(dataDir);
    const c = new Client(first, local);
    await c.req("/first-boot");
    await c.form("/first-boot", { _csrf: c.pre(), password, confirm: password });
    app = freshApp(dataDir, { now: () => now, limits: { loginFailuresPerClientMax: 3, loginWindowMs: 60_000, sessionIdleMs: 600_000 } });
  });

  const loginAs = async (env: { clientIp: string }, pw = password, extra: Record<string, string> = {}) => {
    const c = new Client(app, env);
    await c.req("/login");
    const res = await c.form("/login", { _csrf: c.pre(), username: "admin", password: pw, ...extra });
    return { c, res };
  };

  test("/metrics: loopback without a session, the network only with one", async () => {
    const anon = new Client(app, remote);
    const refused = await anon.req("/metrics");
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain("tandem_appliance");
    const fromLoopback = await new Client(app, local).req("/metrics");
    expect(fromLoopback.status).toBe(200);
    expect(fromLoopback.headers.get("content-type")).toContain("text/plain");
    expect(await fromLoopback.text()).toContain("tandem_appliance_uptime_seconds");
    const { c } = await loginAs(remote);
    expect((await c.req("/metrics")).status).toBe(200);
  });

  test("a login form without the pre-session CSRF cookie is refused and not counted", async () => {
    const c = new Client(app, { clientIp: "10.9.9.9" });
    for (let i = 0; i < 4; i++) expect((await c.form("/login", { _csrf: "x", username: "admin", password })).status).toBe(403);
    const { res } = await loginAs({ clientIp: "10.9.9.9" });
    expect(res.status).toBe(303);
  });

  test("only local paths are followed after login", async () => {
    for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
      const { res } = await loginAs({ clientIp: "10.1.1.1" }, password, { next });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/");
    }
    const { res } = await loginAs({ clientIp: "10.1.1.1" }, password, { next: "/alarms" });
    expect(res.headers.get("location")).toBe("/alarms");
  });

  test("sessions end after the idle time", async () => {
    const { c } = await loginAs({ clientIp: "10.1.1.2" });
    expect((await c.req("/api/status")).status).toBe(200);
    now += 599_000;
    expect((await c.req("/api/status")).status).toBe(200); // use keeps it alive
    now += 600_001;
    expect((await c.req("/api/status")).status).toBe(401);
    expect((await c.req("/")).headers.get("location")).toBe("/login?next=%2F");
  });

  test("the login limiter lets the client try again once the window has passed", async () => {
    const env = { clientIp: "10.1.1.3" };
    for (let i = 0; i < 3; i++) expect((await loginAs(env, "wrong")).res.status).toBe(401);
    expect((await loginAs(env)).res.status).toBe(429);
    // Other clients are not locked out by one client's failures.
    expect((await loginAs({ clientIp: "10.1.1.4" })).res.status).toBe(303);
    now += 60_001;
    expect((await loginAs(env)).res.status).toBe(303);
    expect(appliance.events.recent(1000).some((e) => e.alarm === "login_rate_limited")).toBe(true);
  });

  test("parallel guesses cannot slip past the bound while the hash runs", async () => {
    const env = { clientIp: "10.1.1.6" };
    const results = await Promise.all(Array.from({ length: 8 }, () => loginAs(env, "wrong")));
    const statuses = results.map((r) => r.res.status).sort();
    expect(statuses.filter((s) => s === 401).length).toBe(3);
    expect(statuses.filter((s) => s === 429).length).toBe(5);
  });

  test("request bodies over the bound are refused before they are parsed", async () => {
    const { c } = await loginAs({ clientIp: "10.1.1.5" });
    const page = await (await c.req("/")).text();
    const token = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
    const big = JSON.stringify({ lines: ["x".repeat(defaultWebLimits.requestBytesMax)] });
    const res = await c.req("/api/configure", { method: "POST", body: big, headers: { "content-type": "application/json", "x-csrf-token": token } });
    expect(res.status).toBe(413);
    const tooMany = await c.req("/api/configure", { method: "POST", body: JSON.stringify({ lines: new Array(defaultWebLimits.configureLinesMax + 1).fill("hostname a") }), headers: { "content-type": "application/json", "x-csrf-token": token } });
    expect(tooMany.status).toBe(413);
    const multi = await c.req("/api/configure", { method: "POST", body: JSON.stringify({ lines: ["hostname a\nweb port 1"] }), headers: { "content-type": "application/json", "x-csrf-token": token } });
    expect(multi.status).toBe(400);
  });

  test("on HTTPS the session cookie is Secure with the __Host- prefix and HSTS is sent", async () => {
    const secure = freshApp(dataDir, { https: true });
    const c = new Client(secure, local, "https://127.0.8.1:8443");
    await c.req("/login");
    const res = await c.form("/login", { _csrf: c.pre(), username: "admin", password });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((s) => s.startsWith("__Host-tandem_sid="))!;
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
  });
});

describe("admin file", () => {
  test("an unreadable admin file is an error, never a fall back to first boot", () => {
    const dataDir = mkdtempSync(join(dir, "bad-"));
    writeFileSync(join(dataDir, "web-admin.json"), "{not json");
    expect(() => freshApp(dataDir)).toThrow(/web-admin.json/);
  });
});
