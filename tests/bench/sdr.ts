// SDR codec benchmark on real data: unpacked npm tarballs, the typescript 5.6.3 ->
// 5.7.2 pair of ANCHORS.md plus prettier 3.3.3 -> 3.4.2. Each transfer is a new
// channel (fresh encoder and decoder) between two persistent LMDB stores: cold (empty
// stores), warm (the same file again), update (the next version). Ratios sit next to
// what the CLI tools achieve on the same bytes in the same run (lz4 -1, zstd -1, and
// rsync -z --no-whole-file over its remote-shell protocol). Warm figures are with the
// per-store segment cache holding the file (the usual case: it was just seen); the
// `warm_uncached` ones reopen both stores first. Warm throughput is the best of
// `warmRepeats`; `*_cpu_mbps` divide by the process's CPU time instead of the wall
// clock (steadier on a shared machine). Prints one line per pair
// and one JSON object as the last line (the typescript pair's figures at top level).
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSegmentStore } from "../../agent/store/index.ts";
import { SdrDecoder, SdrEncoder } from "../../agent/sdr/index.ts";
import { chunkAndHash } from "../../wasm/index.ts";
import { packageTar, typescriptPair } from "./corpus.ts";

/** Bytes per encode() call, about one socket read. */
const pieceBytes = 64 * 1024;

type Store = Awaited<ReturnType<typeof openSegmentStore>>;

function openStore(dir: string): Promise<Store> {
  return openSegmentStore({ dir, model: "TDM-BENCH", softwareVersion: "0.0.0", capacityBytes: 4 * 1024 ** 3 });
}

interface Transfer { wireBytes: number; encodeMs: number; decodeMs: number; encodeCpuMs: number; reqSegments: number }

/** Repeats of each warm transfer; the fastest counts (the machine is shared). */
const warmRepeats = 3;

async function transfer(encStore: Store, decStore: Store, data: Uint8Array): Promise<Transfer> {
  const encoder = new SdrEncoder({ store: encStore });
  const decoder = new SdrDecoder({ store: decStore, fetchMissing: async (labels) => encoder.answer(labels) });
  const frames: Uint8Array[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let at = 0; at < data.length; at += pieceBytes) frames.push(...(await encoder.encode(data.subarray(at, at + pieceBytes))));
  frames.push(...(await encoder.flush()));
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const parts: Uint8Array[] = [];
  for (const frame of frames) parts.push(...(await decoder.decode(frame)));
  const t2 = performance.now();
  const output = Buffer.concat(parts);
  if (!output.equals(Buffer.from(data.buffer, data.byteOffset, data.length))) throw new Error("SDR round trip is not byte-exact");
  const result = {
    wireBytes: frames.reduce((n, f) => n + f.length, 0),
    encodeMs: t1 - t0,
    decodeMs: t2 - t1,
    encodeCpuMs: (cpu.user + cpu.system) / 1000,
    reqSegments: decoder.stats.reqSegments,
  };
  await encoder.close();
  await decoder.close();
  return result;
}

function cliBytes(command: string[], input: string): number {
  const proc = Bun.spawnSync(command, { stdin: Bun.file(input), stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`${command.join(" ")} failed: ${proc.stderr.toString()}`);
  return proc.stdout.length;
}

/** Bytes rsync reports sent to turn `before` into `after` (delta transfer, zlib). */
function rsyncBytesSent(work: string, before: string, after: string): number {
  const rsh = join(work, "rsh.sh");
  writeFileSync(rsh, '#!/bin/sh\nshift\nexec "$@"\n');
  chmodSync(rsh, 0o755);
  const dest = join(work, "rsync-dest");
  mkdirSync(dest, { recursive: true });
  copyFileSync(before, join(dest, "file.tar"));
  const proc = Bun.spawnSync(["rsync", "-z", "--no-whole-file", "--stats", "-e", rsh, after, `localhost:${join(dest, "file.tar")}`], {
    stdout: "pipe", stderr: "pipe",
  });
  if (proc.exitCode !== 0) throw new Error(`rsync failed (is it installed?): ${proc.stderr.toString()}`);
  const match = /Total bytes sent: ([\d,]+)/.exec(proc.stdout.toString());
  if (!match) throw new Error("rsync printed no 'Total bytes sent'");
  return Number(match[1]!.replace(/,/g, ""));
}

const mbps = (bytes: number, ms: number) => Math.round(bytes / 1e3 / ms);
const round2 = (x: number) => Math.round(x * 100) / 100;

async function runPair(name: string, before: string, after: string) {
  const a = new Uint8Array(readFileSync(before));
  const b = new Uint8Array(readFileSync(after));
  const work = mkdtempSync(join(tmpdir(), `tandem-bench-sdr-${name}-`));
  try {
    const encStore = await openStore(join(work, "enc"));
    const decStore = await openStore(join(work, "dec"));
    const cold = await transfer(encStore, decStore, a);
    const warm = await transfer(encStore, decStore, a);
    for (let i = 1; i < warmRepeats; i++) {
      const again = await transfer(encStore, decStore, a);
      warm.encodeMs = Math.min(warm.encodeMs, again.encodeMs);
      warm.decodeMs = Math.min(warm.decodeMs, again.decodeMs);
      warm.encodeCpuMs = Math.min(warm.encodeCpuMs, again.encodeCpuMs);
    }
    const update = await transfer(encStore, decStore, b);
    await encStore.close();
    await decStore.close();
    // The same warm transfer with both stores reopened: no segment bytes in memory, so
    // every known segment comes from LMDB + LZ4 (the appliance after a restart).
    const encReopened = await openStore(join(work, "enc"));
    const decReopened = await openStore(join(work, "dec"));
    const uncached = await transfer(encReopened, decReopened, a);
    await encReopened.close();
    await decReopened.close();
    const result = {
      pair: name,
      before_bytes: a.length,
      after_bytes: b.length,
      cold_ratio: round2(a.length / cold.wireBytes),
      lz4_cli_ratio: round2(a.length / cliBytes(["lz4", "-1", "-c"], before)),
      zstd1_ratio: round2(a.length / cliBytes(["zstd", "-1", "-c"], before)),
      warm_ratio: round2(a.length / warm.wireBytes),
      update_ratio: round2(b.length / update.wireBytes),
      rsync_z_ratio: round2(b.length / rsyncBytesSent(work, before, after)),
      cold_wire_bytes: cold.wireBytes,
      warm_wire_bytes: warm.wireBytes,
      update_wire_bytes: update.wireBytes,
      encode_cold_mbps: mbps(a.length, cold.encodeMs),
      encode_cold_cpu_mbps: mbps(a.length, cold.encodeCpuMs),
      decode_cold_mbps: mbps(a.length, cold.decodeMs),
      encode_warm_mbps: mbps(a.length, warm.encodeMs),
      encode_warm_cpu_mbps: mbps(a.length, warm.encodeCpuMs),
      decode_warm_mbps: mbps(a.length, warm.decodeMs),
      encode_update_mbps: mbps(b.length, update.encodeMs),
      decode_update_mbps: mbps(b.length, update.decodeMs),
      warm_uncached_ratio: round2(a.length / uncached.wireBytes),
      encode_warm_uncached_mbps: mbps(a.length, uncached.encodeMs),
      decode_warm_uncached_mbps: mbps(a.length, uncached.decodeMs),
      req_segments: cold.reqSegments + warm.reqSegments + update.reqSegments,
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Segment writes per second into a fresh store, in batches as the decoder writes them. */
async function storePutSegmentsPerS(paths: string[]): Promise<number> {
  const seen = new Set<string>();
  const segments: { label: Uint8Array; data: Uint8Array }[] = [];
  for (const path of paths) {
    const data = new Uint8Array(readFileSync(path));
    const { lengths, labels } = chunkAndHash(data);
    let at = 0;
    for (let i = 0; i < lengths.length; i++) {
      const label = labels.slice(i * 32, i * 32 + 32);
      const key = Buffer.from(label).toString("hex");
      if (!seen.has(key)) {
        seen.add(key);
        segments.push({ label, data: data.subarray(at, at + lengths[i]!) });
      }
      at += lengths[i]!;
    }
  }
  const work = mkdtempSync(join(tmpdir(), "tandem-bench-sdr-put-"));
  try {
    const store = await openStore(work);
    const batch = 256;
    const t0 = performance.now();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < segments.length; i += batch) writes.push(store.putSegments(segments.slice(i, i + batch), "local"));
    await Promise.all(writes);
    const ms = performance.now() - t0;
    await store.close();
    return Math.round(segments.length / (ms / 1000));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const ts = typescriptPair();
const other = { before: packageTar("prettier", "3.3.3"), after: packageTar("prettier", "3.4.2") };
const typescript = await runPair("typescript-5.6.3-5.7.2", ts.before, ts.after);
const prettier = await runPair("prettier-3.3.3-3.4.2", other.before, other.after);
const putRate = await storePutSegmentsPerS([ts.before, ts.after, other.before, other.after]);
const pairs = [typescript, prettier];
const summary = {
  bench: "sdr",
  ...typescript,
  store_put_segments_per_s: putRate,
  pairs,
  targets: {
    cold_ratio_ge_zstd1_every_pair: pairs.every((p) => p.cold_ratio >= p.zstd1_ratio),
    cold_ratio_ge_6_5_typescript: typescript.cold_ratio >= 6.5,
    warm_ratio_ge_500_every_pair: pairs.every((p) => p.warm_ratio >= 500),
    update_ratio_ge_rsync_every_pair: pairs.every((p) => p.update_ratio >= p.rsync_z_ratio),
    encode_warm_mbps_ge_400: typescript.encode_warm_mbps >= 400,
    encode_warm_cpu_mbps_ge_400: typescript.encode_warm_cpu_mbps >= 400,
    store_put_segments_per_s_ge_50000: putRate >= 50_000,
  },
};
console.log(JSON.stringify(summary));
