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

/** Reassembles frames from a TCP byte stream. */
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
      // Copied: the socket may reuse its buffer, and decoded binary fields view this memory.
      this.chunks.push(chunk.slice());
      this.buffered += chunk.length;
    }
    const out: FrameEvent[] = [];
    try {
      for (;;) {
        if (this.buffered < frameHeaderBytes) break;
        const header = this.peek(frameHeaderBytes);
        const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, false);
        if (length > this.bytesMax) {
          throw new TandemError("badFrame", `frame length ${length} exceeds frameBytesMax ${this.bytesMax}`);
        }
        if (this.buffered < frameHeaderBytes + length) break;
        const whole = this.take(frameHeaderBytes + length);
        if (length === 0) out.push({ heartbeat: true });
        else out.push({ heartbeat: false, message: decodeBody(whole.subarray(frameHeaderBytes)) });
      }
    } catch (err) {
      this.poisoned = err instanceof TandemError ? err : new TandemError("badFrame", String(err));
      this.chunks = [];
      this.buffered = 0;
      throw this.poisoned;
    }
    return out;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    this.coalesce();
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length < n) this.coalesce();
    const head = this.chunks[0]!;
    const out = head.subarray(0, n);
    if (head.length === n) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return out;
  }

  private coalesce(): void {
    const all = new Uint8Array(this.buffered);
    let offset = 0;
    for (const c of this.chunks) {
      all.set(c, offset);
      offset += c.length;
    }
    this.chunks = [all];
  }
}
