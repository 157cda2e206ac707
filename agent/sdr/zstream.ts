// The cross-segment compressor of an SDR channel: one zstd stream per direction
// (node:zlib's streaming zstd in Bun), flushed at every frame, so each frame
// decompresses completely on arrival while its matches may reach back into earlier
// frames (up to the window). Compressing 8 KiB pieces separately loses ~17% of ratio;
// level 3 over the stream gives ~7.3x where whole-file zstd -1 gives 4.8x.
//
// Small pieces are (de)compressed on the calling thread through the stream's own
// handle (`writeSync`, what node:zlib's one-shot *Sync functions use): the thread-pool
// round trip of the asynchronous path costs ~30 us each way whatever the size, which
// made up most of the time an interactive message spent in the codec (a 300-byte
// message: 39 us to compress and 30 to decompress asynchronously, 14 and 1.5 here).
// Large pieces keep the thread pool, so bulk compression runs beside the event loop.
import * as zlib from "node:zlib";
import { TandemError } from "../errors.ts";

export const zstdLevelDefault = 3;
/** log2 of the window; the decoder needs this much memory per channel. Measured on
 *  the typescript tar (cold ratio / memory per encoder+decoder pair): 2^20 7.15 / 5.7 MB,
 *  2^21 7.27, 2^23 7.39 / 11.4 MB. Dedup already removes the far repeats. */
export const zstdWindowLogDefault = 21;
/** Largest window a peer may make us keep. */
export const zstdWindowLogMax = 23;

type Stream = zlib.ZstdCompress | zlib.ZstdDecompress;

/** Inputs (compression) and outputs (decompression) up to this size take the
 *  synchronous path: at most ~60 us of zstd level 3 on the event loop. */
export const syncBytesMax = 16 * 1024;
/** Output buffer of one synchronous step (more steps when a piece produces more). */
const syncOutBytes = syncBytesMax + 1024;

/** The native handle under a node:zlib stream (the same calls node:zlib makes). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
}

class FlushedStream {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private failure: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Fails the call in progress when the stream errors (its flush never completes). */
  private rejectPending: ((err: Error) => void) | undefined;
  private outputBytesMax = Number.MAX_SAFE_INTEGER;

  /** The handle and its [availOutAfter, availInAfter] state, when this Bun exposes them. */
  private readonly handle: ZlibHandle | undefined;
  private readonly writeState: Uint32Array | undefined;
  /** Output buffer of the synchronous path, reused (results are copied out of it). */
  private scratch: Uint8Array | undefined;

  constructor(private readonly stream: Stream, private readonly flushFlag: number) {
    const internals = stream as unknown as { _handle?: Partial<ZlibHandle>; _writeState?: unknown };
    if (typeof internals._handle?.writeSync === "function" && internals._writeState instanceof Uint32Array) {
      this.handle = internals._handle as ZlibHandle;
      this.writeState = internals._writeState;
    }
    stream.on("data", (chunk: Buffer) => {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      // Stop a decompression bomb as it goes off, not after it has filled memory.
      if (this.partsBytes > this.outputBytesMax && !this.failure) {
        this.parts = [];
        const err = new RangeError(`stream produced more than ${this.outputBytesMax} bytes`);
        this.failure = err;
        this.rejectPending?.(err);
        stream.destroy();
      }
    });
    stream.on("error", (err: Error) => {
      this.failure = err;
      this.rejectPending?.(err);
    });
  }

  /** Writes `input`, flushes, and returns everything the stream produced for it;
   *  synchronously (on this thread) when `sync` and the handle allows it. */
  run(input: Uint8Array, outputBytesMax: number, sync: boolean): Promise<Uint8Array> {
    const next = this.queue.then(() => new Promise<Uint8Array>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      if (sync && this.handle) {
        try {
          return resolve(this.runSync(input, outputBytesMax));
        } catch (err) {
          this.failure = err instanceof Error ? err : new Error(String(err));
          this.stream.destroy();
          return reject(this.failure);
        }
      }
      this.rejectPending = reject;
      this.outputBytesMax = outputBytesMax;
      this.stream.write(input);
      this.stream.flush(zlib.constants.ZSTD_e_flush, () => {
        this.rejectPending = undefined;
        if (this.failure) return reject(this.failure);
        const parts = this.parts;
        const bytes = this.partsBytes;
        this.parts = [];
        this.partsBytes = 0;
        if (bytes > outputBytesMax) return reject(new RangeError(`stream produced ${bytes} bytes, more than ${outputBytesMax}`));
        resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes));
      });
    }));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** As node:zlib's processChunkSync, without closing the stream afterwards: steps until
   *  the input is consumed and the last step left output room (nothing more pending). */
  private runSync(input: Uint8Array, outputBytesMax: number): Uint8Array {
    const state = this.writeState!;
    const parts: Uint8Array[] = [];
    let bytes = 0;
    let inOff = 0;
    let inLeft = input.length;
    const out = (this.scratch ??= new Uint8Array(syncOutBytes));
    for (;;) {
      this.handle!.writeSync(this.flushFlag, input, inOff, inLeft, out, 0, out.length);
      // An error goes to the stream (its handle's onerror destroys it) rather than a throw.
      if (this.stream.destroyed || this.failure) throw this.failure ?? new Error("zstd stream failed");
      const outLeft = state[0]!;
      const produced = out.length - outLeft;
      inOff += inLeft - state[1]!;
      inLeft = state[1]!;
      if (produced > 0) {
        parts.push(out.slice(0, produced));
        bytes += produced;
        if (bytes > outputBytesMax) throw new RangeError(`stream produced more than ${outputBytesMax} bytes`);
      }
      // A full output buffer may hide more output: step again; room left means done.
      if (outLeft > 0) break;
    }
    if (inLeft > 0) throw new Error(`zstd stream left ${inLeft} input bytes unread`);
    if (parts.length === 1) return parts[0]!;
    const joined = new Uint8Array(bytes);
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    return joined;
  }

  close(): void {
    this.stream.destroy();
  }
}

/** Output buffer of one thread-pool step (each stream keeps one). node:zlib's default
 *  (16 KiB) made a 1 MiB frame body (~200 KB compressed) a dozen round trips between
 *  the pool and the event loop, so the pool only worked while the event loop was free
 *  and a frame's compression never overlapped the encoder's work on the next one; one
 *  step per frame lets it run beside the encoder (the second core). The decompressor
 *  takes four steps for a 1 MiB body instead of 64. */
export const streamStepBytes = 256 * 1024;

export class StreamCompressor {
  private readonly flushed: FlushedStream;
  constructor(level = zstdLevelDefault, windowLog = zstdWindowLogDefault) {
    this.flushed = new FlushedStream(zlib.createZstdCompress({
      chunkSize: streamStepBytes,
      params: {
        [zlib.constants.ZSTD_c_compressionLevel]: level,
        [zlib.constants.ZSTD_c_windowLog]: windowLog,
        [zlib.constants.ZSTD_c_checksumFlag]: 0,
      },
    }), zlib.constants.ZSTD_e_flush);
  }
  compress(body: Uint8Array): Promise<Uint8Array> {
    return this.flushed.run(body, Number.MAX_SAFE_INTEGER, body.length <= syncBytesMax);
  }
  close(): void {
    this.flushed.close();
  }
}

export class StreamDecompressor {
  private readonly flushed: FlushedStream;
  constructor() {
    this.flushed = new FlushedStream(zlib.createZstdDecompress({
      chunkSize: streamStepBytes,
      params: { [zlib.constants.ZSTD_d_windowLogMax]: zstdWindowLogMax },
    }), zlib.constants.ZSTD_e_continue);
  }
  async decompress(bytes: Uint8Array, expectedBytes: number): Promise<Uint8Array> {
    let body: Uint8Array;
    try {
      body = await this.flushed.run(bytes, expectedBytes, expectedBytes <= syncBytesMax);
    } catch (err) {
      throw new TandemError("badFrame", `SDR frame: compressed body does not decompress (${err instanceof Error ? err.message : String(err)})`);
    }
    if (body.length !== expectedBytes) {
      throw new TandemError("badFrame", `SDR frame: body decompressed to ${body.length} bytes, header says ${expectedBytes}`);
    }
    return body;
  }
  close(): void {
    this.flushed.close();
  }
}
