// WAN benchmark of the optimization service (`npm run bench:wan`). A real-data corpus
// (≥ 64 MiB of unpacked npm tarballs, tests/bench/corpus.ts) is served over HTTP and
// fetched with curl: directly through the WAN emulator (20 Mbit/s, 40 ms RTT), then
// through a branch/data-centre appliance pair whose inner channel crosses the same
// emulated WAN, cold (fresh stores) and warm (the same again); and on plain loopback
// (a second rule straight to the data centre) warm. Prints progress lines, then one
// JSON object last: direct_s, cold_s, warm_s, cold_speedup, warm_speedup,
// lan_warm_mbps in MB/s (medians of 3 warm runs; best runs too) next to lan_direct_mbps
// (the same fetch straight from the HTTP server, no appliances), and the bytes that
// crossed the WAN. lan_cold_mbps: new data on plain loopback, i.e. data neither store
// has seen (the prettier 3.3.3 + 3.4.2 tars, which the typescript corpus does not
// hold), fetched once through the loopback rule: the optimizer's cold path at LAN speed,
// next to lan_cold_direct_mbps (the same body straight from the HTTP server).
// Times are curl's own (time_total); warm_wall_s also counts starting the curl process.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageTar, realCorpus } from "./corpus.ts";
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
/** Data new to both stores for the loopback cold fetch (served at coldPath). */
const coldBody = new Uint8Array(Buffer.concat([readFileSync(packageTar("prettier", "3.3.3")), readFileSync(packageTar("prettier", "3.4.2"))]));
const coldSha = sha256(coldBody);
const coldPath = "/cold";
const http = Bun.serve({
  hostname: httpAddr, port: 0, idleTimeout: 255,
  fetch: (req) => new Response((new URL(req.url).pathname === coldPath ? coldBody : corpus) as Uint8Array<ArrayBuffer>),
});
const tmp = tempDir("bench-wan");

/** CPU seconds (user + system) a process has used so far, from /proc (NaN elsewhere). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** One timed fetch; the body goes to /dev/null so the timing holds no hashing work of ours.
 *  `seconds` is curl's own time_total (connect to last byte); `wallSeconds` also holds
 *  starting the curl process (10-30 ms on this loaded machine: ~5% of a warm fetch). */
async function fetchTimed(url: string, expectedBytes = corpus.length): Promise<{ seconds: number; wallSeconds: number; bytes: number }> {
  const started = performance.now();
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "600", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const wallSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`curl ${url} failed (${code}): ${err}`);
  const [size, total] = out.trim().split(" ").map(Number);
  if (size !== expectedBytes) throw new Error(`curl ${url}: ${out} bytes, expected ${expectedBytes}`);
  return { seconds: total!, wallSeconds, bytes: size! };
}

/** An untimed fetch whose body is checked against the corpus (sha256). */
async function fetchVerified(url: string, sha = corpusSha): Promise<void> {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "600", url], { stdout: "pipe", stderr: "pipe" });
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of proc.stdout) hasher.update(chunk);
  if ((await proc.exited) !== 0) throw new Error(`curl ${url} failed: ${await new Response(proc.stderr).text()}`);
  if (hasher.digest("hex") !== sha) throw new Error(`curl ${url}: body differs from what was served`);
}

const directWan = await startWanEm({ listenHost: directWanAddr, targetHost: httpAddr, targetPort: http.port!, ...wan });
const channelWan = await startWanEm({ listenHost: channelWanAddr, targetHost: dcAddr, targetPort: 7800, ...wan });
const dc = await serverAppliance(tmp.dir, "dc", dcAddr);
const branch = await clientAppliance(join(tmp.dir), "branch", branchAddr, [
  { listenPort: 8000, dst: { host: httpAddr, port: http.port! }, target: [channelWanAddr, channelWan.port] },
  { listenPort: 8001, dst: { host: httpAddr, port: http.port! }, target: [dcAddr, 7800] },
]);

try {
  // Another run of this benchmark on the machine holds the same addresses: the appliances
  // then cannot listen, and the fetches would measure the other run's appliances.
  for (const a of [dc, branch]) {
    const line = /^.*cannot listen.*$/m.exec(a.output());
    if (line) throw new Error(`${a.spec.name}: ${line[0]} (is another bench:wan running?)`);
  }
  console.log(`corpus ${corpus.length} bytes; WAN ${wan.bandwidthBps / 1e6} Mbit/s, ${wan.delayMs * 2} ms RTT`);
  const direct = await fetchTimed(`http://${directWanAddr}:${directWan.port}/`);
  console.log(`direct through the emulator: ${direct.seconds.toFixed(2)} s`);
  const wanBefore = channelWan.stats();
  const cold = await fetchTimed(`http://${branchAddr}:8000/`);
  const wanCold = channelWan.stats();
  console.log(`cold through the pair: ${cold.seconds.toFixed(2)} s, WAN bytes ${wanCold.bytesDown - wanBefore.bytesDown}`);
  const warmRuns: number[] = [];
  const warmWallRuns: number[] = [];
  // CPU per warm run of each appliance and of this process (HTTP server + WAN emulator):
  // on a shared machine the wall time varies a lot, CPU time much less.
  const warmCpu: { dc: number[]; branch: number[]; bench: number[] } = { dc: [], branch: [], bench: [] };
  for (let i = 0; i < warmRunsCount; i++) {
    const before = { dc: cpuSeconds(dc.proc.pid), branch: cpuSeconds(branch.proc.pid), bench: process.cpuUsage() };
    const run = await fetchTimed(`http://${branchAddr}:8000/`);
    warmRuns.push(run.seconds);
    warmWallRuns.push(run.wallSeconds);
    warmCpu.dc.push(cpuSeconds(dc.proc.pid) - before.dc);
    warmCpu.branch.push(cpuSeconds(branch.proc.pid) - before.branch);
    const bench = process.cpuUsage(before.bench);
    warmCpu.bench.push((bench.user + bench.system) / 1e6);
  }
  const wanWarm = channelWan.stats();
  const warm = { seconds: median(warmRuns) };
  console.log(`warm through the pair: ${warmRuns.map((s) => s.toFixed(3)).join(", ")} s (with curl's start ${warmWallRuns.map((s) => s.toFixed(3)).join(", ")}), ` +
    `WAN bytes ${(wanWarm.bytesDown - wanCold.bytesDown) / warmRunsCount} per run; CPU s per run: ` +
    Object.entries(warmCpu).map(([k, v]) => `${k} ${v.map((x) => x.toFixed(2)).join("/")}`).join(", "));
  const lanRuns: number[] = [];
  for (let i = 0; i < warmRunsCount; i++) lanRuns.push((await fetchTimed(`http://${branchAddr}:8001/`)).seconds);
  const lanMedian = median(lanRuns);
  console.log(`warm on loopback: ${lanRuns.map((s) => s.toFixed(3)).join(", ")} s`);
  const lanDirectRuns: number[] = [];
  for (let i = 0; i < warmRunsCount; i++) lanDirectRuns.push((await fetchTimed(`http://${httpAddr}:${http.port}/`)).seconds);
  console.log(`direct on loopback (no appliances): ${lanDirectRuns.map((s) => s.toFixed(3)).join(", ")} s`);
  // Cold on loopback: once only (the fetch teaches both stores the data).
  const lanCold = await fetchTimed(`http://${branchAddr}:8001${coldPath}`, coldBody.length);
  const lanColdDirect = await fetchTimed(`http://${httpAddr}:${http.port}${coldPath}`, coldBody.length);
  console.log(`cold on loopback: ${lanCold.seconds.toFixed(3)} s (${coldBody.length} new bytes; direct ${lanColdDirect.seconds.toFixed(3)} s)`);
  // Correctness of what the timed runs moved: both paths once more, hashed end to end.
  await fetchVerified(`http://${branchAddr}:8000/`);
  await fetchVerified(`http://${branchAddr}:8001/`);
  await fetchVerified(`http://${branchAddr}:8001${coldPath}`, coldSha);
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
    warm_wall_s: +median(warmWallRuns).toFixed(3),
    warm_cpu_s: Object.fromEntries(Object.entries(warmCpu).map(([k, v]) => [k, +median(v).toFixed(2)])),
    warm_wan_bytes: Math.round((wanWarm.bytesDown - wanCold.bytesDown + wanWarm.bytesUp - wanCold.bytesUp) / warmRunsCount),
    lan_warm_mbps: +(corpus.length / lanMedian / 1e6).toFixed(1),
    lan_warm_best_mbps: +(corpus.length / Math.min(...lanRuns) / 1e6).toFixed(1),
    lan_direct_mbps: +(corpus.length / median(lanDirectRuns) / 1e6).toFixed(1),
    lan_cold_mbps: +(coldBody.length / lanCold.seconds / 1e6).toFixed(1),
    lan_cold_direct_mbps: +(coldBody.length / lanColdDirect.seconds / 1e6).toFixed(1),
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
