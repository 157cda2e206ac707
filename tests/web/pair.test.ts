// The big one: a master/backup pair configured entirely through the two agents' web
// UIs in a real Chromium. The master's store is seeded with segments first (`tandem
// encode`), both agents get their admin password and sync settings through the
// browser, and the backup's dashboard must show its initial-sync progress bar reach
// 100 % and the state "in sync", having adopted the master's store identity.
// Runs when the data store sync service (agent/sync/index.ts) is installed.
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { launchBrowser, newContext, repoRoot, screenshot, setFirstPassword, startAgent, waitFor, type Agent } from "./harness.ts";

const syncInstalled = existsSync(join(repoRoot, "agent", "sync", "index.ts"));
/** Bytes of deterministic pseudo-random data encoded into the master's store before it starts. */
const seedBytes = 3 * 1024 * 1024;
/** How long the initial sync of the seeded store may take to show 100 % on the backup. */
const initialSyncWaitMs = 90_000;
const secret = "web-pair-secret-1";
/** How long a pairing with the wrong secret may take to show as refused. */
const refusalWaitMs = 30_000;

function seedData(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function seedStore(dataDir: string): Promise<void> {
  const proc = Bun.spawn({
    cmd: [process.execPath, join(repoRoot, "agent", "main.ts"), "encode", "--data", dataDir],
    cwd: repoRoot, stdin: seedData(seedBytes), stdout: "ignore", stderr: "pipe",
  });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`tandem encode failed (${code}): ${await new Response(proc.stderr as ReadableStream).text()}`);
}

async function applySync(page: Page, agent: Agent, role: "master" | "backup", peer: Agent, pairingSecret: string): Promise<void> {
  await page.goto(agent.url + "/sync");
  await page.check('input[name="enabled"]');
  await page.selectOption('select[name="role"]', role);
  await page.selectOption('select[name="mode"]', "async");
  await page.fill('input[name="peerIp"]', peer.address);
  await page.fill('input[name="port"]', "7744");
  await page.fill('input[name="reconnectS"]', "1");
  await page.fill('input[name="secret"]', pairingSecret);
  await Promise.all([page.waitForNavigation(), page.click('button:text("Apply")')]);
  expect(await page.locator("[data-flash]").first().textContent()).toContain("Sync settings applied");
}

const agents: Agent[] = [];
let closeBrowser: (() => Promise<void>) | undefined;
afterAll(async () => {
  await closeBrowser?.();
  await Promise.all(agents.map((a) => a.stop()));
});

test.skipIf(!syncInstalled)("a master/backup pair set up through both UIs reaches in sync at 100 %", async () => {
  const [master, backup, b] = await Promise.all([
    startAgent({ name: "web-master", prepare: seedStore }),
    startAgent({ name: "web-backup" }),
    launchBrowser(),
  ]);
  agents.push(master, backup);
  closeBrowser = b.close;
  const masterPage = await (await newContext(b.browser, 1280)).newPage();
  const backupPage = await (await newContext(b.browser, 1280)).newPage();

  const segments = async (page: Page, url: string) =>
    ((await (await page.request.get(url + "/api/status")).json()) as { datastore: { stats: { segments: number }; identity: { storeId: string } } }).datastore;

  for (const [page, agent] of [[masterPage, master], [backupPage, backup]] as const) {
    await page.goto(agent.url + "/first-boot");
    await setFirstPassword(page, `${agent.address} password`);
  }
  // First with mismatched secrets: the pair must refuse, and the UI must say so and why.
  await applySync(backupPage, backup, "backup", master, secret);
  await applySync(masterPage, master, "master", backup, "wrong-secret-99");
  const syncState = async (page: Page, agent: Agent) =>
    ((await (await page.request.get(agent.url + "/api/status")).json()) as { sync: { state: string } }).sync.state;
  let refusedAt: [Page, Agent] | null = null;
  await waitFor("a refusal on either side", async () => {
    for (const pair of [[masterPage, master], [backupPage, backup]] as const) {
      if ((await syncState(pair[0], pair[1])) === "refused") refusedAt = [pair[0], pair[1]];
    }
    return refusedAt !== null;
  }, refusalWaitMs, 250);
  const [refusedPage, refusedAgent] = refusedAt!;
  await refusedPage.goto(refusedAgent.url + "/");
  await refusedPage.locator("[data-testid=sync-refused]").waitFor({ state: "visible", timeout: 10_000 });
  expect(((await refusedPage.locator("[data-testid=sync-refused]").textContent()) ?? "").length).toBeGreaterThan(3);
  await screenshot(refusedPage, "pair-refused-1280");
  await refusedPage.goto(refusedAgent.url + "/alarms");
  await refusedPage.locator("tbody[data-live-rows=events] tr", { hasText: "peer_refused" }).first().waitFor({ timeout: 10_000 });
  await screenshot(refusedPage, "pair-refused-alarms-1280");

  // The right secret on the master: the pair forms.
  await applySync(masterPage, master, "master", backup, secret);
  const masterStore = await segments(masterPage, master.url);
  expect(masterStore.stats.segments).toBeGreaterThan(100);

  await backupPage.goto(backup.url + "/");
  const progress = backupPage.locator("[data-testid=sync-progress]");
  const state = backupPage.locator("[data-testid=sync-state]");
  await waitFor("the backup's progress bar at 100 % and state in sync", async () => {
    const value = Number(await progress.evaluate((el) => (el as HTMLProgressElement).value));
    return value === 100 && (await state.textContent())?.trim() === "in sync";
  }, initialSyncWaitMs, 250);
  await screenshot(backupPage, "pair-backup-in-sync-1280");
  await masterPage.goto(master.url + "/");
  await waitFor("the master in sync", async () => (await masterPage.locator("[data-testid=sync-state]").textContent())?.trim() === "in sync", 30_000);
  await screenshot(masterPage, "pair-master-in-sync-1280");

  // "Check now" on the master runs a consistency check against the backup and reports it.
  await masterPage.goto(master.url + "/sync");
  await Promise.all([masterPage.waitForNavigation(), masterPage.click('button:text("Check now")')]);
  expect(await masterPage.locator("[data-flash=ok]").textContent()).toContain("Check:");
  expect(await masterPage.locator("[data-testid=last-check]").textContent()).not.toContain("never");
  await screenshot(masterPage, "pair-master-checked-1280");

  // The backup adopted the master's store and holds every segment.
  const backupStore = await segments(backupPage, backup.url);
  expect(backupStore.identity.storeId).toBe(masterStore.identity.storeId);
  expect(backupStore.stats.segments).toBe(masterStore.stats.segments);
}, initialSyncWaitMs + 60_000);
