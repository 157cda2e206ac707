// Synchronous data store sync with traffic flowing: the master's codec commits its new
// segments through the sync-mode gate; a stalled backup drops the pair to async (logged)
// instead of stalling traffic, and the pair returns to sync once the backup is back,
// with both stores holding the same segments.
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { packageTar } from "../bench/corpus.ts";
import { startLab, dumpLogs, type Lab } from "../helpers/failover-scenario.ts";
import { waitFor } from "../helpers/agents.ts";

/** How long the pair may take to return to sync mode after the backup resumes. */
const backToSyncTimeoutMs = 60_000;

let lab: Lab | null = null;
afterEach(async () => {
  await lab?.stop();
  lab = null;
});

test("sync mode: a stalled backup drops the pair to async, not the traffic; the pair returns to sync", async () => {
  const tar = readFileSync(packageTar("typescript", "5.7.2"));
  const mib = 1024 * 1024;
  const files = new Map([["first", tar.subarray(0, 6 * mib)], ["second", tar.subarray(6 * mib, 12 * mib)]]);
  lab = await startLab({ syncEnabled: true, files, dataCentreExtra: ["datastore sync mode sync"] });
  try {
    const masterControl = await lab.master!.control();
    expect(await lab.waitInSync(lab.backup)).toBe(true);
    expect(await waitFor(async () => (await masterControl.syncStatus()).effectiveMode === "sync", backToSyncTimeoutMs, 200)).toBe(true);

    const first = await lab.fetchThroughBranch("first");
    expect(first.intact).toBe(true);
    expect((await masterControl.syncStatus()).effectiveMode).toBe("sync");

    // A stalled backup: the traffic still completes, and the pair drops to async.
    lab.backup.proc.kill("SIGSTOP");
    const second = await lab.fetchThroughBranch("second");
    expect(second.intact).toBe(true);
    expect(await waitFor(async () => (await masterControl.syncStatus()).effectiveMode === "async", backToSyncTimeoutMs, 200)).toBe(true);
    expect((await masterControl.events(0, 1000)).some((e) => e.alarm === "sync_dropped_to_async")).toBe(true);

    lab.backup.proc.kill("SIGCONT");
    expect(await waitFor(async () => (await masterControl.syncStatus()).effectiveMode === "sync", backToSyncTimeoutMs, 200)).toBe(true);
    expect(await lab.waitInSync(lab.backup)).toBe(true);
    expect(lab.digest(lab.backup)).toBe(lab.digest(lab.master!));
  } catch (err) {
    dumpLogs(lab, "/tmp/tandem-sync-mode-test.log");
    throw err;
  } finally {
    lab.backup.proc.kill("SIGCONT");
  }
}, 300_000);
