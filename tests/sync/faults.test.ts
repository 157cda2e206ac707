// Process-level faults on real sync processes and real stores (127.0.7.50-.69):
// SIGKILL of either side at random moments during initial sync and during live
// replication (24 cycles), SIGSTOP/SIGCONT past the peer-down bound in sync mode,
// connections cut and blackholed through the fault proxy, a small capacity forcing
// eviction, and a bit flipped in a stored value. After each: `tandem store digest`
// equal on both and `tandem store verify` clean. SEED=n replays the kill schedule.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { converged, fleet } from "./converge.ts";
import { verify, waitUntil, type NodeSpec } from "./procs.ts";
import { startProxy } from "./proxy.ts";
import { Rng } from "./simworld.ts";

const { root, start, kill } = fleet("faults");
const seed = Number(process.env.SEED ?? Date.now() % 100000);
const rng = new Rng(seed);
console.log(`faults: SEED=${seed}`);


describe("process-level faults", () => {
  test("SIGKILL either side during initial sync and live replication (24 cycles)", async () => {
    const specA: NodeSpec = { name: "KA", dir: join(root, "ka"), addr: "127.0.7.50", role: "master", peer: "127.0.7.51", port: 17746 };
    const specB: NodeSpec = { name: "KB", dir: join(root, "kb"), addr: "127.0.7.51", role: "backup", peer: "127.0.7.50", port: 17746 };
    let a = await start({ ...specA, extra: ["--no-sync"] });
    await a.cmd({ cmd: "write", n: 6000, size: 8192 });
    await kill(a, "SIGTERM");
    a = await start(specA);
    let b = await start(specB);
    // Initial sync, interrupted 12 times at random moments.
    for (let i = 0; i < 12; i++) {
      await Bun.sleep(100 + rng.int(600));
      if (rng.chance(0.5)) {
        await kill(a);
        a = await start(specA);
      } else {
        await kill(b);
        b = await start(specB);
      }
    }
    await converged(a, b);
    // Live replication with writers on both sides, interrupted 12 times.
    for (let i = 0; i < 12; i++) {
      const writes = Promise.allSettled([a.cmd({ cmd: "write", n: 100 + rng.int(200), size: 4096 }), b.cmd({ cmd: "write", n: 50 + rng.int(100), size: 4096 })]);
      await Bun.sleep(50 + rng.int(300));
      const victimIsA = rng.chance(0.5);
      if (victimIsA) {
        await kill(a);
        await writes;
        a = await start(specA);
      } else {
        await kill(b);
        await writes;
        b = await start(specB);
      }
    }
    await converged(a, b);
    await kill(a);
    await kill(b);
  }, 180_000);

  test("SIGSTOP/SIGCONT of the backup in sync mode: drop to async, peer down, back", async () => {
    const specA: NodeSpec = { name: "SA", dir: join(root, "sa"), addr: "127.0.7.54", role: "master", peer: "127.0.7.55", port: 17746, extra: ["--mode", "sync"] };
    const specB: NodeSpec = { name: "SB", dir: join(root, "sb"), addr: "127.0.7.55", role: "backup", peer: "127.0.7.54", port: 17746, extra: ["--mode", "sync"] };
    const a = await start(specA);
    const b = await start(specB);
    await a.cmd({ cmd: "write", n: 200, size: 4096 });
    await waitUntil(async () => (await a.status()).effectiveMode === "sync", 20_000, "sync mode");
    b.proc.kill("SIGSTOP");
    const t0 = Date.now();
    await a.cmd({ cmd: "write", n: 100, size: 4096 }); // stalls, then drops to async and completes
    expect(Date.now() - t0).toBeGreaterThan(500);
    expect((await a.status()).effectiveMode).toBe("async");
    await waitUntil(async () => (await a.status()).state === "disconnected", 15_000, "peer declared down");
    await waitUntil(async () => ((await a.cmd({ cmd: "alarms" })).alarms as string[]).includes("peer_down"), 5000, "peer_down alarm");
    expect((await a.cmd({ cmd: "alarms" })).alarms).toContain("sync_dropped_to_async");
    await a.cmd({ cmd: "write", n: 100, size: 4096 });
    b.proc.kill("SIGCONT");
    await converged(a, b);
    await waitUntil(async () => (await a.status()).effectiveMode === "sync", 20_000, "back to sync mode");
    await kill(a);
    await kill(b);
  }, 90_000);

  test("connections cut and blackholed through the fault proxy", async () => {
    // A dials B through proxy P1; B dials A through P2: every byte crosses a proxy.
    const port = 17747;
    const p1 = startProxy("127.0.7.58", port, "127.0.7.57", port);
    const p2 = startProxy("127.0.7.59", port, "127.0.7.56", port);
    const a = await start({ name: "PA", dir: join(root, "pa"), addr: "127.0.7.56", role: "master", peer: "127.0.7.58", port });
    const b = await start({ name: "PB", dir: join(root, "pb"), addr: "127.0.7.57", role: "backup", peer: "127.0.7.59", port });
    await a.cmd({ cmd: "write", n: 1500, size: 8192 });
    for (let i = 0; i < 8; i++) {
      const w = [a.cmd({ cmd: "write", n: 100, size: 4096 }), b.cmd({ cmd: "write", n: 50, size: 4096 })];
      await Bun.sleep(100 + rng.int(400));
      if (i % 3 === 2) {
        p1.blackhole(true);
        p2.blackhole(true);
        await Bun.sleep(6000); // past the peer-down bound: heartbeats missing
        p1.blackhole(false);
        p2.blackhole(false);
        p1.cutAll();
        p2.cutAll();
      } else {
        p1.cutAll();
        p2.cutAll();
      }
      await Promise.all(w);
    }
    await converged(a, b);
    expect((await a.cmd({ cmd: "alarms" })).alarms).toContain("peer_down");
    p1.stop();
    p2.stop();
    await kill(a);
    await kill(b);
  }, 120_000);

  test("small capacity forces eviction; the pair converges without ping-pong", async () => {
    const extra = ["--capacity-mb", "2"];
    const a = await start({ name: "EA", dir: join(root, "ea"), addr: "127.0.7.60", role: "master", peer: "127.0.7.61", port: 17746, extra });
    const b = await start({ name: "EB", dir: join(root, "eb"), addr: "127.0.7.61", role: "backup", peer: "127.0.7.60", port: 17746, extra });
    for (let i = 0; i < 6; i++) {
      await Promise.all([a.cmd({ cmd: "write", n: 150, size: 8192, compressible: false }), b.cmd({ cmd: "write", n: 60, size: 8192, compressible: false })]);
    }
    await converged(a, b);
    const second = (await a.cmd({ cmd: "check" })).check;
    expect(second.inSync).toBe(true); // a second check finds nothing: no ping-pong
    await kill(a);
    await kill(b);
  }, 90_000);

  test("a flipped bit in a stored value is found by the scrub and repaired from the peer", async () => {
    const specA: NodeSpec = { name: "FA", dir: join(root, "fa"), addr: "127.0.7.62", role: "master", peer: "127.0.7.63", port: 17746, extra: ["--scrub-ms", "100"] };
    const specB: NodeSpec = { name: "FB", dir: join(root, "fb"), addr: "127.0.7.63", role: "backup", peer: "127.0.7.62", port: 17746 };
    let a = await start(specA);
    const b = await start(specB);
    const labels = (await a.cmd({ cmd: "write", n: 300, size: 8192, labels: true })).labels as string[];
    await converged(a, b);
    await kill(a, "SIGTERM");
    // Flip one bit of one value at rest, with the agent down.
    const { openStoreDbs } = await import("../../agent/store/env.ts");
    const dbs = openStoreDbs(join(specA.dir, "store"), false);
    const victim = new Uint8Array(Buffer.from(labels[rng.int(labels.length)]!, "hex"));
    const value = new Uint8Array(dbs.segments.get(victim)!);
    value[value.length - 1]! ^= 0x10;
    await dbs.segments.put(victim, value);
    await dbs.root.close();
    expect((await verify(specA.dir)).code).toBe(1);
    a = await start(specA);
    await waitUntil(async () => ((await a.cmd({ cmd: "alarms" })).alarms as string[]).includes("corruption_repaired"), 30_000, "repair");
    await converged(a, b);
    await kill(a);
    await kill(b);
  }, 90_000);
});
