// The Settings page in a real Chromium against a real `tandem start`: each setting it
// offers (host name, the three interface addresses, web and service port, data store
// capacity and replacement policy, service secret and its `no` form) is set from the
// page and checked through the control API (/api/config) and the running config; a
// bad value shows the control API's own message next to its form and changes nothing;
// secrets never reach the page; moving the UI (primary address, web port) is saved,
// shown and reported as needing a restart; Save writes the startup config; posts
// without a session or CSRF token are refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { firstBootSession, freshAddress, newContext, screenshot, type Agent } from "./harness.ts";

const password = "settings password 1";
const serviceSecret = "svc-secret-4711";
let agent: Agent;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let page: Page;

beforeAll(async () => {
  ({ agent, browser, closeBrowser, page } = await firstBootSession("settings", password));
}, 60_000);

afterAll(async () => {
  await closeBrowser?.();
  await agent?.stop();
});

interface Config {
  hostname: string;
  interfaces: { primary: string; aux: string | null; inpath: string };
  webPort: number;
  servicePort: number;
  serviceSecret?: string | null;
  datastore: { capacityMb: number; replacementPolicy: string };
}
const running = async () => (await (await page.request.get(agent.url + "/api/config")).json()) as { config: Config; runningConfig: string };
const csrf = async () => (await page.getAttribute('meta[name="csrf-token"]', "content"))!;
/** What the control API answers to `line`, through the same API the console grammar goes to. */
const apiError = async (line: string) => {
  const res = await page.request.post(agent.url + "/api/configure", { data: { lines: [line] }, headers: { "x-csrf-token": await csrf() } });
  expect(res.status()).toBe(400);
  return ((await res.json()) as { message: string }).message;
};
const apply = async (group: string, fields: Record<string, string>) => {
  await page.goto(agent.url + "/settings");
  for (const [name, value] of Object.entries(fields)) {
    const sel = `form[action="/settings/${group}"] [name="${name}"]`;
    if ((await page.locator(sel).evaluate((el) => el.tagName)) === "SELECT") await page.selectOption(sel, value);
    else await page.fill(sel, value);
  }
  await Promise.all([page.waitForNavigation(), page.click(`form[action="/settings/${group}"] button[type=submit]`)]);
};
const okFlash = () => page.locator("[data-flash=ok]").first().textContent();
const groupError = (group: string) => page.locator(`section#${group} [data-flash=error]`).textContent();
const fieldValue = (group: string, name: string) => page.inputValue(`form[action="/settings/${group}"] [name="${name}"]`);

describe("settings page", () => {
  test("shows the running values at 1280 and 390 px without sideways scrolling", async () => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const phone = await newContext(browser, 390);
    const phonePage = await phone.newPage();
    await phonePage.goto(agent.url + "/login");
    await phonePage.fill('input[name="username"]', "admin");
    await phonePage.fill('input[name="password"]', password);
    await Promise.all([phonePage.waitForNavigation(), phonePage.click('button[type="submit"]')]);
    for (const [width, p] of [[1280, page], [390, phonePage]] as const) {
      await p.goto(agent.url + "/settings");
      expect(await p.textContent("h1")).toBe("Settings");
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect({ width, overflow }).toEqual({ width, overflow: 0 });
      await screenshot(p, `settings-page-${width}`);
    }
    await phone.close();
    const { config } = await running();
    expect(await fieldValue("appliance", "hostname")).toBe(config.hostname);
    expect(await fieldValue("interfaces", "primary")).toBe(config.interfaces.primary);
    expect(await fieldValue("interfaces", "aux")).toBe(config.interfaces.aux ?? "");
    expect(await fieldValue("interfaces", "inpath")).toBe(config.interfaces.inpath);
    expect(await fieldValue("ports", "webPort")).toBe(String(config.webPort));
    expect(await fieldValue("ports", "servicePort")).toBe(String(config.servicePort));
    expect(await fieldValue("datastore", "capacityMb")).toBe(String(config.datastore.capacityMb));
    expect(await fieldValue("datastore", "policy")).toBe(config.datastore.replacementPolicy);
    expect(await page.locator("a[href='/settings']").getAttribute("aria-current")).toBe("page");
    expect(errors).toEqual([]);
  }, 60_000);

  test("host name, data store capacity and policy, service port: set from the page, applied through configure", async () => {
    await apply("appliance", { hostname: "branch-7" });
    expect(await okFlash()).toContain("Appliance settings applied");
    expect(await page.locator("[data-testid=hostname]").textContent()).toBe("branch-7");
    await apply("datastore", { capacityMb: "48", policy: "fifo" });
    expect(await okFlash()).toContain("Data store settings applied");
    await apply("ports", { servicePort: "17801" });
    expect(await okFlash()).toContain("Ports settings applied");
    expect(await okFlash()).not.toContain("Restart required");
    const { config, runningConfig } = await running();
    expect(config).toMatchObject({ hostname: "branch-7", servicePort: 17801, datastore: { capacityMb: 48, replacementPolicy: "fifo" } });
    for (const line of ["hostname branch-7", "service port 17801", "datastore capacity-mb 48", "datastore replacement-policy fifo"]) {
      expect(runningConfig).toMatch(new RegExp(`^${line}$`, "m"));
    }
    // The store took the new capacity live.
    const status = (await (await page.request.get(agent.url + "/api/status")).json()) as { datastore: { stats: { capacityBytes: number } } };
    expect(status.datastore.stats.capacityBytes).toBe(48 * 1024 * 1024);
    // The form shows the new running values; an unchanged form changes nothing.
    expect(await fieldValue("datastore", "capacityMb")).toBe("48");
    await apply("datastore", {});
    expect(await okFlash()).toContain("nothing changed");
  }, 60_000);

  test("aux and in-path addresses: set, and aux cleared with an empty field (the `no` form)", async () => {
    const aux = freshAddress();
    const inpath = freshAddress();
    await apply("interfaces", { aux, inpath });
    expect(await okFlash()).toContain("Interfaces settings applied");
    let { config, runningConfig } = await running();
    expect(config.interfaces).toMatchObject({ aux, inpath, primary: agent.address });
    expect(runningConfig).toContain(`interface inpath address ${inpath}`);
    await apply("interfaces", { aux: "" });
    ({ config, runningConfig } = await running());
    expect(config.interfaces.aux).toBeNull();
    expect(runningConfig).not.toContain("interface aux address");
    expect(await fieldValue("interfaces", "aux")).toBe("");
  }, 60_000);

  test("service secret: set, never shown (page or running config), cleared with the `no` form", async () => {
    await page.goto(agent.url + "/settings");
    expect(await page.locator("form[action='/settings/optimization/clear']").count()).toBe(0);
    await apply("optimization", { secret: serviceSecret });
    expect(await okFlash()).toContain("Optimization settings applied");
    expect((await running()).config.serviceSecret).toBe(serviceSecret);
    expect(await page.content()).not.toContain(serviceSecret);
    expect(await page.locator("section#optimization label").textContent()).toContain("set; leave empty to keep it");
    expect(await fieldValue("optimization", "secret")).toBe("");
    // Applying the empty field keeps it.
    await apply("optimization", {});
    expect((await running()).config.serviceSecret).toBe(serviceSecret);
    // The Configuration page masks it too.
    await page.goto(agent.url + "/config");
    expect(await page.locator("[data-testid=running-config]").textContent()).toContain("service secret ********");
    expect(await page.content()).not.toContain(serviceSecret);

    await page.goto(agent.url + "/settings");
    page.once("dialog", (d) => d.accept());
    await Promise.all([page.waitForNavigation(), page.click("form[action='/settings/optimization/clear'] button")]);
    expect(await okFlash()).toContain("Service secret cleared");
    const { config, runningConfig } = await running();
    expect(config.serviceSecret ?? null).toBeNull();
    expect(runningConfig).not.toContain("service secret");
    expect(await page.locator("section#optimization label").textContent()).toContain("not set");
  }, 60_000);

  test("a bad value shows the control API's message next to its form, keeps the input and changes nothing", async () => {
    const before = await running();
    const cases: [group: string, fields: Record<string, string>, line: string, label: string][] = [
      ["appliance", { hostname: "bad_name!" }, "hostname bad_name!", "Host name"],
      ["interfaces", { primary: "300.1.2.3" }, "interface primary address 300.1.2.3", "Primary (management)"],
      // All or nothing: the valid service port in the same form is not applied either.
      ["ports", { servicePort: "17900", webPort: "70000" }, "web port 70000", "Web port"],
      ["datastore", { capacityMb: "0" }, "datastore capacity-mb 0", "Capacity (MiB)"],
    ];
    for (const [group, fields, line, label] of cases) {
      await apply(group, fields);
      const message = await apiError(line);
      expect(await groupError(group)).toBe(`${label}: ${message.replace(/^line \d+: /, "")}`);
      for (const [name, value] of Object.entries(fields)) expect(await fieldValue(group, name)).toBe(value);
      // Only the form that was posted shows an error.
      expect(await page.locator("[data-flash=error]").count()).toBe(1);
    }
    await screenshot(page, "settings-validation-1280");

    // A bad secret: configure's message, but the secret is never written into the page.
    await apply("optimization", { secret: "short1" });
    expect(await groupError("optimization")).toBe(`Service secret: ${await apiError("service secret short1")}`);
    await apply("optimization", { secret: "abcdefghij klmnopq" });
    expect(await groupError("optimization")).toContain("Service secret: ");
    expect(await groupError("optimization")).toContain("********");
    expect(await page.content()).not.toContain("klmnopq");
    expect(await fieldValue("optimization", "secret")).toBe("");

    expect(await running()).toEqual(before);
  }, 60_000);

  test("posts without a session or without the session's CSRF token are refused and change nothing", async () => {
    const before = await running();
    const forms: [string, Record<string, string>][] = [
      ["/settings/appliance", { hostname: "forged" }],
      ["/settings/ports", { webPort: "18099" }],
      ["/settings/optimization", { secret: "forged-secret-1" }],
      ["/settings/optimization/clear", {}],
    ];
    for (const [path, fields] of forms) {
      const loggedOut = await fetch(agent.url + path, { method: "POST", body: new URLSearchParams({ _csrf: await csrf(), ...fields }), redirect: "manual" });
      expect({ path, status: loggedOut.status }).toEqual({ path, status: 401 });
      const wrongToken = await page.request.post(agent.url + path, { form: { _csrf: "not-the-token", ...fields }, maxRedirects: 0 });
      expect({ path, status: wrongToken.status() }).toEqual({ path, status: 403 });
      const noToken = await page.request.post(agent.url + path, { form: fields, maxRedirects: 0 });
      expect({ path, status: noToken.status() }).toEqual({ path, status: 403 });
    }
    expect(await running()).toEqual(before);
  }, 60_000);

  test("web port and primary address: saved and shown, reported as needing a restart; Save writes the startup config", async () => {
    const primary = freshAddress();
    await apply("ports", { webPort: "18080" });
    expect(await okFlash()).toContain("Restart required: web UI moves to");
    expect(await page.locator("[data-testid=restart-required]").textContent()).toContain(`web UI moves to ${agent.address}:18080`);
    await apply("interfaces", { primary });
    expect(await okFlash()).toContain(`Restart required: web UI moves to ${primary}:18080`);
    // Still served where it was (the move waits for the restart), showing the new values.
    expect(new URL(page.url()).host).toBe(new URL(agent.url).host);
    expect(await fieldValue("ports", "webPort")).toBe("18080");
    expect(await fieldValue("interfaces", "primary")).toBe(primary);
    expect(await page.locator("[data-testid=restart-required]").textContent()).toContain(`web UI moves to ${primary}:18080`);
    const { config } = await running();
    expect(config).toMatchObject({ webPort: 18080, interfaces: { primary } });
    const version = (await (await page.request.get(agent.url + "/api/status")).json()) as { version: { restartRequired: string | null } };
    expect(version.version.restartRequired).toContain(`${primary}:18080`);

    // write memory from the page: the startup config now boots into these settings.
    await Promise.all([page.waitForNavigation(), page.click('header form[action="/save"] button')]);
    expect(await okFlash()).toContain(agent.configPath);
    expect(new URL(page.url()).pathname).toBe("/settings");
    const saved = readFileSync(agent.configPath, "utf8");
    for (const line of [`interface primary address ${primary}`, "web port 18080", "hostname branch-7", "service port 17801", "datastore capacity-mb 48", "datastore replacement-policy fifo"]) {
      expect(saved).toMatch(new RegExp(`^${line}$`, "m"));
    }
  }, 60_000);
});
