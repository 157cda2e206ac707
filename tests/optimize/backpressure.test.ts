// Backpressure end to end, seen from the source: a fast HTTP server streams 128 MiB
// through a real appliance pair, over a slow emulated WAN and to a slow client (curl
// --limit-rate), with incompressible data (the ops window binds) and with data that
// deduplicates (small frames standing for much data: the covered-bytes window binds).
// If any stage buffered without bound, the server would have handed over (nearly)
// everything within a second; instead what it handed over stays within the named bounds
// (windows, LAN queues, kernel socket buffers) plus what actually got through.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { waitFor, type Agent } from "../helpers/agents.ts";
import { startWanEm, type WanEm } from "../tools/wanem.ts";
import { clientAppliance, generated, net, serverAppliance, tempDir } from "./fixture.ts";

const branchAddr = `${net}.51`;
const dcAddr = `${net}.52`;
const wanAddr = `${net}.53`;
const httpAddr = `${net}.150`;
const totalBytes = 128 * 1024 * 1024;
const blockBytes = 256 * 1024;
/** Bytes the source may have handed over beyond what reached the far end, for
 *  incompressible data: the ops window (4 MiB) + LAN queues (1 + 1 MiB) + frame
 *  reassembly + kernel socket buffers on several loopback hops. */
const slackRandomBytesMax = 32 * 1024 * 1024;
/** The same for deduplicating data: the covered-bytes window (32 MiB) on top. */
const slackDedupBytesMax = 60 * 1024 * 1024;

let tmp: ReturnType<typeof tempDir>;
let http: ReturnType<typeof Bun.serve>;
let wan: WanEm;
let dc: Agent;
let branch: Agent;
let pulled = 0;

beforeAll(async () => {
  tmp = tempDir("backpressure");
  const blocks = Array.from({ length: 16 }, (_, i) => generated(blockBytes, 500 + i));
  http = Bun.serve({
    hostname: httpAddr, port: 0, idleTimeout: 60,
    fetch(request) {
      const url = new URL(request.url);
      const seed = Number(url.searchParams.get("seed") ?? 0);
      const random = url.searchParams.get("kind") === "random";
      let sent = 0;
      return new Response(new ReadableStream({
        pull(controller) {
          if (sent >= totalBytes) return controller.close();
          // random: fresh bytes every block; dedup: 16 blocks over and over (a few bytes differ).
          const block = random
            ? generated(blockBytes, seed * 100_000 + sent / blockBytes + 1)
            : blocks[(sent / blockBytes) % blocks.length]!.slice();
          block[0] = seed;
          new DataView(block.buffer).setUint32(4, sent / blockBytes);
          controller.enqueue(block);
          sent += blockBytes;
          pulled += blockBytes;
        },
      }, { highWaterMark: 0 }), { headers: { "content-length": String(totalBytes) } });
    },
  });
  dc = await serverAppliance(tmp.dir, "dc", dcAddr);
  wan = await startWanEm({ listenHost: wanAddr, targetHost: dcAddr, targetPort: 7800, bandwidthBps: 4_000_000, delayMs: 10 });
  branch = await clientAppliance(tmp.dir, "branch", branchAddr, [
    { listenPort: 8000, dst: { host: httpAddr, port: http.port! }, target: [wanAddr, wan.port] },
    { listenPort: 8001, dst: { host: httpAddr, port: http.port! }, target: [dcAddr, 7800] },
  ]);
}, 60_000);

afterAll(async () => {
  for (const a of [branch, dc]) await a?.stop().catch(() => 0);
  await wan?.stop();
  http?.stop(true);
  tmp?.remove();
});

/** Runs curl for `ms`, then stops it; returns what the source handed over and what curl got. */
async function partialFetch(url: string, extra: string[], ms: number): Promise<{ pulled: number; received: number }> {
  pulled = 0;
  const proc = Bun.spawn(["curl", "-sS", ...extra, url], { stdout: "pipe", stderr: "pipe" });
  let received = 0;
  const reading = (async () => {
    for await (const chunk of proc.stdout) received += chunk.length;
  })();
  await Bun.sleep(ms);
  const result = { pulled, received };
  if (process.env.TANDEM_TEST_VERBOSE) console.log(result);
  proc.kill();
  await reading.catch(() => undefined);
  await proc.exited;
  return result;
}

test("slow WAN, incompressible data: the source is held back, not drained into memory", async () => {
  const r = await partialFetch(`http://${branchAddr}:8000/?seed=1&kind=random`, [], 4000);
  expect(r.received).toBeGreaterThan(0);
  expect(r.pulled).toBeLessThan(r.received + slackRandomBytesMax);
}, 30_000);

test("slow client, incompressible data: the source is held back", async () => {
  const r = await partialFetch(`http://${branchAddr}:8001/?seed=2&kind=random`, ["--limit-rate", "500K"], 4000);
  expect(r.received).toBeGreaterThan(0);
  expect(r.pulled).toBeLessThan(r.received + slackRandomBytesMax);
}, 30_000);

test("slow client, deduplicating data: the source is held back by the covered-bytes window", async () => {
  const r = await partialFetch(`http://${branchAddr}:8001/?seed=3&kind=dedup`, ["--limit-rate", "500K"], 4000);
  expect(r.received).toBeGreaterThan(0);
  expect(r.pulled).toBeLessThan(r.received + slackDedupBytesMax);
  expect(r.pulled).toBeLessThan(totalBytes * 0.75);
}, 30_000);

test("clients killed mid-transfer leave no connection behind on either appliance", async () => {
  for (const agent of [branch, dc]) {
    expect(await waitFor(async () => (await (await agent.control()).stats()).connectionsCurrent === 0, 15_000)).toBe(true);
  }
}, 40_000);
