// The versioned wire form of SDR ops. An ops frame is a msgpack array
// `[sdrWireVersion, encoding, bodyBytes, body]`; the body (after the frame's stream
// decompression) is a msgpack array of ops, each op a small array with its type tag
// first. Every op has an explicit toWire/fromWire pair that checks every field against
// a named bound, so a peer's malformed or oversized frame becomes a precise
// TandemError("badFrame") instead of an exception deep in the decoder.
//
// Version 2 adds the two ops that let a flush deliver bytes without cutting a segment
// (so flush timing never moves content-defined boundaries): HEAD delivers a range of a
// known segment's bytes (the undecided tail is most often the start of the segment
// the learned chain predicts), and DELIVERED says that the first N bytes of the next
// op's (first) segment already went out as literal or HEAD bytes. Version 1 frames
// (a subset) are still decoded.
//
// Version 3 lets a RUN step over a fork: `forks` lists the positions whose segment is
// the PREVIOUS successor of the one before (segments repeated in the data have two),
// so a run no longer breaks there. A v3 frame without forks reads as v2.
import { Packr, Unpackr } from "msgpackr";
import { TandemError } from "../errors.ts";
import { labelBytes, type Label } from "../store/types.ts";

export const sdrWireVersion = 3;
/** Oldest frame version this agent decodes (v1 has no HEAD/DELIVERED ops). */
export const sdrWireVersionMin = 1;
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
/** Largest byte range of a HEAD op, and most bytes of a segment one DELIVERED op may
 *  say were already delivered (a tail is always shorter than a segment). */
export const headBytesMax = segmentBytesMax;
/** Largest delta instruction stream. */
export const deltaBytesMax = 2 * segmentBytesMax;
/** Largest number of segments one RUN op stands for. */
export const runSegmentsMax = 16384;
/** Largest number of fork positions one RUN op may list. */
export const runForksMax = 4096;
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
  head = 5,
  delivered = 6,
}

export type Op =
  | { type: OpType.literal; data: Uint8Array }
  | { type: OpType.def; label: Label; data: Uint8Array }
  | { type: OpType.ref; label: Label }
  /** `count` consecutive segments starting at `first`, each the successor of the one
   *  before, except at the positions in `forks` (v3; increasing, 1..count-1), where it is
   *  the previous successor; `runLabel` is BLAKE3 of the concatenated labels (it names
   *  the run in a REQ). */
  | { type: OpType.run; first: Label; count: number; runLabel: Label; forks?: number[] }
  /** Segment `label` rebuilt by applying `delta` (see delta.ts) to segment `base`. */
  | { type: OpType.delta; label: Label; base: Label; delta: Uint8Array }
  /** Bytes [offset, offset + length) of known segment `label` (v2). */
  | { type: OpType.head; label: Label; offset: number; length: number }
  /** The first `bytes` bytes of the next op's (first) segment were already delivered (v2). */
  | { type: OpType.delivered; bytes: number };

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

/** Fork positions of a run of `count`: 1 to runForksMax integers, increasing, in 1..count-1. */
function readForks(value: unknown, count: number, what: string): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > runForksMax) bad(`${what} must be an array of 1 to ${runForksMax} positions`);
  let last = 0;
  for (const at of value) {
    if (typeof at !== "number" || !Number.isInteger(at) || at <= last || at >= count) bad(`${what} must be increasing positions from 1 to ${count - 1}`);
    last = at;
  }
  return value as number[];
}

/** Packs one op as its wire array. */
export function opToWire(op: Op): unknown[] {
  switch (op.type) {
    case OpType.literal: return [OpType.literal, op.data];
    case OpType.def: return [OpType.def, op.label, op.data];
    case OpType.ref: return [OpType.ref, op.label];
    case OpType.run: return op.forks && op.forks.length > 0
      ? [OpType.run, op.first, op.count, op.runLabel, op.forks]
      : [OpType.run, op.first, op.count, op.runLabel];
    case OpType.delta: return [OpType.delta, op.label, op.base, op.delta];
    case OpType.head: return [OpType.head, op.label, op.offset, op.length];
    case OpType.delivered: return [OpType.delivered, op.bytes];
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
    case OpType.run: {
      if (value.length !== 4 && value.length !== 5) bad(`op ${index} (type ${value[0]}) has ${value.length} fields, expected 4 or 5`);
      const count = readCount(value[2], at("RUN count"), 2, runSegmentsMax);
      const op: Op = {
        type: OpType.run,
        first: readLabel(value[1], at("RUN first label")),
        count,
        runLabel: readLabel(value[3], at("RUN label")),
      };
      if (value.length === 5) op.forks = readForks(value[4], count, at("RUN forks"));
      return op;
    }
    case OpType.delta:
      expectLength(4);
      return {
        type: OpType.delta,
        label: readLabel(value[1], at("DELTA label")),
        base: readLabel(value[2], at("DELTA base label")),
        delta: readBytes(value[3], at("DELTA instructions"), deltaBytesMax, 1),
      };
    case OpType.head: {
      expectLength(4);
      const label = readLabel(value[1], at("HEAD label"));
      const offset = readCount(value[2], at("HEAD offset"), 0, headBytesMax - 1);
      const length = readCount(value[3], at("HEAD length"), 1, headBytesMax - offset);
      return { type: OpType.head, label, offset, length };
    }
    case OpType.delivered:
      expectLength(2);
      return { type: OpType.delivered, bytes: readCount(value[1], at("DELIVERED bytes"), 1, headBytesMax) };
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

/** The ops of a body, checked one by one; a DELIVERED op must be followed by an op
 *  that stands for a segment, and v1 bodies may not hold the v2 ops. */
export function decodeBody(body: Uint8Array, version = sdrWireVersion): Op[] {
  if (body.length > opsBodyBytesMax) bad(`body of ${body.length} bytes exceeds opsBodyBytesMax (${opsBodyBytesMax})`);
  const value = unpackOne(body, "body");
  if (!Array.isArray(value)) bad("body is not an array of ops");
  if (value.length > opsPerFrameMax) bad(`${value.length} ops exceed opsPerFrameMax (${opsPerFrameMax})`);
  const ops = value.map((op, i) => opFromWire(op, i));
  for (let i = 0; i < ops.length; i++) {
    const type = ops[i]!.type;
    if (version < 2 && (type === OpType.head || type === OpType.delivered)) bad(`op ${i} (type ${type}) needs wire version 2, frame has ${version}`);
    if (version < 3 && type === OpType.run && (ops[i] as { forks?: number[] }).forks) bad(`op ${i} (RUN with forks) needs wire version 3, frame has ${version}`);
    if (type !== OpType.delivered) continue;
    const next = ops[i + 1]?.type;
    if (next !== OpType.def && next !== OpType.ref && next !== OpType.run && next !== OpType.delta) {
      bad(`op ${i} (DELIVERED) is not followed by a segment op`);
    }
  }
  return ops;
}

export interface FrameEnvelope {
  /** Wire version of the frame (decodeBody needs it). */
  version?: number;
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
  const version = value[0];
  if (typeof version !== "number" || !Number.isInteger(version) || version < sdrWireVersionMin || version > sdrWireVersion) {
    bad(`frame has version ${JSON.stringify(version)}, this agent speaks ${sdrWireVersionMin} to ${sdrWireVersion}`);
  }
  const encoding = value[1];
  if (encoding !== BodyEncoding.raw && encoding !== BodyEncoding.zstdStream) bad(`frame has unknown body encoding ${JSON.stringify(encoding)}`);
  const bodyBytes = readCount(value[2], "frame body length", 1, opsBodyBytesMax);
  const body = readBytes(value[3], "frame body", opsFrameBytesMax, 1);
  if (encoding === BodyEncoding.raw && body.length !== bodyBytes) bad(`raw body is ${body.length} bytes, header says ${bodyBytes}`);
  return { version, encoding, bodyBytes, body };
}
