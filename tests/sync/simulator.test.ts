// Seeded fault schedules against the pure sync core (tests/sync/simworld.ts): drops
// (session cuts), reorders across directions and timers, delays, partitions, crashes and
// restarts, bit flips, small capacity. After healing: identical key sets, every value
// re-hashes, nothing acknowledged lost, the backup adopted the master's identity, and
// no reconciliation step stalled (tight inbox and push windows, reading paused as on TCP).
// SEED=n replays one schedule; SIMS=n sets how many schedules run (default 1000).
import { describe, expect, test } from "bun:test";
import { World } from "./simworld.ts";

const only = process.env.SEED ? Number(process.env.SEED) : null;
const count = Number(process.env.SIMS ?? 1000);

async function play(seed: number) {
  const variant = seed % 4;
  const world = new World(seed, variant === 1 ? "sync" : "async");
  const v = await world.run({ mode: world.mode, durationMs: 8000 + (seed % 7) * 1000, capacity: variant === 3 ? 60 : undefined });
  return { v, world };
}

describe("sync core simulator", () => {
  test(only !== null ? `seed ${only}` : `${count} seeded fault schedules`, async () => {
    const seeds = only !== null ? [only] : Array.from({ length: count }, (_, i) => 1000 + i);
    const failures: string[] = [];
    let messages = 0;
    for (const seed of seeds) {
      const { v, world } = await play(seed);
      messages += world.messages;
      // A step given up for want of an answer while the link was up is a flow-control stall.
      const problems = [...v, ...world.stalls.map((x) => `stall: ${x}`)];
      if (problems.length > 0) {
        failures.push(`SEED=${seed}: ${problems.slice(0, 3).join("; ")}`);
        if (failures.length >= 5) break;
      }
    }
    if (failures.length > 0) console.error(failures.join("\n"));
    expect(failures).toEqual([]);
    expect(messages).toBeGreaterThan(seeds.length * 10);
  }, 120_000);
});
