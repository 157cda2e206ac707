// Segment store micro-benchmark on real data: the corpus of unpacked npm tarballs cut
// by FastCDC (2/8/16 KiB), written through putSegments (LZ4 + durable LMDB commit,
// many calls in flight so they coalesce; with the prep worker, without it, without
// waiting for the flush, and with the hash check that bytes from a peer get), then
// read back with and without verification; then put in their at-rest form into a
// second store, as a backup does in replication. Also times the caller-side preparation
// (LZ4) apart from the LMDB side (transaction callbacks + durable commits), so the
// figures show where the time goes, and the process CPU per segment written, which
// stays comparable on a machine that other work is loading. Prints one JSON object
// as its last line.
// Usage: bun run tests/bench/store.ts [--mb N] [--call N] [--inflight N]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSegmentStore, type OpenedStore, type SegmentInput } from "../../agent/store/index.ts";
import { compressSegment, hashMany } from "../../agent/store/codec.ts";
import { chunkAndHash } from "../../wasm/index.ts";
import { realCorpus } from "./corpus.ts";

/** Segments per putStored call in the replication case (sync's 512 KiB batches of ~8 KiB). */
const syncCallSegments = 64;

/** CPU time of this process's main thread alone (Linux; NaN elsewhere), in us: what
 *  the caller's thread pays, apart from the prep/verify worker and LMDB's flushing. */
function mainThreadCpuUs(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicksPerS;
  } catch {
    return NaN;
  }
}
const clockTicksPerS = 100;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export async function storeBench(options: { mb?: number; call?: number; inflight?: number } = {}) {
  const mb = options.mb ?? 64;
  const callSegments = options.call ?? 256;
  const inflight = options.inflight ?? 16;
  const corpus = realCorpus(mb * 1024 * 1024);
  const { lengths, labels } = chunkAndHash(corpus);
  const segments: SegmentInput[] = [];
  // Unique segments only: a duplicate costs no write and would flatter the rate.
  const seen = new Set<string>();
  let offset = 0;
  for (let i = 0; i < lengths.length; i++) {
    const label = labels.slice(i * 32, i * 32 + 32);
    const key = Buffer.from(label).toString("hex");
    if (!seen.has(key)) {
      seen.add(key);
      // As the SDR encoder writes them: labels computed here by chunkAndHash.
      segments.push({ label, data: corpus.subarray(offset, offset + lengths[i]!), labelComputedHere: true });
    }
    offset += lengths[i]!;
  }
  const rawBytes = segments.reduce((n, s) => n + s.data.length, 0);

  let t = performance.now();
  hashMany(segments.map((s) => s.data));
  const hashS = (performance.now() - t) / 1000;
  t = performance.now();
  let compressed = 0;
  for (const s of segments) compressed += compressSegment(s.data)?.length ?? s.data.length;
  const compressS = (performance.now() - t) / 1000;

  const dir = mkdtempSync(join(tmpdir(), "tandem-store-bench-"));
  try {
    // Calls of callSegments, `inflight` of them outstanding: they coalesce into fewer
    // transactions. Once with durable commits (the default), once resolving at commit
    // without waiting for the flush, to show what durability costs.
    const writeAll = async (store: OpenedStore, input = segments) =>
      writeCalls(store, input.length, callSegments, (i, n) => store.putSegments(input.slice(i, i + n), "local"));
    const writeCalls = async (store: OpenedStore, total: number, perCall: number, put: (i: number, n: number) => Promise<unknown>) => {
      let commits = 0;
      store.onCommit(() => commits++);
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      const mainStart = mainThreadCpuUs();
      const running = new Set<Promise<unknown>>();
      for (let i = 0; i < total; i += perCall) {
        const p = put(i, perCall);
        running.add(p);
        void p.finally(() => running.delete(p));
        if (running.size >= inflight) await Promise.race(running);
      }
      await Promise.all(running);
      // CPU of every thread of the process (caller, prep worker, LMDB's writer): unlike
      // the rate, it hardly moves when other processes load the machine.
      const cpu = process.cpuUsage(cpuStart);
      const main = mainThreadCpuUs() - mainStart;
      return { seconds: (performance.now() - start) / 1000, commits, cpuUsPerSegment: (cpu.user + cpu.system) / total, mainUsPerSegment: main / total };
    };
    const fast = await openSegmentStore({ dir: join(dir, "nondurable"), model: "bench", softwareVersion: "0", durable: false });
    const nondurable = await writeAll(fast);
    await fast.close();
    const single = await openSegmentStore({ dir: join(dir, "inline"), model: "bench", softwareVersion: "0", prepWorker: false });
    const inline = await writeAll(single);
    await single.close();
    // Bytes from a peer (decoder DEF/REP) are re-hashed before they are written.
    const checking = await openSegmentStore({ dir: join(dir, "verified"), model: "bench", softwareVersion: "0" });
    const verified = await writeAll(checking, segments.map(({ label, data }) => ({ label, data })));
    await checking.close();
    const store = await openSegmentStore({ dir, model: "bench", softwareVersion: "0" });
    const durable = await writeAll(store);
    const putS = durable.seconds;

    t = performance.now();
    let got = 0;
    for (const s of segments) got += store.get(s.label)!.length;
    const getS = (performance.now() - t) / 1000;
    t = performance.now();
    for (const s of segments) got += store.get(s.label, { verify: true })!.length;
    const getVerifyS = (performance.now() - t) / 1000;
    if (got !== 2 * rawBytes) throw new Error("read back the wrong number of bytes");
    const stats = store.stats();
    // The backup's side of replication: the at-rest forms this store serves, put into
    // another store as data store sync does (putStored verifies every one first), in
    // batches of sync's 512 KiB with its 16 commits in flight.
    const forms = segments.map((s) => store.getStored(s.label)!).map((f) => ({ ...f, label: new Uint8Array(f.label), payload: new Uint8Array(f.payload) }));
    await store.close();
    const backup = await openSegmentStore({ dir: join(dir, "backup"), model: "bench", softwareVersion: "0" });
    const replicated = await writeCalls(backup, forms.length, syncCallSegments, (i, n) => backup.putStored(forms.slice(i, i + n), "peer"));
    await backup.close();

    // Split the write path: without the prep worker, putSegments compresses
    // before its first await, so issuing every call in one turn times the preparation,
    // and what follows until all resolve is LMDB alone (callbacks + durable commits).
    const split = await openSegmentStore({ dir: join(dir, "split"), model: "bench", softwareVersion: "0", prepWorker: false });
    t = performance.now();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < segments.length; i += callSegments) calls.push(split.putSegments(segments.slice(i, i + callSegments), "local"));
    const prepS = (performance.now() - t) / 1000;
    t = performance.now();
    await Promise.all(calls);
    const commitS = (performance.now() - t) / 1000;
    await split.close();
    return {
      segments: segments.length,
      raw_mb: +(rawBytes / 1e6).toFixed(1),
      stored_ratio: +(stats.rawBytes / stats.storedBytes).toFixed(3),
      store_put_segments_per_s: Math.round(segments.length / putS),
      store_put_mbps: +(rawBytes / 1e6 / putS).toFixed(1),
      store_put_nondurable_segments_per_s: Math.round(segments.length / nondurable.seconds),
      store_put_inline_segments_per_s: Math.round(segments.length / inline.seconds),
      store_put_verified_segments_per_s: Math.round(segments.length / verified.seconds),
      store_put_cpu_us_per_segment: +durable.cpuUsPerSegment.toFixed(1),
      store_put_inline_cpu_us_per_segment: +inline.cpuUsPerSegment.toFixed(1),
      store_put_verified_cpu_us_per_segment: +verified.cpuUsPerSegment.toFixed(1),
      store_put_stored_segments_per_s: Math.round(segments.length / replicated.seconds),
      store_put_stored_cpu_us_per_segment: +replicated.cpuUsPerSegment.toFixed(1),
      put_stored_calls: Math.ceil(forms.length / syncCallSegments),
      put_stored_commits: replicated.commits,
      store_put_main_cpu_us_per_segment: +durable.mainUsPerSegment.toFixed(1),
      store_put_stored_main_cpu_us_per_segment: +replicated.mainUsPerSegment.toFixed(1),
      put_calls: Math.ceil(segments.length / callSegments),
      put_commits: durable.commits,
      store_get_segments_per_s: Math.round(segments.length / getS),
      store_get_verify_segments_per_s: Math.round(segments.length / getVerifyS),
      store_prep_segments_per_s: Math.round(segments.length / prepS),
      store_commit_segments_per_s: Math.round(segments.length / commitS),
      prep_hash_segments_per_s: Math.round(segments.length / hashS),
      prep_lz4_segments_per_s: Math.round(segments.length / compressS),
      lz4_ratio: +(rawBytes / compressed).toFixed(3),
      call_segments: callSegments,
      calls_in_flight: inflight,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const result = await storeBench({ mb: option("mb", 64), call: option("call", 256), inflight: option("inflight", 16) });
  console.log(JSON.stringify(result));
}
