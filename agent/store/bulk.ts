// Verification of already-stored segments (what data store sync receives from its peer)
// before they are written: each payload must decode (LZ4 or raw) to data that hashes
// to its label, and becomes an at-rest value (header + payload, the payload kept as
// it came). Large batches are checked on a worker thread of their own, so that a
// backup's main thread (socket, frames, LMDB transactions) and the hashing run on two
// cores; small ones, or any batch when the worker is unavailable, busy past its bound
// or late, are checked inline with the same code. Verification is never skipped: the
// worker only moves where it runs.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { blake3Many } from "../../wasm/index.ts";
import { decompressSegment, hashMany } from "./codec.ts";
import { labelHex, labelsEqual, valueHeaderBytes, writeValue } from "./format.ts";
import { labelBytes, type Origin, type StoredSegment } from "./types.ts";

/** Batches with fewer segments than this are verified inline (the hop costs more). */
export const verifyWorkerSegmentsMin = 32;
/** Batches waiting in or for the worker before further ones are verified inline. */
export const verifyWorkerJobsMax = 64;
/** A batch the worker has not answered by then is verified inline (its late answer is
 *  ignored): a lost worker message costs time, never a write that never ends. */
export const verifyJobTimeoutMs = 5_000;
/** Bytes handed to one WASM hashing call (bounds the arena copy). */
export const verifyHashBytesMax = 8 * 1024 * 1024;

export interface VerifyInput {
  /** Payloads laid end to end. */
  joined: Uint8Array;
  payloadLengths: Uint32Array;
  rawLengths: Uint32Array;
  /** 1 = LZ4 block, 0 = raw. */
  lz4: Uint8Array;
  /** Labels laid end to end, 32 bytes each. */
  labels: Uint8Array;
  origin: Origin;
  createdS: number;
}

/** Every value (header with seq 0 + payload) laid end to end in one buffer (one
 *  transfer back from the worker, one LMDB address), or the first segment that failed. */
export type VerifyOutput = { values: Uint8Array; valueLengths: Uint32Array } | { badLabel: string; reason: string };

/** Packs segments for verifyValues: one copy, transferable to the worker. */
export function packStored(segments: StoredSegment[], origin: Origin, createdS: number): VerifyInput {
  let total = 0;
  for (const s of segments) total += s.payload.length;
  const n = segments.length;
  const input: VerifyInput = {
    joined: new Uint8Array(total), payloadLengths: new Uint32Array(n), rawLengths: new Uint32Array(n),
    lz4: new Uint8Array(n), labels: new Uint8Array(n * labelBytes), origin, createdS,
  };
  let offset = 0;
  segments.forEach((s, i) => {
    input.joined.set(s.payload, offset);
    offset += s.payload.length;
    input.payloadLengths[i] = s.payload.length;
    input.rawLengths[i] = s.rawBytes;
    input.lz4[i] = s.encoding === "lz4" ? 1 : 0;
    input.labels.set(s.label, i * labelBytes);
  });
  return input;
}

/** Pure and synchronous: the same code runs inline and on the worker. */
export function verifyValues(input: VerifyInput): VerifyOutput {
  const { joined, payloadLengths, rawLengths, lz4, labels, origin, createdS } = input;
  const n = payloadLengths.length;
  const payloads: Uint8Array[] = [];
  const raws: Uint8Array[] = [];
  let allRaw = true;
  for (let i = 0, offset = 0; i < n; i++) {
    const payload = joined.subarray(offset, offset + payloadLengths[i]!);
    offset += payloadLengths[i]!;
    payloads.push(payload);
    if (lz4[i]) {
      allRaw = false;
      try {
        raws.push(decompressSegment(payload, rawLengths[i]!));
      } catch (err) {
        return { badLabel: labelHex(labels.subarray(i * labelBytes, (i + 1) * labelBytes)), reason: (err as Error).message };
      }
    } else raws.push(payload);
  }
  // Raw payloads already lie end to end: hash them in place, without joining them again.
  const hashes = allRaw && joined.length <= verifyHashBytesMax ? blake3Many(joined, payloadLengths) : hashMany(raws);
  for (let i = 0; i < n; i++) {
    const label = labels.subarray(i * labelBytes, (i + 1) * labelBytes);
    if (!labelsEqual(hashes.subarray(i * labelBytes, (i + 1) * labelBytes), label)) {
      return { badLabel: labelHex(label), reason: "does not decode to data that hashes to its label" };
    }
  }
  const values = new Uint8Array(joined.length + n * valueHeaderBytes);
  const valueLengths = new Uint32Array(n);
  for (let i = 0, offset = 0; i < n; i++) {
    const header = { encoding: lz4[i] ? "lz4" : "raw", origin, rawBytes: rawLengths[i]!, createdS, seq: 0 } as const;
    writeValue(values.subarray(offset, offset + valueHeaderBytes + payloads[i]!.length), header, payloads[i]!);
    valueLengths[i] = valueHeaderBytes + payloads[i]!.length;
    offset += valueLengths[i]!;
  }
  return { values, valueLengths };
}

/** The values of a verified batch, as views of its one buffer. */
export function splitValues(output: { values: Uint8Array; valueLengths: Uint32Array }): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0, offset = 0; i < output.valueLengths.length; i++) {
    out.push(output.values.subarray(offset, offset + output.valueLengths[i]!));
    offset += output.valueLengths[i]!;
  }
  return out;
}

/** Bun's Worker has Node's ref/unref; its typings do not say so. */
type RefWorker = Worker & { ref(): void; unref(): void };

class VerifyPool {
  private worker: RefWorker | null = null;
  private broken = false;
  private nextId = 1;
  private readonly jobs = new Map<number, { input: VerifyInput; resolve(output: VerifyOutput): void }>();

  run(input: VerifyInput): Promise<VerifyOutput> | VerifyOutput {
    const worker = this.jobs.size < verifyWorkerJobsMax ? this.ensureWorker() : null;
    if (!worker) return verifyValues(input);
    const id = this.nextId++;
    const done = new Promise<VerifyOutput>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.jobs.delete(id)) return;
        if (this.jobs.size === 0) worker.unref();
        resolve(verifyValues(input));
      }, verifyJobTimeoutMs);
      this.jobs.set(id, { input, resolve: (output) => (clearTimeout(timer), resolve(output)) });
    });
    if (this.jobs.size === 1) worker.ref();
    // Copied, not transferred: the input stays here for the inline fallback.
    worker.postMessage({ id, input });
    return done;
  }

  private ensureWorker(): RefWorker | null {
    if (this.worker || this.broken) return this.worker;
    const path = join(import.meta.dir, "verify-worker.ts");
    if (!existsSync(path)) {
      this.broken = true;
      return null;
    }
    try {
      const worker = new Worker(path) as RefWorker;
      worker.unref();
      worker.onmessage = (event: MessageEvent<{ id: number; output?: VerifyOutput }>) => {
        const job = this.jobs.get(event.data.id);
        if (!job) return;
        this.jobs.delete(event.data.id);
        if (this.jobs.size === 0) worker.unref();
        job.resolve(event.data.output ?? verifyValues(job.input));
      };
      worker.onerror = () => this.fail();
      this.worker = worker;
      return worker;
    } catch {
      this.broken = true;
      return null;
    }
  }

  /** The worker died: finish its jobs inline and stop using it. */
  private fail(): void {
    this.broken = true;
    const worker = this.worker;
    this.worker = null;
    worker?.terminate();
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.resolve(verifyValues(job.input));
  }
}

const pool = new VerifyPool();

/** Verifies a packed batch: on the worker when large enough and available, else inline. */
export function verifyStored(input: VerifyInput, useWorker: boolean): Promise<VerifyOutput> | VerifyOutput {
  return useWorker && input.payloadLengths.length >= verifyWorkerSegmentsMin ? pool.run(input) : verifyValues(input);
}
