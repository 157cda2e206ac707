// Length-prefixed frames between appliances. A frame is a u32 big-endian body length
// followed by that many bytes of body, in one of two forms:
//   msgpack   one msgpack value (the first byte is never 0xc1, which msgpack never uses);
//   bulk      0xc1, u32 big-endian head length, the head (one msgpack value), then bulk
//             bytes the frame layer does not interpret (segment payloads laid end to end:
//             sent without being copied into the body, received as a view of it).
// `frameBytesMax` bounds the body on both the writing and the reading side, so a peer
// can never make us buffer more than one maximal frame. A zero-length body is a
// heartbeat: it carries no message and is consumed by the connection layer
// (agent/wire/connection.ts), never by a codec. FrameReader accepts arbitrary TCP chunks
// and yields whole frames; anything malformed (oversized length, undecodable msgpack,
// trailing bytes inside a msgpack body or head) throws TandemError("badFrame") and the
// reader stays poisoned, so the caller closes the connection and nothing else is affected.
import { Packr, Unpackr } from "msgpackr";
import { TandemError } from "../errors.ts";

/** Largest frame body accepted or produced (bytes). */
export const frameBytesMax = 1024 * 1024;
/** Bytes of the length prefix. */
export const frameHeaderBytes = 4;

// Records/structures off: plain msgpack maps, nothing implicit shared between peers.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** A message whose bulk bytes travel after its msgpack head, uncopied. Sent: `bulk` are
 *  the parts, in order. Received: `bulk` are views of the chunks the bulk arrived in,
 *  in order (the codec splits them by the lengths its head declares, and checks that
 *  these add up; where the boundary of two chunks cuts a piece, it copies that piece). */
export class BulkMessage {
  constructor(readonly head: unknown, readonly bulk: Uint8Array[]) {}
}

/** First body byte of the bulk form (never the first byte of a msgpack value). */
export const bulkMarker = 0xc1;
/** Bytes before a bulk form's head: the marker and the head's length. */
const bulkPrefixBytes = 5;

/** One frame as parts (frame header first) that concatenated make the frame; bodies
 *  and bulk parts are not copied (msgpackr never reuses the memory of a buffer it
 *  returned, and bulk parts belong to the caller, who must not change them). */
export function encodeFrameParts(message: unknown, bytesMax = frameBytesMax): Uint8Array[] {
  if (message instanceof BulkMessage) {
    const head = packr.pack(message.head);
    let length = bulkPrefixBytes + head.length;
    for (const part of message.bulk) length += part.length;
    if (length > bytesMax) throw new TandemError("badFrame", `frame of ${length} bytes exceeds frameBytesMax ${bytesMax}`);
    const prefix = new Uint8Array(frameHeaderBytes + bulkPrefixBytes);
    const view = new DataView(prefix.buffer);
    view.setUint32(0, length, false);
    prefix[frameHeaderBytes] = bulkMarker;
    view.setUint32(frameHeaderBytes + 1, head.length, false);
    return [prefix, head, ...message.bulk];
  }
  const body = packr.pack(message);
  if (body.length > bytesMax) {
    throw new TandemError("badFrame", `frame of ${body.length} bytes exceeds frameBytesMax ${bytesMax}`);
  }
  const header = new Uint8Array(frameHeaderBytes);
  new DataView(header.buffer).setUint32(0, body.length, false);
  return [header, body];
}

/** Encodes one message into a complete frame in one buffer (tests, raw clients). */
export function encodeFrame(message: unknown, bytesMax = frameBytesMax): Uint8Array {
  const parts = encodeFrameParts(message, bytesMax);
  let length = 0;
  for (const part of parts) length += part.length;
  const frame = new Uint8Array(length);
  let at = 0;
  for (const part of parts) (frame.set(part, at), (at += part.length));
  return frame;
}

/** The heartbeat frame: a zero-length body. */
export const heartbeatFrame = new Uint8Array(frameHeaderBytes);

/** Decodes one frame body (msgpack or bulk form); heartbeats are filtered earlier. */
export function decodeBody(body: Uint8Array): unknown {
  if (body[0] !== bulkMarker) return decodeOne(body);
  if (body.length < bulkPrefixBytes) throw new TandemError("badFrame", "bulk frame shorter than its prefix");
  const headBytes = new DataView(body.buffer, body.byteOffset + 1, 4).getUint32(0, false);
  if (headBytes > body.length - bulkPrefixBytes) throw new TandemError("badFrame", `bulk frame head of ${headBytes} bytes overruns the frame`);
  const headEnd = bulkPrefixBytes + headBytes;
  return new BulkMessage(decodeOne(body.subarray(bulkPrefixBytes, headEnd)), [body.subarray(headEnd)]);
}

function decodeOne(bytes: Uint8Array): unknown {
  try {
    // unpackMultiple would accept trailing values; a body must be exactly one value.
    const values = unpackr.unpackMultiple(bytes) as unknown[];
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

/**
 * Reassembles frames from a TCP byte stream. A frame that lies inside one chunk is
 * handed out as a view of that chunk; a msgpack frame that spans chunks is copied once,
 * into a buffer of exactly its size, and a bulk frame that does keeps its bulk as views
 * of those chunks (in this VM, first touches of fresh memory cost more than the copy
 * itself). So push() takes the chunks it is given: nobody may write
 * into them afterwards. Bun hands each socket `data` callback a buffer of its own and
 * never reuses it (tests/wire/framing.test.ts checks that on a real socket), so what a
 * message holds (labels, payloads) stays valid for as long as anyone keeps it.
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private poisoned: TandemError | null = null;

  constructor(readonly bytesMax = frameBytesMax) {}

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds a chunk (now the reader's) and returns every frame it completes, in order. */
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
        else if (this.chunks[0]!.length >= length || this.chunks[0]![0] !== bulkMarker) {
          out.push({ heartbeat: false, message: decodeBody(this.take(length)) });
        } else out.push({ heartbeat: false, message: this.takeBulk(length) });
      }
    } catch (err) {
      this.poisoned = err instanceof TandemError ? err : new TandemError("badFrame", String(err));
      this.chunks = [];
      this.buffered = 0;
      throw this.poisoned;
    }
    return out;
  }

  private readLength(): number {
    const head = this.chunks[0]!;
    if (head.length >= frameHeaderBytes) return ((head[0]! << 24) >>> 0) + (head[1]! << 16) + (head[2]! << 8) + head[3]!;
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

  /** A bulk frame of `length` bytes spanning chunks: the head is decoded from one piece,
   *  the bulk is left as views of the chunks it lies in (not copied). */
  private takeBulk(length: number): BulkMessage {
    if (length < bulkPrefixBytes) throw new TandemError("badFrame", "bulk frame shorter than its prefix");
    const prefix = this.take(bulkPrefixBytes);
    const headBytes = new DataView(prefix.buffer, prefix.byteOffset + 1, 4).getUint32(0, false);
    if (headBytes > length - bulkPrefixBytes) throw new TandemError("badFrame", `bulk frame head of ${headBytes} bytes overruns the frame`);
    const head = decodeOne(this.take(headBytes));
    return new BulkMessage(head, this.takeViews(length - bulkPrefixBytes - headBytes));
  }

  /** The next n bytes as views of the chunks they lie in. */
  private takeViews(n: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    this.buffered -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n);
      views.push(new Uint8Array(c.buffer, c.byteOffset, k));
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      n -= k;
    }
    return views;
  }

  /** The next n bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    const head = this.chunks[0]!;
    this.buffered -= n;
    if (head.length >= n) {
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      return new Uint8Array(head.buffer, head.byteOffset, n);
    }
    // Every byte is written below, so the buffer need not be zeroed first.
    const buffer = Buffer.allocUnsafeSlow(n);
    const out = new Uint8Array(buffer.buffer, buffer.byteOffset, n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - o);
      out.set(k === c.length ? c : c.subarray(0, k), o);
      o += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
