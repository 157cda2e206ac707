// A 2 GiB transfer through a real appliance pair in bounded memory. The HTTP server
// generates the body on the fly (64 distinct 1 MiB blocks in a seeded order, so the
// stream is long but the stores stay small), curl fetches it through the pair, the
// test hashes what arrives, and the resident set size of both appliance processes is
// sampled throughout: it must stay far below the bytes moved (bounded queues, windows
// and backpressure), and the bytes must arrive intact.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Agent } from "../helpers/agents.ts";
import { clientAppliance, generated, net, rssBytes, serverAppliance, tempDir } from "./fixture.ts";

const branchAddr = `${net}.21`;
const dcAddr = `${net}.22`;
const httpAddr = `${net}.120`;
const blockBytes = 1024 * 1024;
const blocks = Array.from({ length: 64 }, (_, i) => generated(blockBytes, 9000 + i));
const totalBytes = 2 * 1024 * 1024 * 1024;
/** Peak RSS allowed per appliance process: half the 2 GiB that crosses it. Measured
 *  peaks are 600-750 MiB, mostly garbage the JS heap has not collected yet and LMDB
 *  pages; the service's own queues stay below ~10 MiB per connection (window 4 MiB,
 *  LAN input 1 MiB, LAN backlog 1 MiB, one frame's output ≤ 8 MiB + a segment). */
const rssBytesMax = 1024 * 1024 * 1024;

function blockOrder(): () => number {
  let x = 12345;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x % blocks.length;
  };
}

/** The expected sha256 of the whole body, computed the same way the server streams it. */
function expectedSha(): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const next = blockOrder();
  for (let sent = 0; sent < totalBytes; sent += blockBytes) hasher.update(blocks[next()]!);
  return hasher.digest("hex");
}

let tmp: ReturnType<typeof tempDir>;
let http: ReturnType<typeof Bun.serve>;
let dc: Agent;
let branch: Agent;

beforeAll(async () => {
  tmp = tempDir("memory");
  http = Bun.serve({
    hostname: httpAddr, port: 0, idleTimeout: 255,
    fetch() {
      const next = blockOrder();
      let sent = 0;
      return new Response(new ReadableStream({
        pull(controller) {
          if (sent >= totalBytes) return controller.close();
          controller.enqueue(blocks[next()]!.slice());
          sent += blockBytes;
        },
      }), { headers: { "content-length": String(totalBytes) } });
    },
  });
  dc = await serverAppliance(tmp.dir, "dc", dcAddr);
  branch = await clientAppliance(tmp.dir, "branch", branchAddr, [
    { listenPort: 8000, dst: { host: httpAddr, port: http.port! }, target: [dcAddr, 7800] },
  ]);
}, 60_000);

afterAll(async () => {
  for (const a of [branch, dc]) await a?.stop().catch(() => 0);
  http?.stop(true);
  tmp?.remove();
});

test("2 GiB through the pair: intact, and each appliance's RSS stays bounded", async () => {
  const peaks = { dc: 0, branch: 0 };
  let ticks = 0;
  const sampler = setInterval(() => {
    peaks.dc = Math.max(peaks.dc, rssBytes(dc.proc.pid));
    peaks.branch = Math.max(peaks.branch, rssBytes(branch.proc.pid));
    if (process.env.TANDEM_TEST_VERBOSE && ++ticks % 25 === 0) console.log("rss MiB", Math.round(rssBytes(dc.proc.pid) / 2 ** 20), Math.round(rssBytes(branch.proc.pid) / 2 ** 20));
  }, 200);
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "600", `http://${branchAddr}:8000/big`], { stdout: "pipe", stderr: "pipe" });
  const hasher = new Bun.CryptoHasher("sha256");
  let bytes = 0;
  for await (const chunk of proc.stdout) {
    hasher.update(chunk);
    bytes += chunk.length;
  }
  const code = await proc.exited;
  clearInterval(sampler);
  const stats = await (await branch.control()).stats();
  console.log(JSON.stringify({
    test: "memory-2GiB", bytes, peakRssMiB: { dc: Math.round(peaks.dc / 2 ** 20), branch: Math.round(peaks.branch / 2 ** 20) },
    wanBytesIn: stats.wanBytesIn, reduction: +stats.reduction.toFixed(1),
  }));
  expect(code).toBe(0);
  expect(bytes).toBe(totalBytes);
  expect(hasher.digest("hex")).toBe(expectedSha());
  expect(peaks.dc).toBeGreaterThan(0);
  expect(peaks.dc).toBeLessThan(rssBytesMax);
  expect(peaks.branch).toBeLessThan(rssBytesMax);
}, 300_000);
