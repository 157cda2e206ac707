// Access control of the web UI in a real Chromium against a real `tandem start`:
// first boot (no default password), login and logout, wrong password and the login
// rate limit, requests without a session refused (401 / redirect), CSRF refused,
// cookie flags and the admin file on disk.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { launchBrowser, login, newContext, screenshot, setFirstPassword, startAgent, type Agent } from "./harness.ts";

const password = "correct horse battery";
let agent: Agent;
let browser: Browser;
let closeBrowser: () => Promise<void>;

const pages = ["/", "/sync", "/rules", "/connections", "/datastore", "/alarms", "/settings", "/config"];
const apis = ["/api/status", "/api/events", "/api/connections", "/api/config", "/api/services"];

beforeAll(async () => {
  [agent, { browser, close: closeBrowser }] = await Promise.all([startAgent({ name: "auth" }), launchBrowser()]);
}, 60_000);

afterAll(async () => {
  await closeBrowser?.();
  await agent?.stop();
});

describe("first boot", () => {
  test("before a password is set only the first-boot page answers", async () => {
    // The token is printed to the agent log for setting the password from the network.
    expect(agent.firstBootToken()).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    for (const path of [...pages, "/login"]) {
      const res = await fetch(agent.url + path, { redirect: "manual" });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/first-boot");
    }
    for (const path of apis) {
      const res = await fetch(agent.url + path);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe("unauthorized");
    }
    const configure = await fetch(agent.url + "/api/configure", { method: "POST", body: JSON.stringify({ lines: ["hostname evil"] }), headers: { "content-type": "application/json" } });
    expect(configure.status).toBe(401);
  }, 60_000);

  test("sets the admin password in the browser; too short and mismatched passwords are refused", async () => {
    const context = await newContext(browser, 1280);
    const page = await context.newPage();
    await page.goto(agent.url + "/");
    expect(new URL(page.url()).pathname).toBe("/first-boot");
    await screenshot(page, "first-boot-1280");

    // Bypass the browser's own minlength check: the server must refuse it too.
    await page.$$eval("input[minlength]", (els) => els.forEach((el) => el.removeAttribute("minlength")));
    await page.fill('input[name="password"]', "short");
    await page.fill('input[name="confirm"]', "short");
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    await expect(page.locator("[data-flash=error]").textContent()).resolves.toContain("at least 8 characters");

    await page.fill('input[name="password"]', password);
    await page.fill('input[name="confirm"]', password + "x");
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    await expect(page.locator("[data-flash=error]").textContent()).resolves.toContain("differ");
    expect(() => statSync(join(agent.dataDir, "web-admin.json"))).toThrow();

    await setFirstPassword(page, password);
    expect(new URL(page.url()).pathname).toBe("/");
    await expect(page.locator("[data-flash=ok]").textContent()).resolves.toContain("Admin password set");

    const file = join(agent.dataDir, "web-admin.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(password);
    const record = JSON.parse(text) as { username: string; passwordHash: string };
    expect(record.username).toBe("admin");
    expect(record.passwordHash.startsWith("$argon2id$")).toBe(true);

    // The session cookie is HttpOnly and SameSite=Strict (plain HTTP: not Secure).
    const cookies = await context.cookies(agent.url);
    const sid = cookies.find((c) => c.name === "tandem_sid");
    expect(sid?.httpOnly).toBe(true);
    expect(sid?.sameSite).toBe("Strict");

    // First boot is over: the page and the old token are gone.
    const again = await fetch(`${agent.url}/first-boot?token=${agent.firstBootToken()}`, { redirect: "manual" });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe("/login");
    await context.close();
  }, 60_000);
});

describe("with a password set", () => {
  test("requests without a session are refused: pages redirect to login, the API answers 401", async () => {
    for (const path of pages) {
      const res = await fetch(agent.url + path, { redirect: "manual" });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    for (const path of apis) expect((await fetch(agent.url + path)).status).toBe(401);
    for (const path of ["/save", "/restart", "/sync", "/rules/add", "/datastore/clear", "/settings/appliance", "/settings/optimization/clear", "/logout"]) {
      const res = await fetch(agent.url + path, { method: "POST", body: new URLSearchParams({ _csrf: "x" }), redirect: "manual" });
      expect(res.status).toBe(401);
    }
    for (const path of ["/api/configure", "/api/write-memory", "/api/restart", "/api/sync/check"]) {
      expect((await fetch(agent.url + path, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).status).toBe(401);
    }
    // A forged cookie is no session either.
    expect((await fetch(agent.url + "/api/status", { headers: { cookie: "tandem_sid=forged" } })).status).toBe(401);
    // Static assets carry no secrets and are served to the login page.
    expect((await fetch(agent.url + "/static/app.js")).status).toBe(200);
    // /metrics: loopback scrapers need no session (policy in web/README.md).
    const metrics = await fetch(agent.url + "/metrics");
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("tandem_");
  }, 60_000);

  test("security headers are set on every answer", async () => {
    const res = await fetch(agent.url + "/login");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
  }, 60_000);

  test("login, a wrong password rejected, logout", async () => {
    const context = await newContext(browser, 1280);
    const page = await context.newPage();
    await page.goto(agent.url + "/connections");
    expect(new URL(page.url()).pathname).toBe("/login");
    await screenshot(page, "login-1280");

    await page.fill('input[name="password"]', "not the password");
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    await expect(page.locator("[data-flash=error]").textContent()).resolves.toContain("Wrong user name or password");
    expect((await context.cookies(agent.url)).some((c) => c.name === "tandem_sid")).toBe(false);

    // The right password lands on the page that was asked for.
    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    expect(new URL(page.url()).pathname).toBe("/connections");
    const status = await page.request.get(agent.url + "/api/status");
    expect(status.status()).toBe(200);
    expect(((await status.json()) as { version: { hostname: string } }).version.hostname).toBe("auth");

    await Promise.all([page.waitForNavigation(), page.click('button:text("Log out")')]);
    expect(new URL(page.url()).pathname).toBe("/login");
    expect((await page.request.get(agent.url + "/api/status")).status()).toBe(401);
    await page.goto(agent.url + "/");
    expect(new URL(page.url()).pathname).toBe("/login");
    await context.close();
  }, 60_000);

  test("changes without the CSRF token are refused", async () => {
    const context = await newContext(browser, 1280);
    const page = await context.newPage();
    await login(page, agent.url, password);
    const token = await page.getAttribute('meta[name="csrf-token"]', "content");
    expect(token).toBeTruthy();
    const before = (await (await page.request.get(agent.url + "/api/config")).json()) as { runningConfig: string };

    const missing = await page.request.post(agent.url + "/api/configure", { data: { lines: ["hostname forged"] } });
    expect(missing.status()).toBe(403);
    expect(((await missing.json()) as { code: string }).code).toBe("forbidden");
    const wrong = await page.request.post(agent.url + "/api/configure", { data: { lines: ["hostname forged"] }, headers: { "x-csrf-token": token + "x" } });
    expect(wrong.status()).toBe(403);
    const form = await page.request.post(agent.url + "/sync", { form: { _csrf: "nope", enabled: "on", peerIp: "127.0.8.1" } });
    expect(form.status()).toBe(403);
    const after = (await (await page.request.get(agent.url + "/api/config")).json()) as { runningConfig: string };
    expect(after.runningConfig).toBe(before.runningConfig);

    // The same request with the session's token goes through (and validation is configure's).
    const ok = await page.request.post(agent.url + "/api/configure", { data: { lines: ["hostname authed"] }, headers: { "x-csrf-token": token! } });
    expect(ok.status()).toBe(200);
    const bad = await page.request.post(agent.url + "/api/configure", { data: { lines: ["hostname -bad name-"] }, headers: { "x-csrf-token": token! } });
    expect(bad.status()).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("badConfig");
    await page.request.post(agent.url + "/api/configure", { data: { lines: ["hostname auth"] }, headers: { "x-csrf-token": token! } });
    await context.close();
  }, 60_000);

  // Last: it locks this client out of logging in for the rest of the window.
  test("login attempts are rate limited, even with the right password afterwards", async () => {
    const context = await newContext(browser, 1280);
    const page = await context.newPage();
    await page.goto(agent.url + "/login");
    // The status of each submitted form is that of the navigation it causes (a page-wide
    // response listener raced Playwright's own bookkeeping of request objects once).
    const submit = async (guess: string): Promise<number | undefined> => {
      await page.fill('input[name="password"]', guess);
      const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
      return response?.status();
    };
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await submit(`guess ${i}`));
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(await submit(password)).toBe(429);
    await expect(page.locator("[data-flash=error]").textContent()).resolves.toContain("Too many failed attempts");
    expect((await context.cookies(agent.url)).some((c) => c.name === "tandem_sid")).toBe(false);
    await screenshot(page, "login-rate-limited-1280");
    expect(agent.stderr()).toContain("failed admin login");
    const metrics = await (await fetch(agent.url + "/metrics")).text();
    expect(Number(/^tandem_web_login_failures_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(6);
    expect(Number(/^tandem_web_requests_refused_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^tandem_web_sessions \d+$/m);
    await context.close();
  }, 60_000);
});
