// The messages of an inner channel, after the wire handshake (agent/wire/handshake.ts,
// service "channel"). One inner channel carries exactly one optimized TCP connection:
//
//   client appliance → server appliance   open {dstAddr, dstPort, connId}
//   server → client                        opened | reset {reason}
//   either way                             data {ops}   one SDR ops frame (agent/sdr)
//                                          eof          the sender's LAN peer half-closed
//                                          ack {bytes}  ops bytes decoded and written to the LAN
//                                          req {id, labels}  the decoder lacks these labels
//                                          rep {id, segments, last}  answer, in parts
//                                          reset {reason}    abort this connection
//
// REQ goes to the side whose encoder produced the frame, so a REQ always addresses the
// receiver's encoder and a REP always its decoder: no direction tag is needed.
// Internal objects are never packed directly: every message has toWire/fromWire, and
// fromWire checks every field against a named bound; anything else is badFrame.
import { TandemError } from "../errors.ts";
import { opsFrameBytesMax, segmentBytesMax } from "../sdr/index.ts";
import { labelBytes } from "../store/types.ts";

/** Labels one REQ message may name; a decoder's larger ask is split over several. */
export const reqLabelsMax = 1024;
/** Segment bytes one REP part may carry (a single larger segment still goes alone). */
export const repPartBytesMax = 1024 * 1024;
/** Longest reset reason carried on the wire. */
export const resetReasonCharsMax = 300;
/** Largest frame an inner channel accepts: one maximal ops frame plus headroom. */
export const channelFrameBytesMax = opsFrameBytesMax + 64 * 1024;
/** Largest byte count one ACK may acknowledge. */
const ackBytesMax = 2 ** 40;
const addrCharsMax = 64;

export type ChannelMessage =
  | { t: "open"; dstAddr: string; dstPort: number; connId: number }
  | { t: "opened" }
  | { t: "data"; ops: Uint8Array }
  | { t: "eof" }
  | { t: "ack"; bytes: number }
  | { t: "req"; id: number; labels: Uint8Array[] }
  | { t: "rep"; id: number; segments: { label: Uint8Array; data: Uint8Array }[]; last: boolean }
  | { t: "reset"; reason: string };

function bad(what: string): never {
  throw new TandemError("badFrame", `channel message: ${what}`);
}

function uint(v: unknown, what: string, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) bad(`${what} is not an integer in 0..${max}`);
  return v;
}

function bin(v: unknown, what: string, max: number, exact?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} is not binary`);
  if (exact !== undefined && v.length !== exact) bad(`${what} is not ${exact} bytes`);
  if (v.length > max) bad(`${what} exceeds ${max} bytes`);
  return v;
}

function ipv4(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length > addrCharsMax) bad(`${what} is not an address`);
  const parts = v.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) bad(`${what} is not A.B.C.D`);
  return v;
}

export function messageToWire(m: ChannelMessage): Record<string, unknown> {
  switch (m.t) {
    case "open": return { t: "open", dstAddr: m.dstAddr, dstPort: m.dstPort, connId: m.connId };
    case "opened": return { t: "opened" };
    case "data": return { t: "data", ops: m.ops };
    case "eof": return { t: "eof" };
    case "ack": return { t: "ack", bytes: m.bytes };
    case "req": return { t: "req", id: m.id, labels: m.labels };
    case "rep": return { t: "rep", id: m.id, segments: m.segments.map((s) => [s.label, s.data]), last: m.last };
    case "reset": return { t: "reset", reason: m.reason.slice(0, resetReasonCharsMax) };
  }
}

export function messageFromWire(v: unknown): ChannelMessage {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) bad("not a map");
  const m = v as Record<string, unknown>;
  switch (m.t) {
    case "open":
      return {
        t: "open", dstAddr: ipv4(m.dstAddr, "open.dstAddr"), dstPort: uint(m.dstPort, "open.dstPort", 65535),
        connId: uint(m.connId, "open.connId", Number.MAX_SAFE_INTEGER),
      };
    case "opened":
      return { t: "opened" };
    case "data": {
      const ops = bin(m.ops, "data.ops", opsFrameBytesMax);
      if (ops.length === 0) bad("data.ops is empty");
      return { t: "data", ops };
    }
    case "eof":
      return { t: "eof" };
    case "ack":
      return { t: "ack", bytes: uint(m.bytes, "ack.bytes", ackBytesMax) };
    case "req": {
      if (!Array.isArray(m.labels) || m.labels.length === 0 || m.labels.length > reqLabelsMax) {
        bad(`req.labels is not a list of 1..${reqLabelsMax} labels`);
      }
      return {
        t: "req", id: uint(m.id, "req.id", 2 ** 32),
        labels: m.labels.map((l, i) => bin(l, `req.labels[${i}]`, labelBytes, labelBytes)),
      };
    }
    case "rep": {
      if (!Array.isArray(m.segments)) bad("rep.segments is not a list");
      let total = 0;
      const segments = m.segments.map((s, i) => {
        if (!Array.isArray(s) || s.length !== 2) bad(`rep.segments[${i}] is not [label, data]`);
        const data = bin(s[1], `rep.segments[${i}].data`, segmentBytesMax);
        total += data.length;
        return { label: bin(s[0], `rep.segments[${i}].label`, labelBytes, labelBytes), data };
      });
      if (segments.length > reqLabelsMax) bad(`rep carries more than ${reqLabelsMax} segments`);
      if (total > repPartBytesMax + segmentBytesMax) bad(`rep part of ${total} bytes exceeds repPartBytesMax`);
      if (typeof m.last !== "boolean") bad("rep.last is not a boolean");
      return { t: "rep", id: uint(m.id, "rep.id", 2 ** 32), segments, last: m.last };
    }
    case "reset": {
      if (typeof m.reason !== "string") bad("reset.reason is not a string");
      return { t: "reset", reason: m.reason.slice(0, resetReasonCharsMax) };
    }
    default:
      bad(`unknown type ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  }
}

/** Splits a REP answer into parts of at most repPartBytesMax (each part at least one segment). */
export function repParts(id: number, segments: { label: Uint8Array; data: Uint8Array }[]): ChannelMessage[] {
  const parts: ChannelMessage[] = [];
  let current: { label: Uint8Array; data: Uint8Array }[] = [];
  let bytes = 0;
  for (const s of segments) {
    if (current.length > 0 && bytes + s.data.length > repPartBytesMax) {
      parts.push({ t: "rep", id, segments: current, last: false });
      current = [];
      bytes = 0;
    }
    current.push(s);
    bytes += s.data.length;
  }
  parts.push({ t: "rep", id, segments: current, last: true });
  return parts;
}
