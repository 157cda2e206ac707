// The messages of the data store sync protocol (after the handshake in
// agent/wire/handshake.ts), each with an explicit to-wire/from-wire codec that
// validates every field: a peer's frame never reaches the core unchecked, and internal
// objects are never packed as they are. Any violation is TandemError("badFrame").
//
//   state        each side's identity, pairing flags and replication cursor (first message)
//   rep / ack    live replication from the change log, and the durable acknowledgement
//   rc.*         range-based reconciliation (fingerprints, keys, wants, pushes and their
//                durable acknowledgements, which bound the pushes in flight, ends)
//   init.*       completion of the initial overwrite (backup adopts the master's identity)
//   fetch        re-fetch of segments found corrupt by the scrub
//
// The segment-carrying messages (rep, rc.push, fetched) travel in the frame's bulk form
// (agent/wire/framing.ts): a msgpack head listing each segment with its payload length,
// then the payloads end to end, never copied into msgpack on the way out and taken as
// views of the frame on the way in. The lengths must add up to the bulk exactly.
import { TandemError } from "../errors.ts";
import { labelBytes, type Label, type StoredSegment } from "../store/types.ts";
import { BulkMessage } from "../wire/framing.ts";

/** Bounds on what one message may carry (the frame bound applies as well). */
export const segsPerMessageMax = 4096;
export const labelsPerMessageMax = 65536;
export const prefixBytes = 8;
export const fingerprintBytes = 6;
export const bucketBitsMax = 24;
export const segmentRawBytesMax = 1024 * 1024;
const idCharsMax = 100;

export type ReconMode = "union" | "overwrite";

export interface StateMsg {
  t: "state";
  storeId: string;
  generation: string;
  peerGeneration: string | null;
  initialDone: boolean;
  initGeneration: string | null;     // master generation of an interrupted initial sync
  initCursor: number | null;         // resume point: first 32 bits of the key space
  recvGeneration: string | null;     // peer generation recvSeq belongs to
  recvSeq: number;                   // peer change-log entries durably received through
  count: number;
  lastSeq: number;
  storedBytes: number;               // at-rest bytes (progress of an initial sync)
}
export interface RepMsg { t: "rep"; throughSeq: number; segs: StoredSegment[] }
export interface AckMsg { t: "ack"; throughSeq: number; corrupt: Label[] }
export interface FpMsg { t: "rc.fp"; id: number; mode: ReconMode; bits: number; from: number; to: number; fps: Uint8Array }
export interface KeysMsg { t: "rc.keys"; id: number; buckets: Uint32Array; counts: Uint32Array; prefixes: Uint8Array; last: boolean }
export interface WantMsg { t: "rc.want"; id: number; want: Uint8Array; drop: Uint8Array; last: boolean }
export interface PushMsg { t: "rc.push"; id: number; segs: StoredSegment[] }
export interface PushedMsg { t: "rc.pushed"; id: number }
export interface EndMsg { t: "rc.end"; id: number; cursor: number | null }
export interface WdoneMsg { t: "rc.wdone"; id: number }
export interface EndAckMsg { t: "rc.endack"; id: number; evicted: Label[] }
export interface DelMsg { t: "rc.del"; id: number; prefixes: Uint8Array }
export interface InitDoneMsg { t: "init.done"; storeId: string; generation: string }
export interface InitAckMsg { t: "init.ack"; generation: string }
export interface FetchMsg { t: "fetch"; labels: Label[] }
export interface FetchedMsg { t: "fetched"; segs: StoredSegment[] }

export type SyncMessage =
  | StateMsg | RepMsg | AckMsg | FpMsg | KeysMsg | WantMsg | PushMsg | PushedMsg | EndMsg | WdoneMsg
  | EndAckMsg | DelMsg | InitDoneMsg | InitAckMsg | FetchMsg | FetchedMsg;

// ---- validators ----

function bad(what: string): never {
  throw new TandemError("badFrame", `sync message: ${what}`);
}
function map(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) bad("not a map");
  return v as Record<string, unknown>;
}
function uint(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) bad(`${what} is not an integer in 0..${max}`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length > idCharsMax) bad(`${what} is not a short string`);
  return v;
}
function strOrNull(v: unknown, what: string): string | null {
  return v === null || v === undefined ? null : str(v, what);
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") bad(`${what} is not a boolean`);
  return v;
}
function bin(v: unknown, what: string, unit: number, maxUnits: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length % unit !== 0 || v.length / unit > maxUnits) {
    bad(`${what} is not a byte string of at most ${maxUnits} × ${unit} bytes`);
  }
  return v;
}
function label(v: unknown, what: string): Label {
  if (!(v instanceof Uint8Array) || v.length !== labelBytes) bad(`${what} is not a ${labelBytes}-byte label`);
  return v;
}
function labels(v: unknown, what: string): Label[] {
  if (!Array.isArray(v) || v.length > labelsPerMessageMax) bad(`${what} is not a list of labels`);
  return v.map((x, i) => label(x, `${what}[${i}]`));
}

function u32s(v: unknown, what: string): Uint32Array {
  const b = bin(v, what, 4, labelsPerMessageMax);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Uint32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, false);
  return out;
}
function u32sToWire(a: Uint32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setUint32(i * 4, a[i]!, false);
  return out;
}

/** Largest payload of one segment (an LZ4 block of a segmentRawBytesMax segment fits). */
export const segmentPayloadBytesMax = segmentRawBytesMax + 1024;

/** A segment's entry in a bulk head; its payload goes in the bulk. */
export function segToWire(s: StoredSegment): Record<string, unknown> {
  const wire: Record<string, unknown> = { l: s.label, e: s.encoding === "lz4" ? 1 : 0, r: s.rawBytes, n: s.payload.length };
  if (s.successor) wire.s = s.successor;
  if (s.predecessor) wire.q = s.predecessor;
  if (s.previousSuccessor) wire.a = s.previousSuccessor;
  return wire;
}
/** A segment from its head entry and its payload (already cut from the bulk). */
export function segFromWire(v: unknown, payload: Uint8Array, what: string): StoredSegment {
  const m = map(v);
  const e = uint(m.e, `${what}.e`, 1);
  const rawBytes = uint(m.r, `${what}.r`, segmentRawBytesMax);
  if (e === 0 && payload.length !== rawBytes) bad(`${what}: raw payload length ${payload.length} is not ${rawBytes}`);
  const seg: StoredSegment = { label: label(m.l, `${what}.l`), encoding: e === 1 ? "lz4" : "raw", rawBytes, payload };
  if (m.s !== undefined) seg.successor = label(m.s, `${what}.s`);
  if (m.q !== undefined) seg.predecessor = label(m.q, `${what}.q`);
  if (m.a !== undefined) seg.previousSuccessor = label(m.a, `${what}.a`);
  return seg;
}
/** The segments of a bulk message: head entries in `v`, payloads cut from the bulk's
 *  pieces (views of the frame) by their declared lengths, which must cover them exactly.
 *  A payload cut by the boundary of two pieces is copied; every other one is a view. */
function segs(v: unknown, bulk: Uint8Array[], what: string): StoredSegment[] {
  if (!Array.isArray(v) || v.length > segsPerMessageMax) bad(`${what} is not a list of at most ${segsPerMessageMax} segments`);
  let total = 0;
  for (const piece of bulk) {
    if (!(piece instanceof Uint8Array)) bad("bulk piece is not a byte string");
    total += piece.length;
  }
  const out: StoredSegment[] = new Array(v.length);
  let piece = 0;
  let at = 0;
  let taken = 0;
  for (let i = 0; i < v.length; i++) {
    const n = uint(map(v[i]).n, `${what}[${i}].n`, segmentPayloadBytesMax);
    if (n > total - taken) bad(`${what}[${i}]: payload lengths overrun the ${total} bytes sent`);
    taken += n;
    while (piece < bulk.length && at === bulk[piece]!.length) (piece++, (at = 0));
    let payload: Uint8Array;
    if (n === 0) payload = new Uint8Array(0);
    else if (bulk[piece]!.length - at >= n) payload = bulk[piece]!.subarray(at, (at += n));
    else {
      payload = new Uint8Array(n);
      for (let o = 0; o < n;) {
        while (at === bulk[piece]!.length) (piece++, (at = 0));
        const k = Math.min(n - o, bulk[piece]!.length - at);
        payload.set(bulk[piece]!.subarray(at, at + k), o);
        (o += k), (at += k);
      }
    }
    out[i] = segFromWire(v[i], payload, `${what}[${i}]`);
  }
  if (taken !== total) bad(`${what}: payload lengths add up to ${taken}, ${total} bytes were sent`);
  return out;
}
const segmentMessages = new Set(["rep", "rc.push", "fetched"]);

// ---- codec ----

export function toWire(m: SyncMessage): Record<string, unknown> | BulkMessage {
  switch (m.t) {
    case "rep": return new BulkMessage({ t: m.t, throughSeq: m.throughSeq, segs: m.segs.map(segToWire) }, m.segs.map((s) => s.payload));
    case "rc.push": return new BulkMessage({ t: m.t, id: m.id, segs: m.segs.map(segToWire) }, m.segs.map((s) => s.payload));
    case "fetched": return new BulkMessage({ t: m.t, segs: m.segs.map(segToWire) }, m.segs.map((s) => s.payload));
    case "rc.keys": return { t: m.t, id: m.id, buckets: u32sToWire(m.buckets), counts: u32sToWire(m.counts), prefixes: m.prefixes, last: m.last };
    default: return { ...m };
  }
}

export function fromWire(v: unknown): SyncMessage {
  if (v instanceof BulkMessage) {
    const m = map(v.head);
    if (!segmentMessages.has(m.t as string)) bad(`${JSON.stringify(String(m.t)).slice(0, 40)} does not carry payloads`);
    const bulk = v.bulk;
    if (!Array.isArray(bulk)) bad("bulk is not a list of byte strings");
    switch (m.t) {
      case "rep": return { t: "rep", throughSeq: uint(m.throughSeq, "throughSeq"), segs: segs(m.segs, bulk, "segs") };
      case "rc.push": return { t: "rc.push", id: uint(m.id, "id"), segs: segs(m.segs, bulk, "segs") };
      default: return { t: "fetched", segs: segs(m.segs, bulk, "segs") };
    }
  }
  const m = map(v);
  if (segmentMessages.has(m.t as string)) bad(`${String(m.t)} without its payloads in the frame's bulk`);
  switch (m.t) {
    case "state":
      return {
        t: "state",
        storeId: str(m.storeId, "storeId"),
        generation: str(m.generation, "generation"),
        peerGeneration: strOrNull(m.peerGeneration, "peerGeneration"),
        initialDone: bool(m.initialDone, "initialDone"),
        initGeneration: strOrNull(m.initGeneration, "initGeneration"),
        initCursor: m.initCursor == null ? null : uint(m.initCursor, "initCursor", 0xffffffff),
        recvGeneration: strOrNull(m.recvGeneration, "recvGeneration"),
        recvSeq: uint(m.recvSeq, "recvSeq"),
        count: uint(m.count, "count"),
        lastSeq: uint(m.lastSeq, "lastSeq"),
        storedBytes: m.storedBytes == null ? 0 : uint(m.storedBytes, "storedBytes"),
      };
    case "ack": return { t: "ack", throughSeq: uint(m.throughSeq, "throughSeq"), corrupt: labels(m.corrupt, "corrupt") };
    case "rc.fp": {
      const bits = uint(m.bits, "bits", bucketBitsMax);
      const buckets = 2 ** bits;
      const from = uint(m.from, "from", buckets);
      const to = uint(m.to, "to", buckets);
      if (to < from) bad("rc.fp range is reversed");
      const fps = bin(m.fps, "fps", fingerprintBytes, to - from);
      if (fps.length !== (to - from) * fingerprintBytes) bad("rc.fp fingerprint count does not match its range");
      if (m.mode !== "union" && m.mode !== "overwrite") bad("rc.fp mode");
      return { t: "rc.fp", id: uint(m.id, "id"), mode: m.mode, bits, from, to, fps };
    }
    case "rc.keys": {
      const buckets = u32s(m.buckets, "buckets");
      const counts = u32s(m.counts, "counts");
      if (counts.length !== buckets.length) bad("rc.keys counts and buckets differ in length");
      const prefixes = bin(m.prefixes, "prefixes", prefixBytes, labelsPerMessageMax * 2);
      let total = 0;
      for (const c of counts) total += c;
      if (total !== prefixes.length / prefixBytes) bad("rc.keys counts do not add up to the prefixes sent");
      return { t: "rc.keys", id: uint(m.id, "id"), buckets, counts, prefixes, last: bool(m.last, "last") };
    }
    case "rc.want":
      return {
        t: "rc.want", id: uint(m.id, "id"),
        want: bin(m.want, "want", prefixBytes, labelsPerMessageMax * 2),
        drop: bin(m.drop, "drop", prefixBytes, labelsPerMessageMax * 2),
        last: bool(m.last, "last"),
      };
    case "rc.pushed": return { t: "rc.pushed", id: uint(m.id, "id") };
    case "rc.end": return { t: "rc.end", id: uint(m.id, "id"), cursor: m.cursor == null ? null : uint(m.cursor, "cursor", 0xffffffff) };
    case "rc.wdone": return { t: "rc.wdone", id: uint(m.id, "id") };
    case "rc.endack": return { t: "rc.endack", id: uint(m.id, "id"), evicted: labels(m.evicted, "evicted") };
    case "rc.del": return { t: "rc.del", id: uint(m.id, "id"), prefixes: bin(m.prefixes, "prefixes", prefixBytes, labelsPerMessageMax * 2) };
    case "init.done": return { t: "init.done", storeId: str(m.storeId, "storeId"), generation: str(m.generation, "generation") };
    case "init.ack": return { t: "init.ack", generation: str(m.generation, "generation") };
    case "fetch": return { t: "fetch", labels: labels(m.labels, "labels") };
    default:
      bad(`unknown type ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  }
}

/** Approximate encoded size, for accounting in the core (the link knows the exact one). */
export function approxBytes(m: SyncMessage): number {
  let n = 32;
  const add = (s: StoredSegment[]) => s.forEach((x) => (n += x.payload.length + labelBytes + 12 + (x.successor ? labelBytes : 0) + (x.predecessor ? labelBytes : 0) +
    (x.previousSuccessor ? labelBytes : 0)));
  switch (m.t) {
    case "rep": case "rc.push": case "fetched": add(m.segs); break;
    case "rc.fp": n += m.fps.length; break;
    case "rc.keys": n += m.prefixes.length + m.buckets.length * 8; break;
    case "rc.want": n += m.want.length + m.drop.length; break;
    case "rc.del": n += m.prefixes.length; break;
    case "ack": case "rc.endack": n += (m.t === "ack" ? m.corrupt : m.evicted).length * 34; break;
    case "fetch": n += m.labels.length * 34; break;
  }
  return n;
}
