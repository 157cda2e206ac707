// The at-rest byte layouts of the segment store: the small binary header in front of
// every stored segment value, the change-log entry value, and label helpers. Kept in
// one place so that the store, the CLI's verify/digest and the tests agree on bytes.
// A header is 16 bytes; JSON or msgpack per segment would cost more than the
// metadata is worth at 50,000 writes/s.
import { TandemError } from "../errors.ts";
import { labelBytes, type Label, type Origin } from "./types.ts";

/** Version of the value layout below; a store with another version is refused. */
export const valueFormatVersion = 1;
export const valueHeaderBytes = 16;
/** Largest raw segment the store accepts (SDR segments are at most 64 KiB). */
export const segmentBytesMax = 256 * 1024;
/** Largest at-rest payload: LZ4's worst-case expansion of segmentBytesMax. */
export const storedPayloadBytesMax = segmentBytesMax + Math.ceil(segmentBytesMax / 255) + 16;
/** Change-log value: label + origin byte. */
export const changeValueBytes = labelBytes + 1;

const flagLz4 = 1;
const flagPeer = 2;
/** Largest sequence number the header can hold (48 bits). */
export const seqMax = 2 ** 48 - 1;

/** What the header says about a stored value. */
export interface ValueHeader {
  encoding: "lz4" | "raw";
  origin: Origin;
  rawBytes: number;
  createdS: number;
  seq: number;
}

/** Builds header + payload as one buffer, ready to be put. */
export function encodeValue(header: ValueHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(valueHeaderBytes + payload.length);
  writeValue(out, header, payload);
  return out;
}

/** Writes header + payload into `out` (exactly valueHeaderBytes + payload.length long). */
export function writeValue(out: Uint8Array, header: ValueHeader, payload: Uint8Array): void {
  writeValueHeader(out, header);
  out.set(payload, valueHeaderBytes);
}

/** Writes the header into the first valueHeaderBytes of `value` (payload already behind it). */
export function writeValueHeader(value: Uint8Array, header: ValueHeader): void {
  const view = new DataView(value.buffer, value.byteOffset, valueHeaderBytes);
  value[0] = valueFormatVersion;
  value[1] = (header.encoding === "lz4" ? flagLz4 : 0) | (header.origin === "peer" ? flagPeer : 0);
  view.setUint32(2, header.rawBytes, true);
  view.setUint32(6, header.createdS >>> 0, true);
  view.setUint32(10, header.seq % 2 ** 32, true);
  view.setUint16(14, Math.floor(header.seq / 2 ** 32), true);
}

/** Parses a stored value's header; throws `corrupt` when the bytes cannot be one. */
export function decodeHeader(value: Uint8Array): ValueHeader {
  if (value.length < valueHeaderBytes) throw new TandemError("corrupt", `stored value of ${value.length} bytes is shorter than its header`);
  if (value[0] !== valueFormatVersion) throw new TandemError("corrupt", `stored value has format version ${value[0]}, expected ${valueFormatVersion}`);
  const flags = value[1]!;
  if (flags & ~(flagLz4 | flagPeer)) throw new TandemError("corrupt", `stored value has unknown flags ${flags}`);
  const view = new DataView(value.buffer, value.byteOffset, value.length);
  const rawBytes = view.getUint32(2, true);
  if (rawBytes > segmentBytesMax) throw new TandemError("corrupt", `stored value claims ${rawBytes} raw bytes, over segmentBytesMax`);
  const encoding = flags & flagLz4 ? "lz4" : "raw";
  if (encoding === "raw" && rawBytes !== value.length - valueHeaderBytes) {
    throw new TandemError("corrupt", `raw stored value holds ${value.length - valueHeaderBytes} bytes, header says ${rawBytes}`);
  }
  return {
    encoding,
    origin: flags & flagPeer ? "peer" : "local",
    rawBytes,
    createdS: view.getUint32(6, true),
    seq: view.getUint32(10, true) + view.getUint16(14, true) * 2 ** 32,
  };
}

export function encodeChange(label: Label, origin: Origin, out = new Uint8Array(changeValueBytes)): Uint8Array {
  out.set(label, 0);
  out[labelBytes] = origin === "peer" ? 1 : 0;
  return out;
}

export function decodeChange(value: Uint8Array): { label: Label; origin: Origin } {
  if (value.length !== changeValueBytes || value[labelBytes]! > 1) {
    throw new TandemError("corrupt", `change-log value of ${value.length} bytes is malformed`);
  }
  return { label: new Uint8Array(value.subarray(0, labelBytes)), origin: value[labelBytes] === 1 ? "peer" : "local" };
}

export function assertLabel(label: unknown, what = "label"): asserts label is Label {
  if (!(label instanceof Uint8Array) || label.length !== labelBytes) {
    throw new TandemError("badInput", `${what} must be ${labelBytes} bytes`);
  }
}

export function labelHex(label: Label): string {
  return Buffer.from(label.buffer, label.byteOffset, label.length).toString("hex");
}

export function labelFromHex(hex: string): Label {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TandemError("badInput", `'${hex}' is not a 64-digit hex label`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function labelsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
