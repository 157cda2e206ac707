// Crash safety: a child process (tests/store/crash-writer.ts) writes to a store
// continuously, at a small capacity so eviction runs all along, with deletes, trims,
// meta and LRU touches, and is SIGKILLed at random instants, 24 times (a few of them
// while it is still opening the store). After every kill the real `tandem store
// verify` must find no corrupt value and no disagreement between the change log,
// the order index, the counters and the segments; the store must open for writing;
// and nothing the child saw acknowledged as durable may be missing. Once, verify
// also runs while the writer is live.
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { openSegmentStore } from "../../agent/store/index.ts";
import { removeTempDirs, runCli, tempDir, xorshift } from "./helpers.ts";

afterAll(removeTempDirs);

const kills = 24;
const readyTimeoutMs = 30_000;

async function runUntilKilled(
  dir: string, seed: number, killAfterMs: number, waitForReady: boolean, whileRunning?: () => Promise<void>,
): Promise<{ acked: number; ready: boolean; stderr: string }> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "crash-writer.ts"), dir, String(seed)], {
    stdout: "pipe", stderr: "pipe",
  });
  let acked = 0;
  let ready = false;
  let signalReady!: () => void;
  const readySeen = new Promise<void>((resolve) => (signalReady = resolve));
  const reading = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of proc.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") {
          ready = true;
          signalReady();
        } else if (line.startsWith("acked ")) acked = Math.max(acked, Number(line.slice(6)));
      }
    }
    signalReady();
  })();
  const stderr = new Response(proc.stderr).text();
  if (waitForReady) {
    const timer = setTimeout(signalReady, readyTimeoutMs);
    await readySeen;
    clearTimeout(timer);
  }
  await Bun.sleep(killAfterMs);
  if (whileRunning) await whileRunning();
  proc.kill("SIGKILL");
  await proc.exited;
  await reading;
  return { acked, ready, stderr: await stderr };
}

test(`a writer SIGKILLed ${kills} times leaves a store that opens, verifies clean and kept every acknowledged write`, async () => {
  const dir = tempDir();
  const random = xorshift(20261122);
  let readyRounds = 0;
  for (let round = 0; round < kills; round++) {
    // Every fourth round dies early, possibly while opening the store.
    const early = round > 0 && round % 4 === 0;
    // In round 1 the real verify also runs beside the live writer (one read snapshot).
    const live = round === 1 ? async () => {
      const verify = await runCli(["store", "verify", "--data", dir]);
      expect(verify.stdout).toMatch(/^checked \d+ corrupt 0\n$/);
      expect(verify.code).toBe(0);
    } : undefined;
    const killAfterMs = early ? Math.floor(random() * 150) : 20 + Math.floor(random() * 400);
    const { acked, ready, stderr } = await runUntilKilled(dir, round + 1, killAfterMs, !early, live);
    if (!early) {
      expect(ready, `writer never became ready: ${stderr}`).toBe(true);
      readyRounds++;
    }
    const verify = await runCli(["store", "verify", "--data", dir]);
    expect(verify.stdout, `round ${round}: ${verify.stderr}`).toMatch(/^checked \d+ corrupt 0\n$/);
    expect(verify.code).toBe(0);

    const store = await openSegmentStore({ dir, model: "crash", softwareVersion: "1" });
    expect(store.lastSeq()).toBeGreaterThanOrEqual(acked);
    const stats = store.stats();
    expect(stats.storedBytes).toBeLessThanOrEqual(3 * 1024 * 1024);
    // Every change entry still kept names a present segment.
    for (const entry of store.changesSince(0, 1_000_000)) expect(store.has(entry.label)).toBe(true);
    await store.close();
  }
  expect(readyRounds).toBeGreaterThanOrEqual(18);
}, 240_000);
