// The end of every process-level sync schedule: waits until the pair settled ("in-sync"
// with no lag, a check finds nothing) and then compares `tandem store digest`, runs
// `tandem store verify` on both, and checks neither agent crashed or logged an unhandled
// rejection. Apart from procs.ts because it needs bun:test (the benchmark uses procs.ts).
import { afterAll, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digest, startNode, verify, waitUntil, type NodeSpec, type SyncNode } from "./procs.ts";

/** A test file's agents and their scratch root: whatever is still running when the file
 *  ends is SIGKILLed and the root removed. */
export function fleet(name: string) {
  const root = mkdtempSync(join(tmpdir(), `tandem-sync-${name}-`));
  const live = new Set<SyncNode>();
  afterAll(async () => {
    for (const n of live) await n.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    async start(spec: NodeSpec): Promise<SyncNode> {
      const n = await startNode(spec);
      live.add(n);
      return n;
    },
    async kill(n: SyncNode, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
      await n.kill(signal);
      live.delete(n);
    },
  };
}

const crashLine = /unhandled|uncaught|TypeError|RangeError|ReferenceError|panic|segmentation fault/i;
/** The agent is alive and its log holds no crash or unhandled rejection. */
export function expectNoCrash(n: SyncNode): void {
  expect(n.alive()).toBe(true);
  expect(n.log().split("\n").filter((l) => crashLine.test(l))).toEqual([]);
}

/** Both "in-sync" with no lag, a check finds nothing, digests equal, verify clean, no crash. */
export async function converged(a: SyncNode, b: SyncNode, timeoutMs = 60_000): Promise<void> {
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
  // At capacity a check can itself cause evictions; repeat until one finds nothing to do.
  await waitUntil(async () => {
    const c = (await a.cmd({ cmd: "check" })).check;
    return c.inSync && (await a.cmd({ cmd: "count" })).count === (await b.cmd({ cmd: "count" })).count;
  }, 30_000, "a check that finds the stores equal", 300);
  expect(await digest(b.spec.dir)).toBe(await digest(a.spec.dir));
  for (const n of [a, b]) {
    const v = await verify(n.spec.dir);
    expect(v.out).toContain("corrupt 0");
    expect(v.code).toBe(0);
    expectNoCrash(n);
  }
}
