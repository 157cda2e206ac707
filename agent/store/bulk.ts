// Verification of already-stored segments (what data store sync receives from its peer)
// before they are written: each payload must decode (LZ4 or raw) to data that hashes
// to its label, and becomes an at-rest value (header + payload, the payload kept as
// it came). Large batches are checked on a worker thread of their own, so that a
// backup's main thread (socket, frames, LMDB transactions) and the hashing run on two
// cores; small ones, or any batch when the worker is unavailable, busy past its bound
// or late, are checked inline with the same code. Verification is never skipped: the
// worker only moves where it runs. The values lie in shared memory, so the worker reads
// them where they are: Bun copies a transferred buffer on each hop, twice per batch.
import { decompressSegment, hashOne } from "./codec.ts";
import { labelHex, labelsEqual, valueHeaderBytes, writeValue } from "./format.ts";
import { labelBytes, type Origin, type StoredSegment } from "./types.ts";
import { SharedBufferPool } from "./shared-pool.ts";
import { StoreWorkerPool } from "./worker-pool.ts";

/** Batches with fewer segments than this are verified inline (the hop costs more). */
export const verifyWorkerSegmentsMin = 32;
/** Batches waiting in or for the worker before further ones are verified inline. */
export const verifyWorkerJobsMax = 64;
/** A batch the worker has not answered by then is verified inline (its late answer is
 *  ignored): a lost worker message costs time, never a write that never ends. */
export const verifyJobTimeoutMs = 5_000;

/** Value buffers kept for the next batches once a batch is written (shared-pool.ts): a
 *  backup in initial sync lays out one such batch per push. */
export const valueBuffersPooledMax = 16;
/** Larger buffers are left to the collector (a batch is at most a few MiB). */
export const valueBufferPooledBytesMax = 8 * 2 ** 20;
const valueBufferGrainBytes = 64 * 1024;
const pooled = new SharedBufferPool(valueBuffersPooledMax, valueBufferPooledBytesMax, valueBufferGrainBytes);

/**
 * Gives a batch's buffer back for reuse: only once nothing reads its values any more
 * (its LMDB transaction ended: putSync copied them into the map) and only once per batch.
 */
export function releaseValues(input: VerifyInput): void {
  pooled.give(input.values.buffer);
}

/** A batch laid out as it will be stored: each value (header with seq 0 + payload) end
 *  to end, then the per-segment lengths, encodings and labels, all views of one shared
 *  buffer. It is built with the one copy the batch needs, reaches the worker as that
 *  buffer and two numbers (Bun structured-clones each typed array of a message apart,
 *  which cost more than the verification of a small batch), and its values are put
 *  into LMDB as views. */
export interface VerifyInput {
  values: Uint8Array;
  valueLengths: Uint32Array;
  rawLengths: Uint32Array;
  /** 1 = LZ4 block, 0 = raw. */
  lz4: Uint8Array;
  /** Labels laid end to end, 32 bytes each. */
  labels: Uint8Array;
}

/** What the worker is sent: the shared buffer and where its parts lie. */
export interface SharedVerifyInput {
  shared: SharedArrayBuffer;
  segments: number;
  valuesBytes: number;
}

/** The views of a batch's shared buffer (the same on both threads). */
export function viewsOf({ shared, segments: n, valuesBytes }: SharedVerifyInput): VerifyInput {
  const lengthsAt = Math.ceil(valuesBytes / 4) * 4;
  return {
    values: new Uint8Array(shared, 0, valuesBytes),
    valueLengths: new Uint32Array(shared, lengthsAt, n),
    rawLengths: new Uint32Array(shared, lengthsAt + 4 * n, n),
    lz4: new Uint8Array(shared, lengthsAt + 8 * n, n),
    labels: new Uint8Array(shared, lengthsAt + 9 * n, n * labelBytes),
  };
}

function sharedBytes(segments: number, valuesBytes: number): number {
  return Math.ceil(valuesBytes / 4) * 4 + segments * (9 + labelBytes);
}

/** null when every value is good, else the first segment that failed and why. */
export type VerifyFailure = { badLabel: string; reason: string } | null;

/** Lays segments out as values (the caller has checked encodings and sizes). */
export function packStored(segments: StoredSegment[], origin: Origin, createdS: number): SharedVerifyInput & { input: VerifyInput } {
  let valuesBytes = 0;
  for (const s of segments) valuesBytes += valueHeaderBytes + s.payload.length;
  const n = segments.length;
  const where = { shared: pooled.take(sharedBytes(n, valuesBytes)), segments: n, valuesBytes };
  const input = viewsOf(where);
  let offset = 0;
  segments.forEach((s, i) => {
    const length = valueHeaderBytes + s.payload.length;
    writeValue(input.values.subarray(offset, offset + length), { encoding: s.encoding, origin, rawBytes: s.rawBytes, createdS, seq: 0 }, s.payload);
    offset += length;
    input.valueLengths[i] = length;
    input.rawLengths[i] = s.rawBytes;
    input.lz4[i] = s.encoding === "lz4" ? 1 : 0;
    input.labels.set(s.label, i * labelBytes);
  });
  return { ...where, input };
}

/** Pure and synchronous: the same code runs inline and on the worker. Each payload is
 *  hashed where it lies (one WASM call per segment costs no more than a batched one). */
export function verifyValues(input: VerifyInput): VerifyFailure {
  const { values, valueLengths, rawLengths, lz4, labels } = input;
  for (let i = 0, offset = 0; i < valueLengths.length; i++) {
    const payload = values.subarray(offset + valueHeaderBytes, offset + valueLengths[i]!);
    offset += valueLengths[i]!;
    const label = labels.subarray(i * labelBytes, (i + 1) * labelBytes);
    let raw: Uint8Array;
    try {
      raw = lz4[i] ? decompressSegment(payload, rawLengths[i]!) : payload;
    } catch (err) {
      return { badLabel: labelHex(label), reason: (err as Error).message };
    }
    if (!labelsEqual(hashOne(raw), label)) return { badLabel: labelHex(label), reason: "does not decode to data that hashes to its label" };
  }
  return null;
}

/** The values of a batch, as views of its one buffer. */
export function splitValues(input: VerifyInput): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0, offset = 0; i < input.valueLengths.length; i++) {
    out.push(input.values.subarray(offset, offset + input.valueLengths[i]!));
    offset += input.valueLengths[i]!;
  }
  return out;
}

interface Verified { input: VerifyInput; failure: VerifyFailure }

const pool = new StoreWorkerPool<{ failure: VerifyFailure }>("verify-worker", import.meta.dir, { jobsMax: verifyWorkerJobsMax, jobTimeoutMs: verifyJobTimeoutMs },
  (reply) => {
    const { failure } = reply as { failure?: VerifyFailure };
    return failure !== undefined ? { failure } : undefined;
  });

/**
 * Lays out and verifies a batch: on the worker when large enough and available, else
 * inline. The worker reads the values in place (shared memory) and answers the verdict
 * alone; a batch it fails to answer is verified inline from the same buffer (a late
 * worker only reads it, and its answer is ignored).
 */
export function verifyStored(segments: StoredSegment[], origin: Origin, createdS: number, useWorker: boolean): Promise<Verified> | Verified {
  const { input, ...where } = packStored(segments, origin, createdS);
  if (!useWorker || segments.length < verifyWorkerSegmentsMin) return { input, failure: verifyValues(input) };
  const ran = pool.run({ ...where }, [], () => ({ failure: verifyValues(input) }));
  return ran instanceof Promise ? ran.then(({ failure }) => ({ input, failure })) : { input, failure: ran.failure };
}
