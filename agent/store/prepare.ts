// Turns new segments into at-rest values before they are queued for LMDB: checks
// that each segment's data hashes to its label (a mismatch fails the whole call,
// naming the label) and LZ4-compresses it, raw when compression does not pay. Pure
// and synchronous, so the same code runs on the caller's thread or in a prep worker
// (prep-pool.ts) when a batch is large enough to be worth the hop.
import { compressSegment, hashMany } from "./codec.ts";
import { encodeValue, labelHex, labelsEqual } from "./format.ts";
import { labelBytes, type Origin } from "./types.ts";

export interface PrepInput {
  /** Segment bytes laid end to end. */
  joined: Uint8Array;
  lengths: Uint32Array;
  /** Labels laid end to end, 32 bytes each. */
  labels: Uint8Array;
  origin: Origin;
  createdS: number;
}

/** Either every value (header with seq 0 + payload), or the first label that did not match. */
export type PrepOutput = { values: Uint8Array[] } | { badLabel: string };

export function prepareValues(input: PrepInput): PrepOutput {
  const { joined, lengths, labels, origin, createdS } = input;
  const pieces: Uint8Array[] = [];
  let offset = 0;
  for (const length of lengths) {
    pieces.push(joined.subarray(offset, offset + length));
    offset += length;
  }
  const hashes = hashMany(pieces);
  for (let i = 0; i < pieces.length; i++) {
    const label = labels.subarray(i * labelBytes, (i + 1) * labelBytes);
    if (!labelsEqual(hashes.subarray(i * labelBytes, (i + 1) * labelBytes), label)) return { badLabel: labelHex(label) };
  }
  return {
    values: pieces.map((data) => {
      const block = compressSegment(data);
      return encodeValue({ encoding: block ? "lz4" : "raw", origin, rawBytes: data.length, createdS, seq: 0 }, block ?? data);
    }),
  };
}

/** Packs segments for prepareValues (one copy, transferable to a worker). */
export function packSegments(datas: Uint8Array[], labelList: Uint8Array[]): { joined: Uint8Array; lengths: Uint32Array; labels: Uint8Array } {
  let total = 0;
  for (const data of datas) total += data.length;
  const joined = new Uint8Array(total);
  const lengths = new Uint32Array(datas.length);
  const labels = new Uint8Array(datas.length * labelBytes);
  let offset = 0;
  datas.forEach((data, i) => {
    joined.set(data, offset);
    offset += data.length;
    lengths[i] = data.length;
    labels.set(labelList[i]!, i * labelBytes);
  });
  return { joined, lengths, labels };
}
