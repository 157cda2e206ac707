// Interactive-latency benchmark of the optimization service (`bun run
// tests/bench/interactive.ts`): a server that speaks first (20-byte banner) and then
// answers 200 length-prefixed requests of 50-500 bytes, reached four ways in the same
// run: directly, through a plain TCP relay process (one extra hop each way, no
// optimization), through two relay processes in a chain (the hops a pair adds), and
// through a branch/data-centre appliance pair on loopback. Each way runs
// `conversationsCount` conversations; prints per-round-trip medians and p99s and the
// time to the banner, then one JSON object last with the latency the pair adds per
// round trip over the direct path and over the relay, and the WAN bytes the pair spent
// per round trip (every conversation repeats the same messages, so after the first
// they are known data: a warm figure). With TANDEM_BENCH_WAN_DELAY_MS=D, the direct path and the pair's inner
// channel each cross a WAN emulator (20 Mbit/s, D ms each way) instead: what the pair
// adds to a real WAN round trip. Binds inside 127.0.12.0/24.
import { join } from "node:path";
import { startAgent } from "../helpers/agents.ts";
import { clientAppliance, ruleLine, serverAppliance, tempDir } from "../optimize/fixture.ts";
import { converse, percentile, startPingPongServer, type Conversation } from "../optimize/interactive.ts";
import { startWanEm } from "../tools/wanem.ts";

const net12 = "127.0.12";
const roundsPerConversation = Number(process.env.TANDEM_BENCH_ROUNDS ?? 200);
const conversationsCount = Number(process.env.TANDEM_BENCH_CONVERSATIONS ?? 5);
const wanDelayMs = process.env.TANDEM_BENCH_WAN_DELAY_MS ? Number(process.env.TANDEM_BENCH_WAN_DELAY_MS) : null;
const wanBandwidthBps = 20_000_000;

const tmp = tempDir("bench-interactive");
const server = await startPingPongServer(`${net12}.200`, 7);

/** A plain relay in its own process (as a proxy on another box would be). */
async function relayProcess(host: string, dst: { host: string; port: number }) {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "optimize", "interactive.ts"), "relay", host, dst.host, String(dst.port)], {
    stdout: "pipe", stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!/relay listening \d+/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`relay exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  return { host, port: Number(/relay listening (\d+)/.exec(text)![1]), stop: () => proc.kill() };
}
// One relay (one extra hop each way), and two in a chain (the hops a pair adds).
const relay = await relayProcess(`${net12}.201`, server);
const relay2 = await relayProcess(`${net12}.204`, relay);
const dc = await serverAppliance(tmp.dir, "dc", `${net12}.202`);
const directWan = wanDelayMs === null ? null : await startWanEm({
  listenHost: `${net12}.207`, targetHost: server.host, targetPort: server.port, delayMs: wanDelayMs, bandwidthBps: wanBandwidthBps,
});
const channelWan = wanDelayMs === null ? null : await startWanEm({
  listenHost: `${net12}.208`, targetHost: `${net12}.202`, targetPort: 7800, delayMs: wanDelayMs, bandwidthBps: wanBandwidthBps,
});
const branch = await clientAppliance(tmp.dir, "branch", `${net12}.203`, [
  { listenPort: 8000, dst: server, target: channelWan ? [channelWan.host, channelWan.port] : [`${net12}.202`, 7800] },
]);
// Optionally a second pair run from another checkout (TANDEM_BENCH_BASELINE=DIR, e.g.
// `git archive` of the commit before a change): an A/B in the same run, interleaved.
const baselineDir = process.env.TANDEM_BENCH_BASELINE;
const baseline = baselineDir ? await (async () => {
  const command = [process.execPath, join(baselineDir, "agent", "main.ts")];
  const bdc = await startAgent({ name: "base-dc", dir: join(tmp.dir, "base-dc"), command, configLines: [
    "hostname base-dc", `interface primary address ${net12}.205`, `interface inpath address ${net12}.205`] });
  const bbranch = await startAgent({ name: "base-branch", dir: join(tmp.dir, "base-branch"), command, configLines: [
    "hostname base-branch", `interface primary address ${net12}.206`, `interface inpath address ${net12}.206`,
    ruleLine({ listenPort: 8000, dst: server, target: [`${net12}.205`, 7800] })] });
  return [bdc, bbranch];
})() : [];

interface Figures { rtt_p50_ms: number; rtt_p99_ms: number; rtt_mean_ms: number; banner_p50_ms: number }

async function measure(name: string, host: string, port: number, conversations: Conversation[] = []): Promise<Figures> {
  const all = conversations;
  for (let c = all.length; c < conversationsCount; c++) all.push(await converse(host, port, 7, roundsPerConversation));
  const rtts = all.flatMap((c) => c.roundTripsMs);
  const figures = {
    rtt_p50_ms: percentile(rtts, 0.5), rtt_p99_ms: percentile(rtts, 0.99),
    rtt_mean_ms: rtts.reduce((a, b) => a + b, 0) / rtts.length,
    banner_p50_ms: percentile(all.map((c) => c.bannerMs), 0.5),
  };
  console.log(`${name}: round trip p50 ${figures.rtt_p50_ms.toFixed(3)} ms, p99 ${figures.rtt_p99_ms.toFixed(3)} ms, ` +
    `mean ${figures.rtt_mean_ms.toFixed(3)} ms; banner p50 ${figures.banner_p50_ms.toFixed(3)} ms`);
  return figures;
}

try {
  // One conversation through the pair first: the first connection pays JIT warm-up.
  await converse(`${net12}.203`, 8000, 7, roundsPerConversation);
  const direct = directWan ? await measure("direct through the WAN", directWan.host, directWan.port) : await measure("direct", server.host, server.port);
  const relayed = await measure("relay", relay.host, relay.port);
  const chained = await measure("two relays", relay2.host, relay2.port);
  let pair: Figures;
  let base: Figures | undefined;
  let wanBytesPerRoundTrip: number | undefined;
  let lanBytesPerRoundTrip: number | undefined;
  if (baseline.length > 0) {
    await converse(`${net12}.206`, 8000, 7, roundsPerConversation);
    const mine: Conversation[] = [];
    const theirs: Conversation[] = [];
    for (let c = 0; c < conversationsCount; c++) {
      mine.push(await converse(`${net12}.203`, 8000, 7, roundsPerConversation));
      theirs.push(await converse(`${net12}.206`, 8000, 7, roundsPerConversation));
    }
    pair = await measure("pair", `${net12}.203`, 8000, mine);
    base = await measure("baseline pair", `${net12}.206`, 8000, theirs);
  } else {
    const control = await branch.control();
    const before = await control.stats();
    pair = await measure("pair", `${net12}.203`, 8000);
    const after = await control.stats();
    const wan = after.wanBytesIn + after.wanBytesOut - before.wanBytesIn - before.wanBytesOut;
    const lan = after.lanBytesIn + after.lanBytesOut - before.lanBytesIn - before.lanBytesOut;
    wanBytesPerRoundTrip = wan / (conversationsCount * roundsPerConversation);
    lanBytesPerRoundTrip = lan / (conversationsCount * roundsPerConversation);
    console.log(`pair: ${wanBytesPerRoundTrip.toFixed(0)} WAN bytes per round trip for ${lanBytesPerRoundTrip.toFixed(0)} LAN bytes`);
  }
  if (server.mismatches !== 0) throw new Error(`${server.mismatches} requests arrived altered`);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({
    rounds: roundsPerConversation, conversations: conversationsCount, wan_delay_ms: wanDelayMs,
    direct_rtt_p50_ms: round(direct.rtt_p50_ms), relay_rtt_p50_ms: round(relayed.rtt_p50_ms),
    two_relays_rtt_p50_ms: round(chained.rtt_p50_ms), pair_rtt_p50_ms: round(pair.rtt_p50_ms),
    pair_rtt_p99_ms: round(pair.rtt_p99_ms), pair_rtt_mean_ms: round(pair.rtt_mean_ms),
    added_vs_direct_p50_ms: round(pair.rtt_p50_ms - direct.rtt_p50_ms),
    added_vs_relay_p50_ms: round(pair.rtt_p50_ms - relayed.rtt_p50_ms),
    added_vs_two_relays_p50_ms: round(pair.rtt_p50_ms - chained.rtt_p50_ms),
    ...(base ? { baseline_rtt_p50_ms: round(base.rtt_p50_ms), baseline_rtt_p99_ms: round(base.rtt_p99_ms), baseline_rtt_mean_ms: round(base.rtt_mean_ms) } : {}),
    ...(wanBytesPerRoundTrip !== undefined ? { pair_wan_bytes_per_round_trip: Math.round(wanBytesPerRoundTrip), lan_bytes_per_round_trip: Math.round(lanBytesPerRoundTrip!) } : {}),
    banner_direct_ms: round(direct.banner_p50_ms), banner_relay_ms: round(relayed.banner_p50_ms), banner_pair_ms: round(pair.banner_p50_ms),
  }));
} finally {
  for (const a of baseline) await a.stop();
  await branch.stop();
  await dc.stop();
  await directWan?.stop();
  await channelWan?.stop();
  relay.stop();
  relay2.stop();
  server.stop();
  tmp.remove();
}
