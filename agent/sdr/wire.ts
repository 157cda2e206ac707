// The versioned wire form of SDR ops. An ops frame is a msgpack array
// `[sdrWireVersion, encoding, bodyBytes, body]`; the body (after the frame's stream
// decompression) is a msgpack array of ops, each op a small array with its type tag
// first. Every op has an explicit toWire/fromWire pair that checks every field against
// a named bound, so a peer's malformed or oversized frame becomes a precise
// TandemError("badFrame") instead of an exception deep in the decoder.
import { Packr, Unpackr } from "msgpackr";
import { TandemError } from "../errors.ts";
import { labelBytes, type Label } from "../store/types.ts";

export const sdrWireVersion = 1;
/** Largest ops frame on the wire (compressed). */
export const opsFrameBytesMax = 8 * 1024 * 1024;
/** Largest decompressed frame body. */
export const opsBodyBytesMax = 16 * 1024 * 1024;
/** Largest number of ops in one frame. */
export const opsPerFrameMax = 65536;
/** Largest segment (DEF data, REP data, delta result) the codec accepts. */
export const segmentBytesMax = 256 * 1024;
/** Largest literal op. */
export const literalBytesMax = 256 * 1024;
/** Largest delta instruction stream. */
export const deltaBytesMax = 2 * segmentBytesMax;
/** Largest number of segments one RUN op stands for. */
export const runSegmentsMax = 16384;
/** Largest number of segments one frame may stand for (references and runs included). */
export const frameSegmentsMax = 65536;
/** Largest number of output bytes one frame may stand for (runs make frames small). */
export const frameOutputBytesMax = 256 * 1024 * 1024;

/** How the frame body is carried. */
export enum BodyEncoding {
  raw = 0,
  /** Flushed piece of the channel's one zstd stream: frames must be decoded in order. */
  zstdStream = 1,
}

export enum OpType {
  literal = 0,
  def = 1,
  ref = 2,
  run = 3,
  delta = 4,
}

export type Op =
  | { type: OpType.literal; data: Uint8Array }
  | { type: OpType.def; label: Label; data: Uint8Array }
  | { type: OpType.ref; label: Label }
  /** `count` consecutive segments starting at `first`, each the successor of the one
   *  before; `runLabel` is BLAKE3 of the concatenated labels (it names the run in a REQ). */
  | { type: OpType.run; first: Label; count: number; runLabel: Label }
  /** Segment `label` rebuilt by applying `delta` (see delta.ts) to segment `base`. */
  | { type: OpType.delta; label: Label; base: Label; delta: Uint8Array };

function bad(reason: string): never {
  throw new TandemError("badFrame", `SDR frame: ${reason}`);
}

function readLabel(value: unknown, what: string): Label {
  if (!(value instanceof Uint8Array) || value.length !== labelBytes) bad(`${what} must be ${labelBytes} bytes`);
  return value;
}

function readBytes(value: unknown, what: string, max: number, min = 0): Uint8Array {
  if (!(value instanceof Uint8Array)) bad(`${what} must be binary`);
  if (value.length > max) bad(`${what} of ${value.length} bytes exceeds ${max}`);
  if (value.length < min) bad(`${what} of ${value.length} bytes is shorter than ${min}`);
  return value;
}

function readCount(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    bad(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Packs one op as its wire array. */
export function opToWire(op: Op): unknown[] {
  switch (op.type) {
    case OpType.literal: return [OpType.literal, op.data];
    case OpType.def: return [OpType.def, op.label, op.data];
    case OpType.ref: return [OpType.ref, op.label];
    case OpType.run: return [OpType.run, op.first, op.count, op.runLabel];
    case OpType.delta: return [OpType.delta, op.label, op.base, op.delta];
  }
}

/** Validates one wire array and returns the op; `index` only names it in errors. */
export function opFromWire(value: unknown, index: number): Op {
  if (!Array.isArray(value) || value.length === 0) bad(`op ${index} is not a non-empty array`);
  const at = (what: string) => `op ${index} ${what}`;
  const expectLength = (n: number) => {
    if (value.length !== n) bad(`op ${index} (type ${value[0]}) has ${value.length} fields, expected ${n}`);
  };
  switch (value[0]) {
    case OpType.literal:
      expectLength(2);
      return { type: OpType.literal, data: readBytes(value[1], at("literal"), literalBytesMax, 1) };
    case OpType.def:
      expectLength(3);
      return { type: OpType.def, label: readLabel(value[1], at("DEF label")), data: readBytes(value[2], at("DEF data"), segmentBytesMax, 1) };
    case OpType.ref:
      expectLength(2);
      return { type: OpType.ref, label: readLabel(value[1], at("REF label")) };
    case OpType.run:
      expectLength(4);
      return {
        type: OpType.run,
        first: readLabel(value[1], at("RUN first label")),
        count: readCount(value[2], at("RUN count"), 2, runSegmentsMax),
        runLabel: readLabel(value[3], at("RUN label")),
      };
    case OpType.delta:
      expectLength(4);
      return {
        type: OpType.delta,
        label: readLabel(value[1], at("DELTA label")),
        base: readLabel(value[2], at("DELTA base label")),
        delta: readBytes(value[3], at("DELTA instructions"), deltaBytesMax, 1),
      };
    default:
      bad(`op ${index} has unknown type ${JSON.stringify(value[0])}`);
  }
}

// Plain msgpack: no records/structures extension, so the wire stays self-describing.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "number" });

export function encodeBody(ops: Op[]): Uint8Array {
  if (ops.length > opsPerFrameMax) throw new Error(`assert: ${ops.length} ops exceed opsPerFrameMax`);
  return packr.pack(ops.map(opToWire));
}

function unpackOne(bytes: Uint8Array, what: string): unknown {
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(bytes) as unknown[];
  } catch (err) {
    bad(`${what} is not valid msgpack (${err instanceof Error ? err.message : String(err)})`);
  }
  if (values.length !== 1) bad(`${what} holds ${values.length} msgpack values, expected 1`);
  return values[0];
}

export function decodeBody(body: Uint8Array): Op[] {
  if (body.length > opsBodyBytesMax) bad(`body of ${body.length} bytes exceeds opsBodyBytesMax (${opsBodyBytesMax})`);
  const value = unpackOne(body, "body");
  if (!Array.isArray(value)) bad("body is not an array of ops");
  if (value.length > opsPerFrameMax) bad(`${value.length} ops exceed opsPerFrameMax (${opsPerFrameMax})`);
  return value.map((op, i) => opFromWire(op, i));
}

export interface FrameEnvelope {
  encoding: BodyEncoding;
  /** Body length after decompression. */
  bodyBytes: number;
  body: Uint8Array;
}

export function encodeFrame(envelope: FrameEnvelope): Uint8Array {
  const frame = packr.pack([sdrWireVersion, envelope.encoding, envelope.bodyBytes, envelope.body]);
  if (frame.length > opsFrameBytesMax) throw new Error(`assert: frame of ${frame.length} bytes exceeds opsFrameBytesMax`);
  return frame;
}

export function decodeFrame(frame: Uint8Array): FrameEnvelope {
  if (!(frame instanceof Uint8Array)) bad("frame must be binary");
  if (frame.length > opsFrameBytesMax) bad(`frame of ${frame.length} bytes exceeds opsFrameBytesMax (${opsFrameBytesMax})`);
  const value = unpackOne(frame, "frame");
  if (!Array.isArray(value) || value.length !== 4) bad("frame is not a 4-field array");
  if (value[0] !== sdrWireVersion) bad(`frame has version ${JSON.stringify(value[0])}, this agent speaks ${sdrWireVersion}`);
  const encoding = value[1];
  if (encoding !== BodyEncoding.raw && encoding !== BodyEncoding.zstdStream) bad(`frame has unknown body encoding ${JSON.stringify(encoding)}`);
  const bodyBytes = readCount(value[2], "frame body length", 1, opsBodyBytesMax);
  const body = readBytes(value[3], "frame body", opsFrameBytesMax, 1);
  if (encoding === BodyEncoding.raw && body.length !== bodyBytes) bad(`raw body is ${body.length} bytes, header says ${bodyBytes}`);
  return { encoding, bodyBytes, body };
}
