// A real sync process for the process-level tests and the benchmark: opens a real LMDB
// store (agent/store), starts the real SyncService on real sockets, and obeys one JSON
// command per stdin line, answering one JSON line on stdout:
//   {"cmd":"write","n":100,"size":8192,"compressible":true} -> {"ok":true,"written":100,"labels":[...]}
//   {"cmd":"status"} | {"cmd":"check"} | {"cmd":"alarms"} | {"cmd":"count"} | {"cmd":"cpu"}
//   {"cmd":"until","state":"in-sync","timeoutMs":30000} -> {"ok":true,"reached":true,"state":"in-sync"}
//   {"cmd":"config","sync":{...SyncConfig fields}}   (applied online)
// Arguments: --data DIR --addr A --role master|backup [--peer B] [--port N] [--secret S]
//   [--mode async|sync] [--model M] [--sw-version V] [--capacity-mb N] [--reconnect S]
//   [--check S] [--no-sync]
// Prints `ready <port>` once listening. Stands in for `tandem start` so sync can be
// tested on its own; the appliance runs the same service module.
import { randomBytes } from "node:crypto";
import { hashMany, hashOne } from "../../agent/store/codec.ts";
import { openSegmentStore } from "../../agent/store/index.ts";
import { defaultConfig, type ApplianceConfig } from "../../agent/config/types.ts";
import { EventLog } from "../../agent/events.ts";
import { MetricsRegistry } from "../../agent/metrics/registry.ts";
import { createSyncServiceWith } from "../../agent/sync/service.ts";

const args = new Map<string, string>();
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (!a.startsWith("--")) continue;
  const next = argv[i + 1];
  if (next === undefined || next.startsWith("--")) args.set(a.slice(2), "true");
  else (args.set(a.slice(2), next), i++);
}
const need = (k: string) => {
  const v = args.get(k);
  if (!v) throw new Error(`harness: --${k} is required`);
  return v;
};

const dataDir = need("data");
const model = args.get("model") ?? "TDM-1000";
const softwareVersion = args.get("sw-version") ?? "0.1.0";
const capacityMb = Number(args.get("capacity-mb") ?? 1024);
const store = await openSegmentStore({ dir: dataDir, capacityBytes: capacityMb * 1024 * 1024, model, softwareVersion });

let config: ApplianceConfig = structuredClone(defaultConfig);
config.hostname = args.get("name") ?? `${need("role")}-${need("addr")}`;
config.interfaces.aux = need("addr");
config.datastore.capacityMb = capacityMb;
config.datastore.sync = {
  enabled: args.get("no-sync") !== "true",
  master: need("role") === "master",
  peerIp: args.get("peer") ?? null,
  port: Number(args.get("port") ?? 7744),
  mode: (args.get("mode") as "async" | "sync") ?? "async",
  secret: args.get("secret") ?? null,
  reconnectS: Number(args.get("reconnect") ?? 1),
  checkIntervalS: Number(args.get("check") ?? 300),
};

const events = new EventLog(true, "info");
const metrics = new MetricsRegistry();
const service = createSyncServiceWith({
  version: { model, softwareVersion }, config: () => config, store, events, metrics,
}, { scrubTickMs: Number(args.get("scrub-ms") ?? 1000) });
await service.start();
process.on("SIGTERM", () => {
  void service.stop().then(() => store.close()).finally(() => process.exit(0));
});
console.log(`ready ${service.listenPort() ?? 0}`);

function segment(size: number, compressible: boolean): { label: Uint8Array; data: Uint8Array } {
  const data = new Uint8Array(randomBytes(size));
  if (compressible) for (let i = 0; i < size; i += 2) data[i] = 32 + (i % 64);
  return { label: hashOne(data), data };
}

// Fast unique segments for sustained ingest: a batch is one buffer, filled in one copy
// from a random window of a random pool, cut into views and each view stamped with a
// counter so no two are equal; hashed in one pass over that buffer. Batch buffers are
// reused once the store has taken a batch (its putSegments settled: it copies what it
// keeps), since fresh memory costs a page fault per 4 KiB on first touch. The generator
// runs in the master's process, so what it costs is taken from the appliance measured.
const pool = new Uint8Array(randomBytes(16 * 1024 * 1024));
/** Batch buffers kept for reuse (at most the ingest's writes in flight, plus one). */
const batchBuffersMax = 16;
const batchBuffers: Uint8Array[] = [];
let stamp = 0;
function segmentsFast(n: number, size: number): { segments: Array<{ label: Uint8Array; data: Uint8Array; labelComputedHere: true }>; release(): void } {
  const batchBytes = n * size;
  if (batchBytes > pool.length) throw new Error(`harness: a batch of ${batchBytes} bytes exceeds the pool`);
  const off = Math.floor(Math.random() * (pool.length - batchBytes));
  let batch = batchBuffers.pop();
  if (!batch || batch.length !== batchBytes) batch = new Uint8Array(batchBytes);
  batch.set(pool.subarray(off, off + batchBytes));
  const view = new DataView(batch.buffer, batch.byteOffset, batch.length);
  const datas: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    view.setFloat64(i * size, ++stamp + Math.random());
    datas.push(batch.subarray(i * size, (i + 1) * size));
  }
  const labels = hashMany(datas);
  // Hashed here, as the SDR encoder hashes what it cuts: the store need not hash it again.
  const segments = datas.map((data, i) => ({ label: labels.subarray(i * 32, i * 32 + 32), data, labelComputedHere: true as const }));
  return { segments, release: () => void (batchBuffers.length < batchBuffersMax && batchBuffers.push(batch)) };
}

async function handle(cmd: Record<string, unknown>): Promise<unknown> {
  switch (cmd.cmd) {
    case "write": {
      const n = Number(cmd.n ?? 1);
      const size = Number(cmd.size ?? 4096);
      const labels: string[] = [];
      for (let done = 0; done < n;) {
        const batch = [];
        for (let i = 0; i < Math.min(1024, n - done); i++) batch.push(segment(size, cmd.compressible !== false));
        const entries = await store.putSegments(batch, "local");
        await service.awaitReplicated(entries);
        if (cmd.labels) for (const s of batch) labels.push(Buffer.from(s.label).toString("hex"));
        done += batch.length;
      }
      return { ok: true, written: n, labels };
    }
    case "ingest": {
      // Sustained writes at `mbps` for `seconds`; lag = write call to the peer's durable ack.
      const size = Number(cmd.size ?? 8192);
      const perTick = Math.max(1, Math.round((Number(cmd.mbps ?? 100) * 1e6 * 0.02) / size));
      const seconds = Number(cmd.seconds ?? 5);
      // Commits resolve in seq order, so pending writes form a queue: acks pop its head.
      const pendingSeq: number[] = [];
      const pendingAt: number[] = [];
      let head = 0;
      const pendingLag = { get size() { return pendingSeq.length - head; } };
      const lags: number[] = [];
      const off = service.core.onAck((_after, through, now) => {
        while (head < pendingSeq.length && pendingSeq[head]! <= through) lags.push(now - pendingAt[head++]!);
      });
      const t0 = Date.now();
      let bytes = 0;
      let tick = 0;
      // Writes are pipelined (bounded), as the optimizer's many connections would be.
      const inflight = new Set<Promise<void>>();
      const inflightMax = 8;
      while (Date.now() - t0 < seconds * 1000) {
        const batch = segmentsFast(perTick, size);
        const started = Date.now();
        const p: Promise<void> = store.putSegments(batch.segments, "local").then((entries) => {
          for (const e of entries) (pendingSeq.push(e.seq), pendingAt.push(started));
        }).finally(() => (inflight.delete(p), batch.release()));
        inflight.add(p);
        bytes += perTick * size;
        tick++;
        if (inflight.size >= inflightMax) await Promise.race(inflight);
        const due = t0 + tick * 20 - Date.now();
        if (due > 0) await Bun.sleep(due);
      }
      await Promise.all(inflight);
      const elapsed = (Date.now() - t0) / 1000;
      const deadline = Date.now() + 30_000;
      while (pendingLag.size > 0 && Date.now() < deadline) await Bun.sleep(20);
      off();
      lags.sort((x, y) => x - y);
      const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? null;
      return { ok: true, mbps: bytes / 1e6 / elapsed, segments: lags.length, unacked: pendingLag.size, p50: q(0.5), p99: q(0.99) };
    }
    case "status": return { ok: true, status: service.status(), count: store.count() };
    case "count": return { ok: true, count: store.count() };
    case "cpu": return { ok: true, cpu: process.cpuUsage() };
    case "until": {
      // Waits here (not by polling over the pipe) until the sync state is `state`, at most
      // timeoutMs; state() alone, as status() reads the store and this runs every 10 ms.
      const deadline = Date.now() + Number(cmd.timeoutMs ?? 30_000);
      while (service.state() !== cmd.state && Date.now() < deadline) await Bun.sleep(10);
      const state = service.state();
      return { ok: true, reached: state === cmd.state, state };
    }
    case "check": return { ok: true, check: await service.checkNow() };
    case "alarms": return { ok: true, alarms: events.recent(1000).filter((e) => e.alarm).map((e) => e.alarm) };
    case "metrics": return { ok: true, text: metrics.render() };
    case "config": {
      const next = structuredClone(config);
      Object.assign(next.datastore.sync, cmd.sync as object);
      const result = await service.applyConfig(next);
      config = next;
      return { ok: true, result };
    }
    default: return { ok: false, error: `unknown command ${String(cmd.cmd)}` };
  }
}

const decoder = new TextDecoder();
let buffered = "";
let chain = Promise.resolve();
for await (const chunk of Bun.stdin.stream()) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (!line) continue;
    chain = chain.then(async () => {
      let reply: unknown;
      try {
        reply = await handle(JSON.parse(line));
      } catch (err) {
        reply = { ok: false, error: (err as Error).message };
      }
      process.stdout.write(JSON.stringify(reply) + "\n");
    });
  }
}
await chain;
await service.stop();
await store.close();
process.exit(0);
