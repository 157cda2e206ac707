// Order-independent digest of a set of labels: the count and the sum of the labels,
// read as 256-bit little-endian integers, mod 2^256. Labels are BLAKE3 outputs, so
// their sum is as good a set fingerprint as a sum of hashes of them, and it can be
// updated incrementally and split by key range (range-based reconciliation uses the
// same arithmetic). Two stores with the same key set print the same digest.
import { labelBytes, type Label } from "./types.ts";

const limbs = labelBytes / 4;

export class KeySetDigest {
  private readonly sum = new Uint32Array(limbs);
  count = 0;

  add(label: Label): void {
    const view = new DataView(label.buffer, label.byteOffset, labelBytes);
    let carry = 0;
    for (let i = 0; i < limbs; i++) {
      const total = this.sum[i]! + view.getUint32(i * 4, true) + carry;
      this.sum[i] = total >>> 0;
      carry = total > 0xffffffff ? 1 : 0;
    }
    this.count++;
  }

  /** The 32-byte sum, little-endian, as hex. */
  hex(): string {
    const out = new Uint8Array(labelBytes);
    const view = new DataView(out.buffer);
    for (let i = 0; i < limbs; i++) view.setUint32(i * 4, this.sum[i]!, true);
    return Buffer.from(out).toString("hex");
  }

  /** The line `tandem store digest` prints. */
  line(): string {
    return `segments ${this.count} digest ${this.hex()}`;
  }
}
