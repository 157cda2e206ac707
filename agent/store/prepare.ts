// Turns new segments into at-rest values before they are queued for LMDB: checks
// that each segment's data hashes to its label (a mismatch fails the whole call,
// naming the label) unless the caller computed that label here from the same bytes,
// and LZ4-compresses it, raw when compression does not pay. Pure and synchronous, so
// the same code runs on the caller's thread or in a prep worker (prep-pool.ts) when a
// batch is large enough to be worth the hop; only the worker needs the bytes packed.
import { compressSegments, hashMany } from "./codec.ts";
import { labelHex, labelsEqual, writeValueHeader } from "./format.ts";
import { SharedBufferPool } from "./shared-pool.ts";
import { labelBytes, type Origin, type SegmentInput } from "./types.ts";

export interface PrepInput {
  /** Segment bytes laid end to end. */
  joined: Uint8Array;
  lengths: Uint32Array;
  /** Labels laid end to end, 32 bytes each. */
  labels: Uint8Array;
  /** Per segment: 1 when its label was computed in this process from these bytes (not re-hashed). */
  computedHere: Uint8Array;
  origin: Origin;
  createdS: number;
}

/** Either every value (header with seq 0 + payload), or the first label that did not match. */
export type PrepOutput = { values: Uint8Array[] } | { badLabel: string };

/** Prepares packed segments (the worker's form). */
export function prepareValues(input: PrepInput): PrepOutput {
  const { joined, lengths } = input;
  const pieces: Uint8Array[] = new Array(lengths.length);
  let offset = 0;
  for (let i = 0; i < lengths.length; i++) {
    pieces[i] = joined.subarray(offset, offset + lengths[i]!);
    offset += lengths[i]!;
  }
  return preparePieces(pieces, (i) => input.labels.subarray(i * labelBytes, (i + 1) * labelBytes), (i) => input.computedHere[i] === 1, input.origin, input.createdS);
}

/** Prepares segments as the caller gave them, without packing (inline preparation). */
export function prepareSegments(segments: SegmentInput[], origin: Origin, createdS: number): PrepOutput {
  return preparePieces(segments.map((s) => s.data), (i) => segments[i]!.label, (i) => segments[i]!.labelComputedHere === true, origin, createdS);
}

function preparePieces(
  pieces: Uint8Array[], labelOf: (i: number) => Uint8Array, computedHere: (i: number) => boolean, origin: Origin, createdS: number,
): PrepOutput {
  const checked: number[] = [];
  for (let i = 0; i < pieces.length; i++) if (!computedHere(i)) checked.push(i);
  const hashes = hashMany(checked.map((i) => pieces[i]!));
  for (let k = 0; k < checked.length; k++) {
    const label = labelOf(checked[k]!);
    if (!labelsEqual(hashes.subarray(k * labelBytes, (k + 1) * labelBytes), label)) return { badLabel: labelHex(label) };
  }
  const { values, compressed } = compressSegments(pieces);
  for (let i = 0; i < values.length; i++) {
    writeValueHeader(values[i]!, { encoding: compressed[i] === 1 ? "lz4" : "raw", origin, rawBytes: pieces[i]!.length, createdS, seq: 0 });
  }
  return { values };
}

/** Pack buffers kept for the next batches (shared-pool.ts): a call of 256 segments packs ~2.5 MB. */
export const packBuffersPooledMax = 8;
/** Larger packs are left to the collector. */
export const packBufferPooledBytesMax = 8 * 2 ** 20;
const packPool = new SharedBufferPool(packBuffersPooledMax, packBufferPooledBytesMax, 256 * 1024);

/** Packs segments for prepareValues: one copy, into shared memory, so that posting it
 *  to the worker copies nothing more (and the copy stays here for the inline fallback). */
export function packSegments(segments: SegmentInput[]): Pick<PrepInput, "joined" | "lengths" | "labels" | "computedHere"> {
  let total = 0;
  for (const { data } of segments) total += data.length;
  const joined = new Uint8Array(packPool.take(total), 0, total);
  const lengths = new Uint32Array(segments.length);
  const labels = new Uint8Array(segments.length * labelBytes);
  const computedHere = new Uint8Array(segments.length);
  let offset = 0;
  segments.forEach(({ data, label, labelComputedHere }, i) => {
    joined.set(data, offset);
    offset += data.length;
    lengths[i] = data.length;
    labels.set(label, i * labelBytes);
    computedHere[i] = labelComputedHere === true ? 1 : 0;
  });
  return { joined, lengths, labels, computedHere };
}

/** Gives a pack's buffer back once its batch is prepared: the values are copies (LZ4
 *  output or raw bytes copied behind their header), so nothing reads the pack after. */
export function releasePacked(input: Pick<PrepInput, "joined">): void {
  packPool.give(input.joined.buffer);
}

/** One batch's output from its two parts (worker head, inline tail): the first bad label wins. */
export function joinOutputs(head: PrepOutput, tail: PrepOutput | null): PrepOutput {
  if (!tail || "badLabel" in head) return head;
  if ("badLabel" in tail) return tail;
  return { values: [...head.values, ...tail.values] };
}
