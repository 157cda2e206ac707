// WAN benchmark of the optimization service (`npm run bench:wan`). A real-data corpus
// (≥ 64 MiB of unpacked npm tarballs, tests/bench/corpus.ts) is served over HTTP and
// fetched with curl: directly through the WAN emulator (20 Mbit/s, 40 ms RTT), then
// through a branch/data-centre appliance pair whose inner channel crosses the same
// emulated WAN, cold (fresh stores) and warm (the same again); and on plain loopback
// (a second rule straight to the data centre) warm. Prints progress lines, then one
// JSON object last: direct_s, cold_s, warm_s, cold_speedup, warm_speedup,
// lan_warm_mbps (medians of 3 warm runs; best runs too) and the bytes that crossed the WAN.
import { join } from "node:path";
import { realCorpus } from "./corpus.ts";
import { clientAppliance, net, serverAppliance, sha256, tempDir } from "../optimize/fixture.ts";
import { startWanEm } from "../tools/wanem.ts";

const corpusBytes = Number(process.env.TANDEM_BENCH_WAN_BYTES ?? 64 * 1024 * 1024);
const wan = { bandwidthBps: 20_000_000, delayMs: 20 };
const httpAddr = `${net}.200`;
const directWanAddr = `${net}.201`;
const dcAddr = `${net}.202`;
const branchAddr = `${net}.203`;
const channelWanAddr = `${net}.204`;

/** Warm transfers (through the pair, and on loopback) each; the median is reported. */
const warmRunsCount = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const corpus = realCorpus(corpusBytes);
const corpusSha = sha256(corpus);
const http = Bun.serve({
  hostname: httpAddr, port: 0, idleTimeout: 255,
  fetch: () => new Response(corpus as Uint8Array<ArrayBuffer>),
});
const tmp = tempDir("bench-wan");

/** One timed fetch; the body goes to /dev/null so the timing holds no hashing work of ours. */
async function fetchTimed(url: string): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "600", "-o", "/dev/null", "-w", "%{size_download}", url], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`curl ${url} failed (${code}): ${err}`);
  if (Number(out) !== corpus.length) throw new Error(`curl ${url}: ${out} bytes, expected ${corpus.length}`);
  return { seconds, bytes: Number(out) };
}

/** An untimed fetch whose body is checked against the corpus (sha256). */
async function fetchVerified(url: string): Promise<void> {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "600", url], { stdout: "pipe", stderr: "pipe" });
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of proc.stdout) hasher.update(chunk);
  if ((await proc.exited) !== 0) throw new Error(`curl ${url} failed: ${await new Response(proc.stderr).text()}`);
  if (hasher.digest("hex") !== corpusSha) throw new Error(`curl ${url}: body differs from the corpus`);
}

const directWan = await startWanEm({ listenHost: directWanAddr, targetHost: httpAddr, targetPort: http.port!, ...wan });
const channelWan = await startWanEm({ listenHost: channelWanAddr, targetHost: dcAddr, targetPort: 7800, ...wan });
const dc = await serverAppliance(tmp.dir, "dc", dcAddr);
const branch = await clientAppliance(join(tmp.dir), "branch", branchAddr, [
  { listenPort: 8000, dst: { host: httpAddr, port: http.port! }, target: [channelWanAddr, channelWan.port] },
  { listenPort: 8001, dst: { host: httpAddr, port: http.port! }, target: [dcAddr, 7800] },
]);

try {
  console.log(`corpus ${corpus.length} bytes; WAN ${wan.bandwidthBps / 1e6} Mbit/s, ${wan.delayMs * 2} ms RTT`);
  const direct = await fetchTimed(`http://${directWanAddr}:${directWan.port}/`);
  console.log(`direct through the emulator: ${direct.seconds.toFixed(2)} s`);
  const wanBefore = channelWan.stats();
  const cold = await fetchTimed(`http://${branchAddr}:8000/`);
  const wanCold = channelWan.stats();
  console.log(`cold through the pair: ${cold.seconds.toFixed(2)} s, WAN bytes ${wanCold.bytesDown - wanBefore.bytesDown}`);
  const warmRuns: number[] = [];
  for (let i = 0; i < warmRunsCount; i++) warmRuns.push((await fetchTimed(`http://${branchAddr}:8000/`)).seconds);
  const wanWarm = channelWan.stats();
  const warm = { seconds: median(warmRuns) };
  console.log(`warm through the pair: ${warmRuns.map((s) => s.toFixed(3)).join(", ")} s, WAN bytes ${(wanWarm.bytesDown - wanCold.bytesDown) / warmRunsCount} per run`);
  const lanRuns: number[] = [];
  for (let i = 0; i < warmRunsCount; i++) lanRuns.push((await fetchTimed(`http://${branchAddr}:8001/`)).seconds);
  const lanMedian = median(lanRuns);
  console.log(`warm on loopback: ${lanRuns.map((s) => s.toFixed(3)).join(", ")} s`);
  // Correctness of what the timed runs moved: both paths once more, hashed end to end.
  await fetchVerified(`http://${branchAddr}:8000/`);
  await fetchVerified(`http://${branchAddr}:8001/`);
  console.log("verified: both paths deliver the corpus intact (sha256)");
  const result = {
    bench: "wan",
    corpus_bytes: corpus.length,
    wan_mbps: wan.bandwidthBps / 1e6,
    rtt_ms: wan.delayMs * 2,
    direct_s: +direct.seconds.toFixed(3),
    cold_s: +cold.seconds.toFixed(3),
    warm_s: +warm.seconds.toFixed(3),
    cold_speedup: +(direct.seconds / cold.seconds).toFixed(2),
    warm_speedup: +(direct.seconds / warm.seconds).toFixed(2),
    cold_wan_bytes: wanCold.bytesDown - wanBefore.bytesDown + wanCold.bytesUp - wanBefore.bytesUp,
    warm_best_s: +Math.min(...warmRuns).toFixed(3),
    warm_wan_bytes: Math.round((wanWarm.bytesDown - wanCold.bytesDown + wanWarm.bytesUp - wanCold.bytesUp) / warmRunsCount),
    lan_warm_mbps: +((corpus.length * 8) / lanMedian / 1e6).toFixed(1),
    lan_warm_best_mbps: +((corpus.length * 8) / Math.min(...lanRuns) / 1e6).toFixed(1),
    targets: { warm_speedup: 100, cold_speedup: 2, lan_warm_mbps: 300 },
  };
  console.log(JSON.stringify(result));
} finally {
  if (process.env.TANDEM_BENCH_VERBOSE) for (const a of [dc, branch]) console.error(`--- ${a.spec.name}\n${a.output()}`);
  await branch.stop().catch(() => 0);
  await dc.stop().catch(() => 0);
  await directWan.stop();
  await channelWan.stop();
  http.stop(true);
  tmp.remove();
}
