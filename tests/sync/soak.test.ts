// Opt-in soak (SYNC_SOAK=1; skipped otherwise): a seeded random schedule of process-level
// faults on a real pair through two fault proxies (127.0.14.120-.123), with writers on
// both sides at every step: SIGKILL of either or both, a backup restarted with an
// emptied store, one direction held, dribbled, or cut off after a few bytes, a
// blackhole, cuts, sync disabled and enabled, SIGSTOP/SIGCONT. Capacity (eviction) and
// sync mode are drawn from the seed. Ends with `converged`. SEED=n replays, STEPS=n
// (default 16), SEED_SEGMENTS=n sizes the store the initial sync starts from.
import { describe, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { converged, fleet } from "./converge.ts";
import { type NodeSpec } from "./procs.ts";
import { startProxy, type Shape } from "./proxy.ts";
import { Rng } from "./simworld.ts";

const { root, start, kill } = fleet("soak");


describe("sync soak", () => {
  test.skipIf(!process.env.SYNC_SOAK)("random mixed fault schedule", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100000);
    const rng = new Rng(seed);
    const port = 17770;
    // The master dials through p1 (up = master to backup), the backup through p2.
    const p1 = startProxy("127.0.14.122", port, "127.0.14.121", port);
    const p2 = startProxy("127.0.14.123", port, "127.0.14.120", port);
    const shape = (dir: "m2b" | "b2m" | "both", s: Partial<Shape>) => {
      if (dir === "both") return (p1.shape("both", s), p2.shape("both", s));
      p1.shape(dir === "m2b" ? "up" : "down", s);
      p2.shape(dir === "m2b" ? "down" : "up", s);
    };
    const unshape = () => (p1.unshape(), p2.unshape());
    const capped = rng.chance(0.5);
    const extra = [...(capped ? ["--capacity-mb", "4"] : []), ...(rng.chance(0.5) ? ["--mode", "sync"] : [])];
    console.log(`soak: SEED=${seed}`, extra.join(" "));
    const specA: NodeSpec = { name: "ZA", dir: join(root, "za"), addr: "127.0.14.120", role: "master", peer: "127.0.14.122", port, extra };
    const specB: NodeSpec = { name: "ZB", dir: join(root, "zb"), addr: "127.0.14.121", role: "backup", peer: "127.0.14.123", port, extra };
    const seeder = await start({ ...specA, extra: [...extra, "--no-sync"] });
    await seeder.cmd({ cmd: "write", n: Number(process.env.SEED_SEGMENTS ?? 1000 + rng.int(2000)), size: 8192 });
    await kill(seeder, "SIGTERM");
    let a = await start(specA);
    let b = await start(specB);
    const steps = Number(process.env.STEPS ?? 16);
    for (let i = 0; i < steps; i++) {
      const w = Promise.allSettled([
        a.cmd({ cmd: "write", n: 50 + rng.int(300), size: 4096, compressible: !capped }),
        b.cmd({ cmd: "write", n: rng.int(150), size: 4096, compressible: !capped }),
      ]);
      await Bun.sleep(rng.int(500));
      const fault = rng.int(11);
      console.log(`step ${i}: fault ${fault}`);
      switch (fault) {
        case 0: await kill(a); a = await start(specA); break;
        case 1: await kill(b); b = await start(specB); break;
        case 2: await kill(b); rmSync(specB.dir, { recursive: true, force: true }); b = await start(specB); break;
        case 3: await Promise.all([kill(a), kill(b)]); [a, b] = await Promise.all([start(specA), start(specB)]); break;
        case 4: shape(rng.chance(0.5) ? "m2b" : "b2m", { hold: true }); await Bun.sleep(rng.int(7000)); unshape(); break;
        case 5: shape("both", { sliceBytes: 1 + rng.int(20), sliceDelayMs: 1 }); await Bun.sleep(rng.int(3000)); unshape(); break;
        case 6: shape(rng.chance(0.5) ? "m2b" : "b2m", { allowanceBytes: 1 + rng.int(20_000) }); await Bun.sleep(rng.int(7000)); unshape(); break;
        case 7: p1.blackhole(true); p2.blackhole(true); await Bun.sleep(rng.int(8000)); p1.blackhole(false); p2.blackhole(false); break;
        case 8: p1.cutAll(); p2.cutAll(); break;
        case 9: {
          const n = rng.chance(0.5) ? a : b;
          await n.cmd({ cmd: "config", sync: { enabled: false } });
          await Bun.sleep(rng.int(1000));
          await n.cmd({ cmd: "config", sync: { enabled: true } });
          break;
        }
        case 10: {
          const n = rng.chance(0.5) ? a : b;
          n.proc.kill("SIGSTOP");
          await Bun.sleep(rng.int(7000));
          n.proc.kill("SIGCONT");
          break;
        }
      }
      await w;
    }
    await converged(a, b, 60_000);
    p1.stop();
    p2.stop();
    await kill(a);
    await kill(b);
  }, 600_000);
});
