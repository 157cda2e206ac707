// The pages of the web UI in a real Chromium against a real `tandem start`: every page
// at 1280 and 390 px (screenshots under test-artifacts/web/, no sideways scrolling on a
// phone), sync settings with configure's validation message, in-path rules added and
// removed, live alarms without reload, Save (write memory), Restart and clearing the
// data store with its confirmation.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { firstBootSession, login, newContext, screenshot, waitFor, type Agent } from "./harness.ts";

const password = "pages password 1";
let agent: Agent;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let page: Page;

const pages: [string, string][] = [
  ["/", "dashboard"], ["/sync", "sync"], ["/rules", "rules"], ["/connections", "connections"],
  ["/datastore", "datastore"], ["/alarms", "alarms"], ["/settings", "settings"], ["/config", "config"],
];

beforeAll(async () => {
  ({ agent, browser, closeBrowser, page } = await firstBootSession("pages", password));
}, 60_000);

afterAll(async () => {
  await closeBrowser?.();
  await agent?.stop();
});

const csrf = async () => (await page.getAttribute('meta[name="csrf-token"]', "content"))!;
const flash = (kind: "ok" | "error") => page.locator(`[data-flash=${kind}]`).first().textContent();
const submit = async (selector: string) => {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
};

describe("pages", () => {
  test("every page renders at 1280 and 390 px without sideways scrolling, live values filled in", async () => {
    const errors: string[] = [];
    const phone = await newContext(browser, 390);
    const phonePage = await phone.newPage();
    for (const p of [page, phonePage]) p.on("pageerror", (e) => errors.push(e.message));
    await login(phonePage, agent.url, password);
    for (const [width, p] of [[1280, page], [390, phonePage]] as const) {
      for (const [path, name] of pages) {
        await p.goto(agent.url + path);
        await p.waitForSelector("body[data-live-ok]", { timeout: 10_000 }).catch(() => undefined);
        expect(await p.textContent("h1")).toBeTruthy();
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect({ path, width, overflow }).toEqual({ path, width, overflow: 0 });
        await screenshot(p, `${name}-${width}`);
      }
    }
    // The script ran and polled (the dashboard marks a successful poll), with no script errors and nothing blocked by the CSP.
    await page.goto(agent.url + "/");
    await page.waitForSelector("body[data-live-ok]", { timeout: 10_000 });
    expect(errors).toEqual([]);
    expect(await page.locator("[data-testid=hostname]").textContent()).toBe("pages");
    expect(await page.locator("[data-chart=traffic] svg").count()).toBe(1);
    await phone.close();
  }, 60_000);

  test("data store sync settings go through configure; its validation message is shown and input kept", async () => {
    await page.goto(agent.url + "/sync");
    await page.check('input[name="enabled"]');
    await page.selectOption('select[name="role"]', "master");
    await page.fill('input[name="peerIp"]', "300.1.2.3");
    await page.fill('input[name="secret"]', "pairing-secret-1");
    await submit('button:text("Apply")');
    const error = await flash("error");
    expect(error).toContain("Peer IP address");
    expect(await page.inputValue('input[name="peerIp"]')).toBe("300.1.2.3");
    await screenshot(page, "sync-validation-1280");
    let config = (await (await page.request.get(agent.url + "/api/config")).json()) as { config: { datastore: { sync: { enabled: boolean; peerIp: string | null } } } };
    expect(config.config.datastore.sync.enabled).toBe(false); // all or nothing

    // A refused secret is never written back into the page, not even inside the message.
    await page.fill('input[name="peerIp"]', "127.0.8.3");
    await page.fill('input[name="secret"]', "pairing-secret-1 tail-word");
    await submit('button:text("Apply")');
    expect(await flash("error")).toContain("Pairing secret: ");
    expect(await page.content()).not.toContain("tail-word");

    await page.fill('input[name="peerIp"]', "127.0.8.3");
    await page.fill('input[name="port"]', "17744");
    await page.fill('input[name="secret"]', "pairing-secret-1");
    await submit('button:text("Apply")');
    expect(await flash("ok")).toContain("Sync settings applied");
    config = (await (await page.request.get(agent.url + "/api/config")).json()) as typeof config;
    expect(config.config.datastore.sync).toMatchObject({ enabled: true, master: true, peerIp: "127.0.8.3", port: 17744 });
    expect(await page.locator("label:has-text('Pairing secret')").textContent()).toContain("set; leave empty to keep it");

    // Leaving the secret empty keeps it; disabling works.
    await page.uncheck('input[name="enabled"]');
    await submit('button:text("Apply")');
    expect(await flash("ok")).toContain("Sync settings applied");
    const running = ((await (await page.request.get(agent.url + "/api/config")).json()) as { runningConfig: string }).runningConfig;
    expect(running).toContain("datastore sync secret");
    expect(running).not.toMatch(/^datastore sync enable$/m);

    // "Check now" answers with the check's result or the reason it cannot run.
    await submit('button:text("Check now")');
    expect(await page.locator("[data-flash]").first().textContent()).toMatch(/Check/);
  }, 60_000);

  test("in-path rules: add (with validation), list, remove", async () => {
    await page.goto(agent.url + "/rules");
    await page.fill('input[name="listenPort"]', "18081");
    await page.fill('input[name="dstAddr"]', "127.0.8.99");
    await page.fill('input[name="dstPort"]', "80");
    await page.fill('input[name="targetAddr"]', "not-an-address");
    await submit('button:text("Add rule")');
    expect(await flash("error")).toBeTruthy();
    expect(await page.inputValue('input[name="listenPort"]')).toBe("18081");

    await page.fill('input[name="targetAddr"]', "127.0.8.98");
    await page.fill('input[name="targetPort"]', "17800");
    await submit('button:text("Add rule")');
    expect(await flash("ok")).toContain("added");
    const row = page.locator("table[data-testid=rules] tbody tr");
    expect(await row.count()).toBe(1);
    expect(await row.first().textContent()).toContain("127.0.8.98:17800");
    const running = ((await (await page.request.get(agent.url + "/api/config")).json()) as { runningConfig: string }).runningConfig;
    expect(running).toContain("in-path rule fixed-target listen-port 18081 dstaddr 127.0.8.99 dstport 80 target-addr 127.0.8.98");
    await screenshot(page, "rules-with-rule-1280");

    page.once("dialog", (d) => d.accept());
    await submit('button:text("Remove")');
    expect(await flash("ok")).toContain("removed");
    expect(await page.locator("table[data-testid=rules] tbody").textContent()).toContain("No in-path rules");
  }, 60_000);

  test("alarms and log update live without reload", async () => {
    await page.goto(agent.url + "/alarms");
    await page.waitForSelector("body[data-live-ok]", { timeout: 10_000 });
    const marker = `live${Date.now()}`;
    // A change made elsewhere (here: the API) logs an event that appears on the open page.
    const res = await page.request.post(agent.url + "/api/configure", { data: { lines: [`hostname ${marker}`] }, headers: { "x-csrf-token": await csrf() } });
    expect(res.status()).toBe(200);
    await page.waitForSelector(`tbody[data-live-rows=events] tr:has-text("${marker}")`, { timeout: 10_000 });
    await page.request.post(agent.url + "/api/configure", { data: { lines: ["hostname pages"] }, headers: { "x-csrf-token": await csrf() } });
  }, 60_000);

  test("Save writes the running configuration to the startup config", async () => {
    await page.goto(agent.url + "/config");
    await page.request.post(agent.url + "/api/configure", { data: { lines: ["datastore capacity-mb 96"] }, headers: { "x-csrf-token": await csrf() } });
    await submit('button:text("Save")');
    expect(await flash("ok")).toContain(agent.configPath);
    expect(readFileSync(agent.configPath, "utf8")).toMatch(/^datastore capacity-mb 96$/m);
    expect(new URL(page.url()).pathname).toBe("/config");
  }, 60_000);

  test("Restart service restarts and the page stays usable", async () => {
    await page.goto(agent.url + "/");
    page.once("dialog", (d) => d.accept());
    await submit('button:text("Restart service")');
    expect(await flash("ok")).toContain("Services restarted");
    expect(agent.stderr()).toContain("restart complete");
  }, 60_000);

  test("clearing the data store needs the confirmation and gives a new store identity", async () => {
    await page.goto(agent.url + "/datastore");
    const before = await page.locator("[data-testid=store-id]").textContent();
    expect(before).toMatch(/\w{6,}/);
    // Without the box ticked (the browser's own check bypassed) nothing is cleared.
    await page.$eval('input[name="confirm"]', (el) => el.removeAttribute("required"));
    page.once("dialog", (d) => d.accept());
    await submit('button:text("Clear data store")');
    expect(await flash("error")).toContain("confirmation");
    expect(await page.locator("[data-testid=store-id]").textContent()).toBe(before);
    // Dismissing the browser's confirmation sends nothing.
    await page.check('input[name="confirm"]');
    const posts: string[] = [];
    const onRequest = (r: { method(): string; url(): string }) => r.method() === "POST" && posts.push(r.url());
    page.on("request", onRequest);
    page.once("dialog", (d) => d.dismiss());
    await page.click('button:text("Clear data store")');
    await page.waitForTimeout(300);
    page.off("request", onRequest);
    expect(posts).toEqual([]);

    page.once("dialog", (d) => d.accept());
    await submit('button:text("Clear data store")');
    expect(await flash("ok")).toContain("cleared");
    await waitFor("new store id on the page", async () => (await page.locator("[data-testid=store-id]").textContent()) !== before, 10_000);
    await screenshot(page, "datastore-cleared-1280");
  }, 60_000);

  test("the admin password can be changed; it needs the current one and logs out other sessions", async () => {
    const other = await newContext(browser, 1280);
    const otherPage = await other.newPage();
    await login(otherPage, agent.url, password);
    expect((await otherPage.request.get(agent.url + "/api/status")).status()).toBe(200);

    await page.goto(agent.url + "/config");
    const change = async (current: string, next: string, confirm: string) => {
      await page.fill('input[name="current"]', current);
      await page.fill('input[name="password"]', next);
      await page.fill('input[name="confirm"]', confirm);
      await submit('button:text("Change password")');
    };
    await change("not it", "new password 2", "new password 2");
    expect(await flash("error")).toContain("current password is wrong");
    await change(password, "new password 2", "new password 3");
    expect(await flash("error")).toContain("differ");
    await change(password, "new password 2", "new password 2");
    expect(await flash("ok")).toContain("Password changed");
    await screenshot(page, "config-password-changed-1280");

    // This browser stays in; the other session is gone; only the new password works.
    expect((await page.request.get(agent.url + "/api/status")).status()).toBe(200);
    expect((await otherPage.request.get(agent.url + "/api/status")).status()).toBe(401);
    await login(otherPage, agent.url, password);
    expect(await otherPage.locator("[data-flash=error]").textContent()).toContain("Wrong user name or password");
    await login(otherPage, agent.url, "new password 2");
    expect(new URL(otherPage.url()).pathname).toBe("/");
    await other.close();
  }, 60_000);
});
