// Live data in the UI from real traffic: a branch and a data-centre agent, an in-path
// rule added through the branch's Rules page, a TCP client sending the same bytes
// twice through the branch to a TCP server behind the data centre. The open
// Connections page must list the optimized connection without reload, and the
// dashboard must show the LAN bytes and a reduction above 1 that the control API reports.
// Runs when the optimization service (agent/optimize/index.ts) is installed.
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { freshAddress, launchBrowser, newContext, repoRoot, screenshot, setFirstPassword, startAgent, waitFor, type Agent } from "./harness.ts";

const optimizerInstalled = existsSync(join(repoRoot, "agent", "optimize", "index.ts"));
/** Bytes of pseudo-random data the client sends, twice. */
const payloadBytes = 512 * 1024;
const listenPort = 9000;

function payload(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = 0x2545f491;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

test.skipIf(!optimizerInstalled)("connections and savings from real traffic appear live", async () => {
  const serverAddr = freshAddress();
  let received = 0;
  const server: TCPSocketListener = Bun.listen({
    hostname: serverAddr, port: 0,
    socket: { data: (_s, d) => void (received += d.byteLength) },
  });
  cleanups.push(() => server.stop(true));
  const [branch, dc, b] = await Promise.all([startAgent({ name: "web-branch" }), startAgent({ name: "web-dc" }), launchBrowser()]);
  cleanups.push(() => branch.stop(), () => dc.stop(), () => b.close());

  const context = await newContext(b.browser, 1280);
  const page = await context.newPage();
  await page.goto(branch.url + "/first-boot");
  await setFirstPassword(page, "branch password");

  // The rule goes in through the UI.
  await page.goto(branch.url + "/rules");
  await page.fill('input[name="listenPort"]', String(listenPort));
  await page.fill('input[name="dstAddr"]', serverAddr);
  await page.fill('input[name="dstPort"]', String(server.port));
  await page.fill('input[name="targetAddr"]', dc.address);
  await Promise.all([page.waitForNavigation(), page.click('button:text("Add rule")')]);
  expect(await page.locator("[data-flash]").first().textContent()).toContain("added");

  await page.goto(branch.url + "/connections");
  await page.waitForSelector("body[data-live-ok]", { timeout: 10_000 });
  const data = payload(payloadBytes);
  let client: Socket | null = null;
  let pending = new Uint8Array(0);
  const flush = () => {
    if (!client || pending.length === 0) return;
    const n = client.write(pending);
    pending = pending.subarray(n);
  };
  await waitFor("the rule's listener", async () => {
    try {
      client = await Bun.connect({ hostname: branch.address, port: listenPort, socket: { data() {}, drain: flush } });
      return true;
    } catch {
      return false;
    }
  }, 10_000);
  cleanups.push(() => {
    client?.end();
  });
  pending = new Uint8Array([...data, ...data]);
  flush();
  await waitFor("the server to receive both copies", () => received >= 2 * payloadBytes, 30_000);

  // The open page lists the connection without reload.
  const row = page.locator("tbody[data-live-rows=connections] tr", { hasText: `${serverAddr}:${server.port}` });
  await row.first().waitFor({ timeout: 10_000 });
  expect(await row.first().textContent()).toContain("optimized");
  await screenshot(page, "connections-live-1280");
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, "connections-live-390");
  await page.setViewportSize({ width: 1280, height: 900 });

  // The dashboard shows what the control API counts: LAN bytes in, and a reduction above 1.
  await page.goto(branch.url + "/");
  await page.waitForSelector("body[data-live-ok]", { timeout: 10_000 });
  const status = (await (await page.request.get(branch.url + "/api/status")).json()) as { stats: { lanBytesIn: number; reduction: number } };
  expect(status.stats.lanBytesIn).toBeGreaterThanOrEqual(2 * payloadBytes);
  expect(status.stats.reduction).toBeGreaterThan(1);
  await waitFor("the reduction figure above 1", async () => {
    const text = (await page.locator("[data-testid=reduction]").textContent()) ?? "";
    return Number.parseFloat(text) > 1;
  }, 10_000);
  await waitFor("a LAN line in the throughput chart", async () => (await page.locator("[data-chart=traffic] path.lan").count()) === 1, 15_000);
  await screenshot(page, "dashboard-traffic-1280");
}, 120_000);
