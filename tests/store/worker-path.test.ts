// The store's worker threads, started for real: the checkout's workers load and report
// running, a worker module is found as .ts (checkout) or .js (bundle), and one that
// fails to load or is missing leaves its pool inline with the reason in the state.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLog } from "../../agent/events.ts";
import "../../agent/store/prep-pool.ts";
import "../../agent/store/bulk.ts";
import { startStoreWorker, startStoreWorkers, storeWorkerStates, workerModulePath } from "../../agent/store/worker-path.ts";
import { waitFor } from "../helpers/agents.ts";

const storeDir = join(import.meta.dir, "..", "..", "agent", "store");
const work = mkdtempSync(join(tmpdir(), "tandem-worker-path-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("the checkout's store workers start, load and are reported running in one log line", async () => {
  const log = new EventLog(false);
  startStoreWorkers(log);
  const line = await waitFor(() => log.recent(100).find((e) => e.message.startsWith("store workers:")), 20_000);
  expect(line?.severity).toBe("info");
  expect(line?.message).toBe(`store workers: prep-worker running (${join(storeDir, "prep-worker.ts")}), verify-worker running (${join(storeDir, "verify-worker.ts")})`);
  expect(storeWorkerStates()["prep-worker"]).toEqual({ state: "running", path: join(storeDir, "prep-worker.ts") });
});

test("a worker module is the .ts source in a checkout, else the .js bundle, else none", () => {
  expect(workerModulePath(storeDir, "prep-worker")).toBe(join(storeDir, "prep-worker.ts"));
  const bundleDir = mkdtempSync(join(work, "bundle-"));
  expect(workerModulePath(bundleDir, "verify-worker")).toBeNull();
  writeFileSync(join(bundleDir, "verify-worker.js"), "postMessage({ ready: true });\n");
  expect(workerModulePath(bundleDir, "verify-worker")).toBe(join(bundleDir, "verify-worker.js"));
});

test("a worker that fails to load is given up: its pool is told, and the state says why", async () => {
  const dir = mkdtempSync(join(work, "broken-"));
  writeFileSync(join(dir, "verify-worker.js"), "throw new Error('cannot load the WASM module');\n");
  let failed = false;
  const worker = startStoreWorker(dir, "verify-worker", { onMessage: () => {}, onFail: () => { failed = true; } });
  expect(worker).not.toBeNull();
  expect(await waitFor(() => failed, 10_000)).toBe(true);
  const state = storeWorkerStates()["verify-worker"];
  expect(state?.state).toBe("inline");
  expect(state?.reason).toContain("failed");
});

test("a missing worker module starts nothing and says where it was looked for", () => {
  const dir = mkdtempSync(join(work, "empty-"));
  const worker = startStoreWorker(dir, "prep-worker", { onMessage: () => {}, onFail: () => {} });
  expect(worker).toBeNull();
  expect(storeWorkerStates()["prep-worker"]).toEqual({ state: "inline", reason: `no prep-worker.ts or prep-worker.js in ${dir}` });
});
