// Fault schedules beyond faults.test.ts, on real sync processes (127.0.14.100-.119):
// operator changes that land while a dial or handshake is in flight. After each
// schedule the pair converges (digests equal, `store verify` clean, both "in-sync")
// and neither agent logged a crash or an unhandled rejection.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digest, startNode, verify, waitUntil, type NodeSpec, type SyncNode } from "./procs.ts";
import { startProxy } from "./proxy.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-sync-schedules-"));
const live = new Set<SyncNode>();
afterAll(async () => {
  for (const n of live) await n.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

async function start(spec: NodeSpec): Promise<SyncNode> {
  const n = await startNode(spec);
  live.add(n);
  return n;
}
async function kill(n: SyncNode, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  await n.kill(signal);
  live.delete(n);
}

const crashLine = /unhandled|uncaught|TypeError|RangeError|ReferenceError|panic|segmentation fault/i;
function noCrash(n: SyncNode): void {
  expect(n.alive()).toBe(true);
  expect(n.log().split("\n").filter((l) => crashLine.test(l))).toEqual([]);
}

/** Both "in-sync" with no lag, a check finds nothing, digests equal, verify clean, no crash. */
async function converged(a: SyncNode, b: SyncNode, timeoutMs = 30_000): Promise<void> {
  let last: unknown[] = [];
  try {
    await waitUntil(async () => {
      const [sa, sb] = [await a.status(), await b.status()];
      last = [sa, sb];
      return sa.state === "in-sync" && sb.state === "in-sync" && sa.lagSegments === 0 && sb.lagSegments === 0;
    }, timeoutMs, "in-sync with no lag");
  } catch (err) {
    console.error(JSON.stringify(last), "\n", a.log().slice(-3000), "\n", b.log().slice(-3000));
    throw err;
  }
  await waitUntil(async () => {
    const c = (await a.cmd({ cmd: "check" })).check;
    return c.inSync && (await a.cmd({ cmd: "count" })).count === (await b.cmd({ cmd: "count" })).count;
  }, 30_000, "a check that finds the stores equal", 300);
  expect(await digest(b.spec.dir)).toBe(await digest(a.spec.dir));
  for (const n of [a, b]) {
    const v = await verify(n.spec.dir);
    expect(v.out).toContain("corrupt 0");
    expect(v.code).toBe(0);
    noCrash(n);
  }
}

describe("sync fault schedules", () => {
  test("sync disabled while a dial waits in its handshake: no session comes up after", async () => {
    // A dials B through the proxy, whose upstream holds every byte, so A's dial sits in
    // the handshake; B does not dial. A is disabled right then, and the bytes released.
    const port = 17760;
    const p = startProxy("127.0.14.102", port, "127.0.14.101", port);
    p.shape("up", { hold: true });
    const b = await start({ name: "DB", dir: join(root, "db"), addr: "127.0.14.101", role: "backup", port });
    const a = await start({ name: "DA", dir: join(root, "da"), addr: "127.0.14.100", role: "master", peer: "127.0.14.102", port });
    await a.cmd({ cmd: "write", n: 50, size: 4096 });
    await waitUntil(async () => p.connections > 0, 10_000, "a dial held in its handshake", 10);
    await a.cmd({ cmd: "config", sync: { enabled: false } });
    p.unshape();
    // The handshake completes; a disabled A must drop it and stop dialing.
    await waitUntil(async () => p.connections === 0, 15_000, "no sync connection from a disabled appliance", 50);
    expect((await a.status()).state).toBe("disabled");
    expect(["connecting", "disconnected"]).toContain((await b.status()).state);
    expect((await b.cmd({ cmd: "count" })).count).toBe(0);
    // Enabled again: the pair forms and converges.
    await a.cmd({ cmd: "config", sync: { enabled: true } });
    await converged(a, b);
    p.stop();
    await kill(a);
    await kill(b);
  }, 60_000);
});
