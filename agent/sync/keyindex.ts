// An in-memory fingerprint index of a store's key set, for range-based reconciliation.
// The key space is cut into 2^fineBits buckets by the leading bits of each label; per
// bucket we keep a count and the XOR of one 32-bit word of every key in it. Keys are
// BLAKE3 hashes, so both are uniform. Adding or removing a key is O(1); fingerprints at
// any coarser level are folded from the fine level on demand (O(buckets), never O(keys)),
// which keeps the O(N) work out of each reconciliation round.
import type { Label } from "../store/types.ts";

/** Default fine level: 2^18 buckets, 2 MiB of counters. */
export const indexFineBitsDefault = 18;
/** Keys per bucket the reconciliation aims for when it picks a level. */
export const keysPerBucketTarget = 16;

export function prefix32(label: Uint8Array): number {
  return ((label[0]! << 24) | (label[1]! << 16) | (label[2]! << 8) | label[3]!) >>> 0;
}

export function bucketOf(label: Uint8Array, bits: number): number {
  return bits === 0 ? 0 : prefix32(label) >>> (32 - bits);
}

/** First prefix32 of a bucket; 2^32 for the end of the key space. */
export function bucketStart(bucket: number, bits: number): number {
  return bucket * 2 ** (32 - bits);
}

/** A 32-byte label whose first four bytes are `p` (the rest zero): a range bound. */
export function labelAtPrefix32(p: number): Label | null {
  if (p >= 2 ** 32) return null;
  const out = new Uint8Array(32);
  out[0] = p >>> 24;
  out[1] = (p >>> 16) & 0xff;
  out[2] = (p >>> 8) & 0xff;
  out[3] = p & 0xff;
  return out;
}

function word(label: Uint8Array): number {
  return ((label[4]! << 24) | (label[5]! << 16) | (label[6]! << 8) | label[7]!) >>> 0;
}

export class KeyIndex {
  readonly xor: Uint32Array;
  readonly count: Uint32Array;
  total = 0;

  constructor(readonly fineBits = indexFineBitsDefault) {
    this.xor = new Uint32Array(2 ** fineBits);
    this.count = new Uint32Array(2 ** fineBits);
  }

  add(label: Uint8Array): void {
    const b = bucketOf(label, this.fineBits);
    this.xor[b] = (this.xor[b]! ^ word(label)) >>> 0;
    this.count[b]!++;
    this.total++;
  }

  remove(label: Uint8Array): void {
    const b = bucketOf(label, this.fineBits);
    if (this.count[b] === 0) return;
    this.xor[b] = (this.xor[b]! ^ word(label)) >>> 0;
    this.count[b]!--;
    this.total--;
  }

  clear(): void {
    this.xor.fill(0);
    this.count.fill(0);
    this.total = 0;
  }

  /** The level (bits) that gives about keysPerBucketTarget keys per bucket for n keys. */
  bitsFor(n: number): number {
    const bits = Math.ceil(Math.log2(Math.max(1, n / keysPerBucketTarget)));
    return Math.max(0, Math.min(this.fineBits, bits));
  }

  /** Fingerprints of buckets [from, to) at `bits`: 6 bytes each (u32 xor, u16 count). */
  fingerprints(bits: number, from: number, to: number): Uint8Array {
    if (bits > this.fineBits) throw new Error(`level ${bits} is finer than the index (${this.fineBits})`);
    const shift = this.fineBits - bits;
    const out = new Uint8Array((to - from) * 6);
    const view = new DataView(out.buffer);
    for (let b = from; b < to; b++) {
      let x = 0;
      let c = 0;
      const start = b << shift;
      const end = (b + 1) << shift;
      for (let f = start; f < end; f++) {
        x ^= this.xor[f]!;
        c += this.count[f]!;
      }
      const o = (b - from) * 6;
      view.setUint32(o, x >>> 0, false);
      view.setUint16(o + 4, c & 0xffff, false);
    }
    return out;
  }
}
