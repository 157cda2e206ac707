// Length-prefixed msgpack frames between appliances. A frame is a u32 big-endian body
// length followed by that many bytes of msgpack. `frameBytesMax` bounds the body on
// both the writing and the reading side, so a peer can never make us buffer more than
// one maximal frame. A zero-length body is a heartbeat: it carries no message and is
// consumed by the connection layer (agent/wire/connection.ts), never by a codec.
// FrameReader accepts arbitrary TCP chunks and yields whole frames; anything malformed
// (oversized length, undecodable msgpack, trailing bytes inside a body) throws
// TandemError("badFrame") and the reader stays poisoned, so the caller closes the
// connection and nothing else is affected.
import { Packr, Unpackr } from "msgpackr";
import { TandemError } from "../errors.ts";

/** Largest frame body accepted or produced (bytes). */
export const frameBytesMax = 1024 * 1024;
/** Bytes of the length prefix. */
export const frameHeaderBytes = 4;

// Records/structures off: plain msgpack maps, nothing implicit shared between peers.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Encodes one message into a complete frame (header + body). */
export function encodeFrame(message: unknown, bytesMax = frameBytesMax): Uint8Array {
  const body = packr.pack(message);
  if (body.length > bytesMax) {
    throw new TandemError("badFrame", `frame of ${body.length} bytes exceeds frameBytesMax ${bytesMax}`);
  }
  const frame = new Uint8Array(frameHeaderBytes + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, false);
  frame.set(body, frameHeaderBytes);
  return frame;
}

/** One frame as [header, body] without copying the body (msgpackr never reuses the
 *  memory of a buffer it returned, so the body stays valid while it waits in a queue). */
export function encodeFrameParts(message: unknown, bytesMax = frameBytesMax): [Uint8Array, Uint8Array] {
  const body = packr.pack(message);
  if (body.length > bytesMax) {
    throw new TandemError("badFrame", `frame of ${body.length} bytes exceeds frameBytesMax ${bytesMax}`);
  }
  const header = new Uint8Array(frameHeaderBytes);
  new DataView(header.buffer).setUint32(0, body.length, false);
  return [header, body];
}

/** The heartbeat frame: a zero-length body. */
export const heartbeatFrame = new Uint8Array(frameHeaderBytes);

/** Decodes one frame body; `undefined` never comes back (heartbeats are filtered earlier). */
export function decodeBody(body: Uint8Array): unknown {
  try {
    // unpackMultiple would accept trailing values; a body must be exactly one value.
    const values = unpackr.unpackMultiple(body) as unknown[];
    if (!Array.isArray(values) || values.length !== 1) {
      throw new TandemError("badFrame", `frame body holds ${Array.isArray(values) ? values.length : "no"} values, expected 1`);
    }
    return values[0];
  } catch (err) {
    if (err instanceof TandemError) throw err;
    throw new TandemError("badFrame", `undecodable frame body: ${(err as Error).message}`);
  }
}

export type FrameEvent = { heartbeat: true } | { heartbeat: false; message: unknown };

/** Reassembles frames from a TCP byte stream. Each body is copied exactly once (out of
 *  the socket's chunks, which the socket may reuse), whatever the chunking. */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private poisoned: TandemError | null = null;

  constructor(readonly bytesMax = frameBytesMax) {}

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds a chunk and returns every frame it completes, in order. */
  push(chunk: Uint8Array): FrameEvent[] {
    if (this.poisoned) throw this.poisoned;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: FrameEvent[] = [];
    try {
      for (;;) {
        if (this.buffered < frameHeaderBytes) break;
        const length = this.readLength();
        if (length > this.bytesMax) {
          throw new TandemError("badFrame", `frame length ${length} exceeds frameBytesMax ${this.bytesMax}`);
        }
        if (this.buffered < frameHeaderBytes + length) break;
        this.skip(frameHeaderBytes);
        if (length === 0) out.push({ heartbeat: true });
        else out.push({ heartbeat: false, message: decodeBody(this.takeCopy(length)) });
      }
    } catch (err) {
      this.poisoned = err instanceof TandemError ? err : new TandemError("badFrame", String(err));
      this.chunks = [];
      this.buffered = 0;
      throw this.poisoned;
    }
    // What stays buffered must survive the socket reusing its buffer.
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.buffer === chunk.buffer) this.chunks[this.chunks.length - 1] = last.slice();
    return out;
  }

  private readLength(): number {
    let length = 0;
    let need = frameHeaderBytes;
    for (const c of this.chunks) {
      for (let i = 0; i < c.length && need > 0; i++, need--) length = length * 256 + c[i]!;
      if (need === 0) break;
    }
    return length;
  }

  private skip(n: number): void {
    while (n > 0) {
      const head = this.chunks[0]!;
      if (head.length <= n) {
        this.chunks.shift();
        n -= head.length;
        this.buffered -= head.length;
      } else {
        this.chunks[0] = head.subarray(n);
        this.buffered -= n;
        n = 0;
      }
    }
  }

  private takeCopy(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const head = this.chunks[0]!;
      const k = Math.min(head.length, n - o);
      out.set(k === head.length ? head : head.subarray(0, k), o);
      o += k;
      if (k === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
