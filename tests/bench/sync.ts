// `npm run bench:sync`: data store sync figures, on loopback (127.0.7.100-.109), real
// LMDB stores and real sockets. Prints progress to stderr and one JSON object last:
//   recon_bytes, recon_round_trips, recon_ms  two stores of 1,000,000 segments, each with
//                                             1,000 scattered segments the other lacks
//                                             (bytes: everything on the wire, both ways,
//                                             including the 2,000 small segments moved)
//   initial_sync_mbps vs raw_copy_mbps        a master store of >= 1 GiB into an empty
//                                             backup (harness processes) vs the same bytes
//                                             by a plain TCP copy between two processes
//   disk_write_mbps                           the same bytes written to a file on the
//                                             store's disk and fdatasync'ed, no network:
//                                             the ceiling of any durable copy here
//   resume_overhead                           bytes sent by the master across an initial
//                                             sync interrupted 5 times / uninterrupted
//   lag_p50_ms, lag_p99_ms at ingest_mbps     write call to the backup's durable ack
//   lag_cpu_{master,backup}_s_per_gb          CPU seconds each side spent per GB ingested
// Built stores are cached under ~/.cache/tandem-bench-sync (first run builds them).
// BENCH_SYNC_GIB=n sets the initial-sync store size (default 1); BENCH_SYNC_ONLY=recon|initial|lag
// runs one part (initial: one uninterrupted sync of the cached store); BENCH_SYNC_INGEST_MBPS
// sets the lag run's target rate (default 100).
import { randomBytes } from "node:crypto";
import { closeSync, cpSync, existsSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { hashMany } from "../../agent/store/codec.ts";
import { openSegmentStore, type OpenedStore } from "../../agent/store/index.ts";
import { SyncCore, type SyncClock, type SyncLink } from "../../agent/sync/core.ts";
import { fromWire, toWire } from "../../agent/sync/messages.ts";
import { connectTcp, listenTcp, type Connection } from "../../agent/wire/connection.ts";
import { digest, startNode, waitUntil, type SyncNode } from "../sync/procs.ts";

const cacheDir = join(homedir(), ".cache", "tandem-bench-sync");
const work = mkdtempSync(join(tmpdir(), "tandem-bench-sync-"));
const say = (s: string) => process.stderr.write(`bench:sync ${s}\n`);
const model = "TDM-1000";
const softwareVersion = "0.1.0";

async function open(dir: string): Promise<OpenedStore> {
  return openSegmentStore({ dir, model, softwareVersion, capacityBytes: 64 * 2 ** 30, durable: false });
}

/** Adds n random segments of `size` bytes (half compressible when asked). */
async function fill(store: OpenedStore, n: number, size: number, compressible: boolean): Promise<void> {
  for (let done = 0; done < n;) {
    const k = Math.min(4096, n - done);
    const buf = new Uint8Array(randomBytes(size * k));
    if (compressible) for (let i = 0; i < buf.length; i += 2) buf[i] = 32 + (i % 61);
    const datas = Array.from({ length: k }, (_, i) => buf.subarray(i * size, (i + 1) * size));
    const h = hashMany(datas);
    await store.putSegments(datas.map((d, i) => ({ label: h.slice(i * 32, (i + 1) * 32), data: d })), "local");
    done += k;
  }
  await store.idle();
}

async function cached(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(cacheDir, name);
  if (!existsSync(join(dir, "done"))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    say(`building ${name} (cached for later runs)`);
    await build(dir);
    writeFileSync(join(dir, "done"), "");
  }
  return dir;
}

const realClock: SyncClock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

function linkOf(conn: Connection, core: SyncCore): SyncLink {
  conn.onMessage((raw) => core.receive(fromWire(raw)));
  return {
    send: (m) => {
      const before = conn.bytesQueuedTotal;
      conn.send(toWire(m)).catch(() => undefined);
      return conn.bytesQueuedTotal - before;
    },
    writable: () => conn.writable,
    close: (r) => conn.close(r),
    pause: () => conn.pauseReading(),
    resume: () => conn.resumeReading(),
  };
}

// ---------------------------------------------------------------- reconciliation
async function benchRecon(): Promise<{ recon_bytes: number; recon_round_trips: number; recon_ms: number }> {
  const n = 1_000_000;
  const diff = 1000;
  const base = await cached("recon-base-999k", async (dir) => {
    const s = await open(dir);
    await fill(s, n - diff, 16, false);
    await s.close();
  });
  const dirs = [join(work, "ra"), join(work, "rb")];
  const stores: OpenedStore[] = [];
  for (const d of dirs) {
    cpSync(base, d, { recursive: true });
    const s = await open(d);
    await fill(s, diff, 16, false); // 1,000 scattered (random labels) that only this side has
    stores.push(s);
  }
  const [sa, sb] = stores as [OpenedStore, OpenedStore];
  // Paired already: same storeId, each knows the other's generation, backup done.
  const ia = sa.identity();
  const ib = sb.identity();
  await sa.setIdentity({ ...ia, peerGeneration: ib.generation });
  await sb.setIdentity({ ...ib, storeId: ia.storeId, peerGeneration: ia.generation });
  await sb.putMeta("sync.initialDone", ia.generation);
  const opts = { mode: "async" as const, scrub: false, reconOnConnect: false };
  const ca = new SyncCore(sa, realClock, { ...opts, role: "master" });
  const cb = new SyncCore(sb, realClock, { ...opts, role: "backup" });
  say("indexing 2 x 1,000,000 keys");
  ca.start();
  cb.start();
  let serverConn: Connection | null = null;
  const l = listenTcp("127.0.7.100", 0, (c) => (serverConn = c));
  const clientConn = await connectTcp("127.0.7.100", l.port);
  await waitUntil(async () => serverConn, 5000, "server side");
  ca.attach(linkOf(clientConn, ca));
  cb.attach(linkOf(serverConn!, cb));
  await waitUntil(async () => ca.paired && cb.paired, 10_000, "paired session");
  const before = clientConn.bytesSent + clientConn.bytesReceived;
  const t0 = performance.now();
  const r = await ca.checkNow();
  const ms = performance.now() - t0;
  await Bun.sleep(50);
  const bytes = clientConn.bytesSent + clientConn.bytesReceived - before;
  say(`recon: ${r.missingHere} fetched, ${r.missingThere} sent, ${r.roundTrips} round trips, ${bytes} bytes, ${ms.toFixed(0)} ms`);
  if (r.missingHere !== diff || r.missingThere !== diff) throw new Error(`reconciliation found ${r.missingHere}/${r.missingThere}, expected ${diff}/${diff}`);
  const again = await ca.checkNow();
  if (!again.inSync) throw new Error("second check not in sync");
  ca.stop();
  cb.stop();
  l.stop();
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  return { recon_bytes: bytes, recon_round_trips: r.roundTrips, recon_ms: Math.round(ms) };
}

// ---------------------------------------------------------------- raw copy
async function rawCopy(bytes: number): Promise<number> {
  const script = `
    let got = 0; const want = ${bytes};
    const l = Bun.listen({ hostname: "127.0.7.101", port: 0, socket: { data(s, d) { got += d.length; if (got >= want) { console.log("done"); process.exit(0); } } } });
    console.log("port " + l.port);`;
  const rx = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe" });
  const reader = rx.stdout.getReader();
  let text = "";
  while (!/port \d+/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  const port = Number(text.match(/port (\d+)/)![1]);
  const chunk = new Uint8Array(randomBytes(256 * 1024));
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    const pump = (s: import("bun").Socket) => {
      while (sent < bytes) {
        const want = Math.min(chunk.length, bytes - sent);
        const n = s.write(chunk.subarray(0, want));
        sent += Math.max(0, n);
        if (n < want) return; // the rest on drain
      }
      resolve();
    };
    void Bun.connect({ hostname: "127.0.7.101", port, socket: { open: pump, drain: pump, data() {} } });
  });
  await rx.exited;
  return bytes / 1e6 / ((performance.now() - t0) / 1000);
}

// ---------------------------------------------------------------- durable write floor
function diskWrite(bytes: number): number {
  const chunk = new Uint8Array(randomBytes(4 * 1024 * 1024));
  const path = join(work, "disk-write-floor");
  const fd = openSync(path, "w");
  const t0 = performance.now();
  try {
    for (let written = 0; written < bytes; written += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const mbps = bytes / 1e6 / ((performance.now() - t0) / 1000);
  rmSync(path, { force: true });
  return mbps;
}

// ---------------------------------------------------------------- initial sync and resume
async function initialSync(masterBase: string, interruptions: number, expectedMs: number, tag: string) {
  const dirA = join(work, `ia-${tag}`);
  const dirB = join(work, `ib-${tag}`);
  cpSync(masterBase, dirA, { recursive: true });
  const port = 17750;
  const specA = { name: "IA", dir: dirA, addr: "127.0.7.102", role: "master" as const, peer: "127.0.7.103", port, extra: ["--scrub-ms", "3600000", "--capacity-mb", "65536"] };
  const specB = { name: "IB", dir: dirB, addr: "127.0.7.103", role: "backup" as const, peer: "127.0.7.102", port, extra: ["--scrub-ms", "3600000", "--capacity-mb", "65536"] };
  const a = await startNode(specA);
  const storedBytes = (await a.status(), (await a.cmd({ cmd: "count" })).count);
  void storedBytes;
  const t0 = performance.now();
  let b: SyncNode = await startNode(specB);
  for (let i = 0; i < interruptions; i++) {
    await Bun.sleep(expectedMs / (interruptions + 1));
    await b.kill("SIGKILL");
    b = await startNode(specB);
  }
  // The backup watches its own state (polling it over the pipe would load both sides).
  await waitUntil(async () => (await b.cmd({ cmd: "until", state: "in-sync", timeoutMs: 30_000 })).reached, 600_000, "initial sync", 0);
  const ms = performance.now() - t0;
  const sent = (await a.status()).sentBytes as number;
  // CPU seconds of each side (user + system, whole process life): tells a CPU-bound
  // transfer from one that waits on round trips or the disk.
  const cpuS = async (n: SyncNode) => {
    const c = (await n.cmd({ cmd: "cpu" })).cpu as { user: number; system: number };
    return Math.round((c.user + c.system) / 1e4) / 100;
  };
  say(`${tag}: ${(ms / 1000).toFixed(1)} s; cpu master ${await cpuS(a)} s, backup ${await cpuS(b)} s (last life)`);
  const same = (await digest(dirA)) === (await digest(dirB));
  // A profiled run (SYNC_HARNESS_PROF) needs a clean exit to write its profiles.
  const stop = process.env.SYNC_HARNESS_PROF ? "SIGTERM" : "SIGKILL";
  await a.kill(stop);
  await b.kill(stop);
  if (!same) throw new Error("initial sync: digests differ");
  return { ms, sent, dirA, dirB };
}

async function lag(): Promise<Record<string, number>> {
  const port = 17751;
  const a = await startNode({ name: "LA", dir: join(work, "la"), addr: "127.0.7.104", role: "master", peer: "127.0.7.105", port, extra: ["--scrub-ms", "3600000", "--capacity-mb", "65536"] });
  const b = await startNode({ name: "LB", dir: join(work, "lb"), addr: "127.0.7.105", role: "backup", peer: "127.0.7.104", port, extra: ["--scrub-ms", "3600000", "--capacity-mb", "65536"] });
  await waitUntil(async () => (await a.status()).state === "in-sync", 30_000, "pairing");
  // At the target rate (100 MB/s; the generator gets what the machine allows), then at a
  // modest rate the pair sustains, to tell queueing from the replication path's own delay.
  // CPU seconds each side spent on the run (ingest until the last ack): whether the pair
  // ran out of cores, which is what turns a rate the backup cannot follow into queueing.
  const cpuS = async (n: SyncNode) => {
    const c = (await n.cmd({ cmd: "cpu" })).cpu as { user: number; system: number };
    return (c.user + c.system) / 1e6;
  };
  const [a0, b0, t0] = [await cpuS(a), await cpuS(b), performance.now()];
  const size = 8192;
  const r = await a.cmd({ cmd: "ingest", mbps: Number(process.env.BENCH_SYNC_INGEST_MBPS ?? 100), seconds: 6, size });
  const wallS = (performance.now() - t0) / 1000;
  const [aS, bS] = [await cpuS(a) - a0, await cpuS(b) - b0];
  // Per GB ingested: comparable across runs that reached different rates on a busy machine.
  const gb = (r.segments * size) / 1e9;
  say(`lag: ingest ${r.mbps.toFixed(1)} MB/s, ${r.segments} segments, p50 ${r.p50} ms, p99 ${r.p99} ms, unacked ${r.unacked}; ` +
    `cpu over ${wallS.toFixed(1)} s: master ${aS.toFixed(1)} s, backup ${bS.toFixed(1)} s (${(aS / gb).toFixed(1)} and ${(bS / gb).toFixed(1)} s per GB)`);
  const m = await a.cmd({ cmd: "ingest", mbps: 10, seconds: 4, size: 8192 });
  say(`lag: ingest ${m.mbps.toFixed(1)} MB/s, ${m.segments} segments, p50 ${m.p50} ms, p99 ${m.p99} ms, unacked ${m.unacked}`);
  await a.kill("SIGTERM");
  await b.kill("SIGTERM");
  return {
    lag_p50_ms: r.p50, lag_p99_ms: r.p99, ingest_mbps: Math.round(r.mbps * 10) / 10,
    lag_cpu_master_s_per_gb: Math.round((aS / gb) * 10) / 10, lag_cpu_backup_s_per_gb: Math.round((bS / gb) * 10) / 10,
    lag_at_10mbps_p50_ms: m.p50, lag_at_10mbps_p99_ms: m.p99,
  };
}

if (process.env.BENCH_SYNC_ONLY === "initial") {
  // Iterating on the initial sync alone: one uninterrupted run of the cached store.
  const gib = Number(process.env.BENCH_SYNC_GIB ?? 1);
  const masterBase = join(cacheDir, `initial-${gib}gib`);
  if (!existsSync(join(masterBase, "done"))) throw new Error(`build ${masterBase} with a full run first`);
  const probe = await open(masterBase);
  const stored = probe.stats().storedBytes;
  await probe.close();
  const once = await initialSync(masterBase, 0, 0, "once");
  say(`initial sync: ${(once.ms / 1000).toFixed(1)} s, ${(stored / 1e6 / (once.ms / 1000)).toFixed(0)} MB/s at rest`);
  console.log(JSON.stringify({ initial_sync_mbps: Math.round(stored / 1e6 / (once.ms / 1000)), initial_sync_ms: Math.round(once.ms) }));
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
if (process.env.BENCH_SYNC_ONLY === "recon") {
  console.log(JSON.stringify(await benchRecon()));
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
if (process.env.BENCH_SYNC_ONLY === "lag") {
  console.log(JSON.stringify(await lag()));
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
try {
  const recon = process.env.BENCH_SYNC_SKIP_RECON ? { recon_bytes: null, recon_round_trips: null, recon_ms: null } : await benchRecon();
  const gib = Number(process.env.BENCH_SYNC_GIB ?? 1);
  const segBytes = 8192;
  const masterBase = await cached(`initial-${gib}gib`, async (dir) => {
    const s = await open(dir);
    await fill(s, Math.ceil((gib * 2 ** 30) / segBytes), segBytes, true);
    await s.close();
  });
  const probe = await open(masterBase);
  const stored = probe.stats().storedBytes;
  const raw = probe.stats().rawBytes;
  await probe.close();
  say(`initial sync of ${(raw / 2 ** 30).toFixed(2)} GiB raw, ${(stored / 2 ** 30).toFixed(2)} GiB at rest`);
  const once = await initialSync(masterBase, 0, 0, "once");
  const initialMbps = stored / 1e6 / (once.ms / 1000);
  say(`initial sync: ${(once.ms / 1000).toFixed(1)} s, ${initialMbps.toFixed(0)} MB/s at rest, ${(raw / 1e6 / (once.ms / 1000)).toFixed(0)} MB/s raw`);
  rmSync(once.dirA, { recursive: true, force: true });
  rmSync(once.dirB, { recursive: true, force: true });
  const rawMbps = await rawCopy(stored);
  const diskMbps = diskWrite(stored);
  say(`raw copy: ${rawMbps.toFixed(0)} MB/s; the same bytes written and fdatasync'ed: ${diskMbps.toFixed(0)} MB/s`);
  const resumed = await initialSync(masterBase, 5, once.ms, "resume");
  say(`interrupted 5 times: ${resumed.sent} bytes sent vs ${once.sent}`);
  rmSync(resumed.dirA, { recursive: true, force: true });
  rmSync(resumed.dirB, { recursive: true, force: true });
  const lagged = await lag();
  const result = {
    bench: "sync",
    ...recon,
    initial_sync_mbps: Math.round(initialMbps),
    initial_sync_raw_mbps: Math.round(raw / 1e6 / (once.ms / 1000)),
    raw_copy_mbps: Math.round(rawMbps),
    disk_write_mbps: Math.round(diskMbps),
    disk_write_vs_raw: Math.round((diskMbps / rawMbps) * 1000) / 1000,
    initial_sync_vs_raw: Math.round((initialMbps / rawMbps) * 1000) / 1000,
    store_bytes: stored,
    resume_overhead: Math.round((resumed.sent / once.sent) * 1000) / 1000,
    ...lagged,
  };
  console.log(JSON.stringify(result));
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
