// Fault schedules beyond faults.test.ts, on real sync processes (127.0.14.100-.119):
// an operator change landing while a dial waits in its handshake; one direction of the
// link stalled after half a frame past the peer-down bound, dribbled a few bytes at a
// time, or holding only the acknowledgements in sync mode; a backup restarted with an
// emptied store mid initial sync; both sides killed at once; a failover under traffic
// (master killed, backup promoted online, the old master back as backup); a backup
// promoted mid initial sync meeting its old master (refused, never overwritten). After each
// schedule the pair converges (digests equal, `store verify` clean, both "in-sync") and
// neither agent logged a crash or an unhandled rejection. SEED=n replays the schedule.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { converged, fleet } from "./converge.ts";
import { waitUntil, type NodeSpec, type SyncNode } from "./procs.ts";
import { startProxy, type FaultProxy, type Shape } from "./proxy.ts";
import { Rng } from "./simworld.ts";

const { root, start, kill } = fleet("schedules");

const seed = Number(process.env.SEED ?? Date.now() % 100000);
const rng = new Rng(seed);
console.log(`schedules: SEED=${seed}`);


/** A master at 127.0.14.`a` and a backup at 127.0.14.`b` that dial each other directly. */
function pairSpecs(tag: string, a: number, b: number, port: number): [NodeSpec, NodeSpec] {
  const spec = (side: "A" | "B", addr: number, peer: number, role: "master" | "backup"): NodeSpec =>
    ({ name: tag + side, dir: join(root, (tag + side).toLowerCase()), addr: `127.0.14.${addr}`, role, peer: `127.0.14.${peer}`, port });
  return [spec("A", a, b, "master"), spec("B", b, a, "backup")];
}

/** Writes n segments on a store with sync off (a store that exists before pairing). */
async function seeded(spec: NodeSpec, n: number): Promise<void> {
  const a = await start({ ...spec, extra: [...(spec.extra ?? []), "--no-sync"] });
  await a.cmd({ cmd: "write", n, size: 8192 });
  await kill(a, "SIGTERM");
}

async function untilInitial(b: SyncNode, minPercent: number): Promise<void> {
  await waitUntil(async () => {
    const s = await b.status();
    return s.state === "initial-sync" && (s.initialSync?.percent ?? 0) >= minPercent;
  }, 30_000, "initial sync under way", 20);
}

/** The master dials through p1 (up = master to backup), the backup through p2 (up = backup to master). */
function link(p1: FaultProxy, p2: FaultProxy) {
  return {
    shape(dir: "m2b" | "b2m" | "both", s: Partial<Shape>) {
      if (dir === "both") return (p1.shape("both", s), p2.shape("both", s));
      p1.shape(dir === "m2b" ? "up" : "down", s);
      p2.shape(dir === "m2b" ? "down" : "up", s);
    },
    unshape() {
      p1.unshape();
      p2.unshape();
    },
  };
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

  test("one direction: half a frame then stalled past peer-down, dribbled, acks held in sync mode", async () => {
    const port = 17761;
    const p1 = startProxy("127.0.14.106", port, "127.0.14.105", port);
    const p2 = startProxy("127.0.14.107", port, "127.0.14.104", port);
    const net = link(p1, p2);
    const extra = ["--mode", "sync"];
    const specA: NodeSpec = { name: "HA", dir: join(root, "ha"), addr: "127.0.14.104", role: "master", peer: "127.0.14.106", port, extra };
    const specB: NodeSpec = { name: "HB", dir: join(root, "hb"), addr: "127.0.14.105", role: "backup", peer: "127.0.14.107", port, extra };
    await seeded(specA, 1500);
    const a = await start(specA);
    const b = await start(specB);
    // Initial sync: master to backup lets a few more bytes through (most likely ending
    // inside a frame), then holds the rest past the peer-down bound; the backup's
    // direction flows. Held bytes are delivered late, into a session already gone.
    await untilInitial(b, 10);
    net.shape("m2b", { allowanceBytes: 1 + rng.int(20_000) });
    await Bun.sleep(6500);
    net.unshape();
    // Live, both writing: every byte dribbled a few at a time for a while.
    await waitUntil(async () => (await a.status()).effectiveMode === "sync", 30_000, "sync mode");
    const w = Promise.all([a.cmd({ cmd: "write", n: 200, size: 4096 }), b.cmd({ cmd: "write", n: 100, size: 4096 })]);
    net.shape("both", { sliceBytes: 1 + rng.int(7), sliceDelayMs: 1 });
    await Bun.sleep(2000);
    net.unshape();
    await w;
    // Only the backup's acknowledgements held, shorter than peer-down: sync-mode writes
    // wait past the ack timeout, drop to async and complete; the pair returns to sync.
    await waitUntil(async () => (await a.status()).effectiveMode === "sync", 30_000, "sync mode again");
    net.shape("b2m", { hold: true });
    await a.cmd({ cmd: "write", n: 100, size: 4096 });
    expect((await a.status()).effectiveMode).toBe("async");
    net.unshape();
    expect((await a.cmd({ cmd: "alarms" })).alarms).toContain("sync_dropped_to_async");
    await converged(a, b);
    await waitUntil(async () => (await a.status()).effectiveMode === "sync", 30_000, "back to sync mode");
    p1.stop();
    p2.stop();
    await kill(a);
    await kill(b);
  }, 90_000);

  test("backup restarted with an emptied store mid initial sync; both sides killed at once", async () => {
    const port = 17762;
    const [specA, specB] = pairSpecs("R", 110, 111, port);
    await seeded(specA, 1500);
    let a = await start(specA);
    let b = await start(specB);
    for (let i = 0; i < 2; i++) {
      await untilInitial(b, 10 + rng.int(70));
      await kill(b);
      rmSync(specB.dir, { recursive: true, force: true });
      b = await start(specB);
    }
    await untilInitial(b, 10 + rng.int(70));
    await Promise.all([kill(a), kill(b)]);
    [a, b] = await Promise.all([start(specA), start(specB)]);
    await converged(a, b);
    for (let i = 0; i < 2; i++) {
      const w = Promise.allSettled([a.cmd({ cmd: "write", n: 200, size: 4096 }), b.cmd({ cmd: "write", n: 100, size: 4096 })]);
      await Bun.sleep(rng.int(200));
      await Promise.all([kill(a), kill(b)]);
      await w;
      [a, b] = await Promise.all([start(specA), start(specB)]);
    }
    await converged(a, b);
    await kill(a);
    await kill(b);
  }, 90_000);

  test("a backup promoted mid initial sync does not overwrite the old master's store: refused, then the initial sync finishes", async () => {
    const port = 17764;
    const [specA, specB] = pairSpecs("P", 116, 117, port);
    const segments = 4000;
    await seeded(specA, segments);
    let a = await start(specA);
    let b = await start(specB);
    await untilInitial(b, 1);
    await kill(a);
    expect((await b.status()).eligibleForTakeover).toBe(false);
    const partial = (await b.cmd({ cmd: "count" })).count as number;
    expect(partial).toBeLessThan(segments);
    // B is promoted with its partial copy; the old master comes back as backup.
    await b.cmd({ cmd: "config", sync: { master: true } });
    a = await start({ ...specA, role: "backup" });
    const [sa, sb] = await waitUntil(async () => {
      const s = [await a.status(), await b.status()];
      return s.every((x) => x.state === "refused") ? s : undefined;
    }, 15_000, "refusal on both sides") as Array<{ refusedReason: string }>;
    expect(sa!.refusedReason).toMatch(/unfinished copy/);
    expect(sb!.refusedReason).toMatch(/unfinished copy/);
    expect((await a.cmd({ cmd: "count" })).count).toBe(segments);
    // As the reason says: A master again, B backup: the initial sync completes.
    await kill(a);
    await kill(b);
    [a, b] = await Promise.all([start(specA), start(specB)]);
    await converged(a, b);
    expect((await b.cmd({ cmd: "count" })).count).toBe(segments);
    await kill(a);
    await kill(b);
  }, 90_000);

  test("failover under traffic: master killed, backup promoted online, old master rejoins as backup without a resync", async () => {
    const port = 17763;
    const [specA, specB] = pairSpecs("O", 114, 115, port);
    await seeded(specA, 1500);
    let a = await start(specA);
    const b = await start(specB);
    await converged(a, b);
    const w = Promise.allSettled([a.cmd({ cmd: "write", n: 300, size: 4096 }), b.cmd({ cmd: "write", n: 300, size: 4096 })]);
    await Bun.sleep(rng.int(200));
    await kill(a);
    await w;
    await b.cmd({ cmd: "config", sync: { master: true } });
    await b.cmd({ cmd: "write", n: 200, size: 4096 });
    a = await start({ ...specA, role: "backup" });
    await b.cmd({ cmd: "write", n: 100, size: 4096 });
    await converged(b, a);
    // At most what B wrote since A last heard from it (300 + 200 + 100), not the store.
    expect((await a.status()).receivedSegments).toBeLessThanOrEqual(600);
    await kill(a);
    await kill(b);
  }, 60_000);
});
