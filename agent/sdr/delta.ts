// Delta encoding of a segment against a similar base segment (resemblance detection
// picks the base). The instruction stream is a sequence of varint headers
// `len << 1 | kind`: kind 0 = INSERT followed by `len` literal bytes, kind 1 = COPY
// followed by a varint offset into the base. Inserts are left uncompressed here: the
// frame's stream compressor sees them next to the rest of the traffic.
import { TandemError } from "../errors.ts";

/** Shortest copy worth an instruction (a copy costs ~4 bytes). */
const copyBytesMin = 8;
const hashBits = 15;

function hash4(b: Uint8Array, i: number): number {
  const v = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
  return Math.imul(v, 0x9e3779b1) >>> (32 - hashBits);
}

/** Inserts up to this long are copied byte by byte: a subarray view plus set() per
 *  insert cost more than the copy (text bases give many short inserts). */
const shortCopyBytesMax = 64;

/** One output buffer for every call (reset, grown when needed, copied out once): a
 *  fresh zeroed buffer per attempt was a tenth of the delta time. */
class ByteWriter {
  bytes = new Uint8Array(64 * 1024);
  length = 0;
  reset(): void {
    this.length = 0;
  }
  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  varint(value: number): void {
    this.ensure(8);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
  }
  append(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    const bytes = this.bytes;
    if (n <= shortCopyBytesMax) {
      let o = this.length;
      for (let i = start; i < end; i++) bytes[o++] = src[i]!;
    } else {
      bytes.set(src.subarray(start, end), this.length);
    }
    this.length += n;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const out = new ByteWriter();

/** Positions in `table` are stored as `epoch + position`: an entry below the current
 *  epoch is from an earlier call, so no call clears the 128 KiB table (that fill was
 *  a tenth of a delta attempt, and most attempts in a cold stream fail). */
const table = new Int32Array(1 << hashBits);
let epoch = 1;
/** Where epochs restart (and the table is cleared): below 2^31 with room for a base. */
const epochMax = 0x40000000;

/** Evenly spaced probes of the target checked against the base before the full scan. */
const probeCount = 32;

/** Whether enough probes find their 8 bytes in the base for a delta within the budget to
 *  be possible. A delta of at most `budget` bytes copies at least target - budget bytes,
 *  so about that share of probes land in copied bytes and, on a base indexed at every
 *  position, find them; this asks for a quarter of that share. Most cold attempts are
 *  against a base that shares a super-feature by chance (a common phrase), and failing
 *  them here skips the scan that otherwise only gave up after half the target. */
function worthScanning(base: Uint8Array, target: Uint8Array, budget: number, e: number): boolean {
  const span = target.length - copyBytesMin;
  if (span < probeCount * 4) return true;
  const copiedShare = 1 - budget / target.length;
  const hitsMin = Math.floor((probeCount * copiedShare) / 4);
  let hits = 0;
  for (let k = 0; k < probeCount; k++) {
    const p = Math.floor((span * k) / probeCount);
    const c = table[hash4(target, p)]! - e;
    if (c < 0 || c + copyBytesMin > base.length) continue;
    let len = 0;
    while (len < copyBytesMin && base[c + len] === target[p + len]) len++;
    if (len === copyBytesMin && ++hits >= hitsMin) return true;
  }
  return hits >= hitsMin;
}

/** Instructions that rebuild `target` from `base`; stops early (returns undefined) once
 *  the delta grows past `budgetBytes`, since the caller would send the segment whole. */
export function encodeDelta(base: Uint8Array, target: Uint8Array, budgetBytes = target.length): Uint8Array | undefined {
  if (epoch + base.length + 1 >= epochMax) {
    table.fill(0);
    epoch = 1;
  }
  const e = epoch;
  epoch += base.length + 1;
  // Later positions overwrite earlier ones: fine, any match is verified.
  for (let i = 0; i + 4 <= base.length; i++) table[hash4(base, i)] = e + i;
  if (!worthScanning(base, target, budgetBytes, e)) return undefined;
  out.reset();
  let insertStart = 0;
  let p = 0;
  const last = target.length - copyBytesMin;
  while (p <= last) {
    const c = table[hash4(target, p)]! - e;
    if (c >= 0) {
      let len = 0;
      const maxLen = Math.min(base.length - c, target.length - p);
      while (len < maxLen && base[c + len] === target[p + len]) len++;
      if (len >= copyBytesMin) {
        // Grow the match backwards over bytes that would otherwise be inserted.
        let back = 0;
        while (p - back > insertStart && c - back > 0 && base[c - back - 1] === target[p - back - 1]) back++;
        if (p - back > insertStart) {
          out.varint((p - back - insertStart) * 2);
          out.append(target, insertStart, p - back);
        }
        out.varint((len + back) * 2 + 1);
        out.varint(c - back);
        p += len;
        insertStart = p;
        if (out.length > budgetBytes) return undefined;
        continue;
      }
    }
    p++;
    // Pending insert bytes alone already blow the budget: an unrelated base, give up.
    if (p - insertStart + out.length > budgetBytes) return undefined;
  }
  if (target.length > insertStart) {
    out.varint((target.length - insertStart) * 2);
    out.append(target, insertStart, target.length);
  }
  if (out.length > budgetBytes) return undefined;
  return out.result();
}

function badDelta(reason: string): never {
  throw new TandemError("badFrame", `SDR delta: ${reason}`);
}

/** Rebuilds the target; every instruction is bounds-checked against `outputBytesMax`. */
export function applyDelta(base: Uint8Array, delta: Uint8Array, outputBytesMax: number): Uint8Array {
  const parts: [number, number, Uint8Array][] = [];
  let total = 0;
  let i = 0;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (let n = 0; n < 8; n++) {
      if (i >= delta.length) badDelta("instruction stream ends inside a number");
      const b = delta[i++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    badDelta("number longer than 8 bytes");
  };
  while (i < delta.length) {
    const header = readVarint();
    const len = Math.floor(header / 2);
    if (len === 0) badDelta("zero-length instruction");
    if (total + len > outputBytesMax) badDelta(`result exceeds ${outputBytesMax} bytes`);
    if (header % 2 === 1) {
      const offset = readVarint();
      if (offset + len > base.length) badDelta(`copy of ${len} bytes at ${offset} runs past the ${base.length}-byte base`);
      parts.push([offset, offset + len, base]);
    } else {
      if (i + len > delta.length) badDelta(`insert of ${len} bytes runs past the instruction stream`);
      parts.push([i, i + len, delta]);
      i += len;
    }
    total += len;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const [start, end, src] of parts) {
    out.set(src.subarray(start, end), o);
    o += end - start;
  }
  return out;
}
