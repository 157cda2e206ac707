// Typed LZ4 entry points over the WASM kernels (wasm/assembly/lz4.ts, xxhash32.ts):
// block compression and safe decompression with an optional dictionary (the previous
// up-to-64 KiB window), xxHash32, and the LZ4 frame format (the one `lz4` writes and
// reads) as streaming encoder/decoder classes with bounded memory. Inputs are copied
// into the loader's arena once; results are copied out, so they stay valid after
// later calls (the frame classes' *Into methods hand out views instead, for streaming
// without a copy per block). Bad compressed input throws TandemError("corrupt", reason)
// and never yields more than the caller's rawBytesMax.
import { TandemError } from "../agent/errors.ts";
import { arena, kernels } from "./loader.ts";

/** Matches reach at most 64 KiB back, so only the last 64 KiB of a dictionary matter. */
export const lz4DictionaryBytesMax = 65536;
/** Largest raw block either direction (the frame format needs 4 MiB; segments are far smaller). */
export const lz4BlockRawBytesMax = 64 * 1024 * 1024;
/** Candidates the high-compression mode examines per position (lz4 -9 uses 256). */
export const lz4HighAttemptsMax = 256;
/** The compressors may read this far past their input; the arena reservation covers it. */
const readSlackBytes = 16;

// Kernel entry points, looked up once: a property lookup on the exports object per
// call is measurable at 8 KiB per call.
type Kernel = (...args: number[]) => number;
const kCompressFast = kernels.lz4CompressFast as Kernel;
const kCompressHigh = kernels.lz4CompressHigh as Kernel;
const kDecompressSafe = kernels.lz4DecompressSafe as Kernel;
const kLastErrorOffset = kernels.lz4LastErrorOffset as Kernel;
const kXxh32 = kernels.xxh32 as Kernel;
const kXxh32StateInit = kernels.xxh32StateInit as Kernel;
const kXxh32StateUpdate = kernels.xxh32StateUpdate as Kernel;
const kXxh32StateDigest = kernels.xxh32StateDigest as Kernel;
const highScratchBytes = (kernels.lz4HighScratchBytes as WebAssembly.Global).value as number;

const kernelErrors: Record<number, string> = {
  [-1]: "empty block",
  [-2]: "block ends after a match (missing final literals)",
  [-3]: "literal run extends past the end of the input",
  [-4]: "literal run exceeds the output limit",
  [-5]: "block truncated inside a match offset",
  [-6]: "match offset 0",
  [-7]: "match offset reaches before the start of the output and dictionary",
  [-8]: "match length exceeds the output limit",
  [-9]: "block truncated inside a length",
};

function corruptBlock(code: number): TandemError {
  const at = kLastErrorOffset();
  const reason = kernelErrors[code] ?? `decoder error ${code}`;
  return new TandemError("corrupt", `LZ4 block corrupt at input byte ${at}: ${reason}`, { kernelCode: code, offset: at });
}

function checkBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TandemError("badInput", `${what} must be a Uint8Array`);
  return value;
}

function dictionaryTail(dictionary: Uint8Array | undefined): Uint8Array | undefined {
  if (dictionary === undefined || dictionary.length === 0) return undefined;
  checkBytes(dictionary, "LZ4 dictionary");
  return dictionary.length > lz4DictionaryBytesMax ? dictionary.subarray(dictionary.length - lz4DictionaryBytesMax) : dictionary;
}

/** Largest compressed size of `rawBytes` raw bytes. */
export function lz4CompressBound(rawBytes: number): number {
  if (!Number.isInteger(rawBytes) || rawBytes < 0 || rawBytes > lz4BlockRawBytesMax) {
    throw new TandemError("limitExceeded", `LZ4 block of ${rawBytes} bytes exceeds lz4BlockRawBytesMax (${lz4BlockRawBytesMax})`);
  }
  return rawBytes + Math.floor(rawBytes / 255) + 16;
}

export interface Lz4BlockOptions {
  /** The data that precedes `src` (only its last 64 KiB are used); pass the same to decompress. */
  dictionary?: Uint8Array;
  /** Hash-chain search with lazy matching: slower, higher ratio. */
  highCompression?: boolean;
}

/**
 * Compresses `src` already in the arena at `srcPtr` (the dictionary's `dictLen` bytes
 * right before it) into `dstPtr`; returns the compressed size.
 */
function compressInArena(srcPtr: number, srcLen: number, dictLen: number, dstPtr: number, dstCap: number, high: boolean): number {
  let written: number;
  if (high) {
    const scratchPtr = arena.reserve(highScratchBytes);
    written = kCompressHigh(srcPtr, srcLen, dictLen, dstPtr, dstCap, lz4HighAttemptsMax, scratchPtr);
  } else {
    written = kCompressFast(srcPtr, srcLen, dictLen, dstPtr, dstCap);
  }
  if (written < 0) throw new Error(`lz4 compressor failed with code ${written}`); // programmer error: dst sized by bound
  return written;
}

/** Copies dictionary + data into one contiguous window in the arena; returns the data's pointer. */
function putWindow(src: Uint8Array, dict: Uint8Array | undefined): number {
  const dictLen = dict?.length ?? 0;
  const windowPtr = arena.reserve(dictLen + src.length + readSlackBytes);
  const memory = arena.bytes();
  if (dict) memory.set(dict, windowPtr);
  memory.set(src, windowPtr + dictLen);
  return windowPtr + dictLen;
}

/** One LZ4 block (no size header) holding `src`. */
export function lz4CompressBlock(src: Uint8Array, options?: Lz4BlockOptions): Uint8Array {
  checkBytes(src, "LZ4 input");
  const dstCap = lz4CompressBound(src.length);
  const dict = dictionaryTail(options?.dictionary);
  arena.reset();
  const srcPtr = putWindow(src, dict);
  const dstPtr = arena.reserve(dstCap);
  const written = compressInArena(srcPtr, src.length, dict?.length ?? 0, dstPtr, dstCap, options?.highCompression === true);
  return arena.copyOut(dstPtr, written);
}

/** Input bytes compressed per arena fill by lz4CompressBlocks (bounds the arena). */
export const lz4BlocksGroupBytesMax = 8 * 1024 * 1024;

export interface Lz4BlocksOptions {
  /** Zero bytes left in front of every output value (the caller's header). */
  headerBytes: number;
  /** A block is kept only when it saves at least rawBytes >>> savingShift bytes; else the raw piece is. */
  savingShift: number;
}

/**
 * Many independent blocks in one pass (the segment store's writes): each output value
 * is `headerBytes` of zeroes followed by the piece's LZ4 block, or by the piece itself
 * when compression does not save enough (`compressed[i]` says which). The values are
 * views into one buffer per group of pieces: one allocation and one copy out of WASM
 * memory per group instead of two of each per piece.
 */
export function lz4CompressBlocks(pieces: Uint8Array[], options: Lz4BlocksOptions): { values: Uint8Array[]; compressed: Uint8Array } {
  const { headerBytes, savingShift } = options;
  const values: Uint8Array[] = new Array(pieces.length);
  const compressed = new Uint8Array(pieces.length);
  const sizes = new Int32Array(pieces.length);
  const dstPtrs = new Float64Array(pieces.length);
  let start = 0;
  while (start < pieces.length) {
    arena.reset();
    let end = start;
    let bytes = 0;
    while (end < pieces.length && (end === start || bytes + pieces[end]!.length <= lz4BlocksGroupBytesMax)) {
      const piece = checkBytes(pieces[end], "LZ4 input");
      lz4CompressBound(piece.length);
      bytes += piece.length;
      end++;
    }
    let outBytes = 0;
    for (let i = start; i < end; i++) {
      const piece = pieces[i]!;
      const srcPtr = putWindow(piece, undefined);
      const dstCap = lz4CompressBound(piece.length);
      const dstPtr = arena.reserve(dstCap);
      const written = compressInArena(srcPtr, piece.length, 0, dstPtr, dstCap, false);
      const keep = written + (piece.length >>> savingShift) <= piece.length;
      compressed[i] = keep ? 1 : 0;
      sizes[i] = keep ? written : piece.length;
      dstPtrs[i] = dstPtr;
      outBytes += headerBytes + sizes[i]!;
    }
    const out = new Uint8Array(outBytes);
    const memory = arena.bytes();
    let offset = 0;
    for (let i = start; i < end; i++) {
      const size = sizes[i]!;
      if (compressed[i] === 1) out.set(memory.subarray(dstPtrs[i]!, dstPtrs[i]! + size), offset + headerBytes);
      else out.set(pieces[i]!, offset + headerBytes);
      values[i] = out.subarray(offset, offset + headerBytes + size);
      offset += headerBytes + size;
    }
    start = end;
  }
  return { values, compressed };
}

/** Decompresses a block in the arena into `outPtr` (dictionary right before it); returns the size or throws. */
function decompressInArena(srcPtr: number, srcLen: number, outPtr: number, rawBytesMax: number, dictLen: number): number {
  const written = kDecompressSafe(srcPtr, srcLen, outPtr, rawBytesMax, dictLen);
  if (written < 0) throw corruptBlock(written);
  return written;
}

function checkRawBytesMax(rawBytesMax: number): void {
  if (!Number.isInteger(rawBytesMax) || rawBytesMax < 0 || rawBytesMax > lz4BlockRawBytesMax) {
    throw new TandemError("badInput", `rawBytesMax must be an integer from 0 to ${lz4BlockRawBytesMax}, got ${rawBytesMax}`);
  }
}

/** Throws TandemError("corrupt", precise reason) on bad input; never returns more than rawBytesMax. */
export function lz4DecompressBlock(src: Uint8Array, rawBytesMax: number, dictionary?: Uint8Array): Uint8Array {
  checkBytes(src, "LZ4 block");
  checkRawBytesMax(rawBytesMax);
  const dict = dictionaryTail(dictionary);
  const dictLen = dict?.length ?? 0;
  arena.reset();
  const srcPtr = arena.reserve(src.length);
  const outBase = arena.reserve(dictLen + rawBytesMax);
  const memory = arena.bytes();
  memory.set(src, srcPtr);
  if (dict) memory.set(dict, outBase);
  const written = decompressInArena(srcPtr, src.length, outBase + dictLen, rawBytesMax, dictLen);
  return arena.copyOut(outBase + dictLen, written);
}

/** xxHash32 of `data`. */
export function xxh32(data: Uint8Array, seed = 0): number {
  checkBytes(data, "xxh32 input");
  arena.reset();
  const ptr = arena.put(data);
  return kXxh32(ptr, data.length, seed >>> 0) >>> 0;
}

const xxh32StateBytes = 48;

/** Streaming xxHash32 whose state lives here and visits WASM memory only during a call. */
export class Xxh32Stream {
  private readonly state = new Uint8Array(xxh32StateBytes);

  constructor(seed = 0) {
    arena.reset();
    const ptr = arena.reserve(xxh32StateBytes);
    kXxh32StateInit(ptr, seed >>> 0);
    this.state.set(arena.view(ptr, xxh32StateBytes));
  }

  /** Feeds bytes already in the arena (for the frame classes); reserves its own state slot there. */
  updateInArena(ptr: number, length: number): void {
    const statePtr = arena.put(this.state);
    kXxh32StateUpdate(statePtr, ptr, length);
    this.state.set(arena.view(statePtr, xxh32StateBytes));
  }

  /** Feeds `data`. */
  update(data: Uint8Array): void {
    checkBytes(data, "xxh32 input");
    arena.reset();
    this.updateInArena(arena.put(data), data.length);
  }

  digest(): number {
    arena.reset();
    const statePtr = arena.put(this.state);
    return kXxh32StateDigest(statePtr) >>> 0;
  }
}

// ---- frame format ----

export const lz4FrameMagic = 0x184d2204;
export const lz4LegacyMagic = 0x184c2102;
/** Skippable frames use magics 0x184D2A50..0x184D2A5F. */
export const lz4SkippableMagicBase = 0x184d2a50;
/** Block maximum sizes by BD block-size id 4..7. */
export const lz4FrameBlockBytesChoices = [65536, 262144, 1048576, 4194304] as const;
/** Raw bytes per block of a legacy frame (`lz4 -l`). */
export const lz4LegacyBlockBytes = 8 * 1024 * 1024;
const uncompressedFlag = 0x80000000;

/**
 * Receives output as a view that is valid only during the call (it may point into
 * WASM memory): write or copy it before returning, and call nothing in wasm/ meanwhile.
 * Lets streaming callers (the CLI) move blocks without allocating a copy of each.
 */
export type Lz4Sink = (bytes: Uint8Array) => void;

/** A sink collecting copies, for the array-returning methods. */
function collect(out: Uint8Array[]): Lz4Sink {
  return (bytes) => out.push(bytes.slice());
}

export interface Lz4FrameEncoderOptions {
  /** Block maximum: 65536, 262144, 1048576 or 4194304 (default 4194304, as `lz4`). */
  blockBytes?: number;
  /** Append xxHash32 of the content (default true, as `lz4`). */
  contentChecksum?: boolean;
  /** Append xxHash32 to every block (default false). */
  blockChecksum?: boolean;
  /** Declare the content size in the header; finish() throws if the data differs. */
  contentSize?: number;
  /** Linked blocks: each block uses the previous 64 KiB as dictionary (`lz4 -BD`). */
  linkedBlocks?: boolean;
  /** Hash-chain compression (`lz4 -9` style). */
  highCompression?: boolean;
}

function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
  target[offset + 3] = (value >>> 24) & 0xff;
}

function readU32(source: Uint8Array, offset: number): number {
  return (source[offset]! | (source[offset + 1]! << 8) | (source[offset + 2]! << 16) | (source[offset + 3]! << 24)) >>> 0;
}

/** Keeps the last 64 KiB of everything appended (the window linked blocks refer to). */
function appendHistory(history: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length >= lz4DictionaryBytesMax) return data.slice(data.length - lz4DictionaryBytesMax);
  const keep = Math.min(history.length, lz4DictionaryBytesMax - data.length);
  const next = new Uint8Array(keep + data.length);
  next.set(history.subarray(history.length - keep), 0);
  next.set(data, keep);
  return next;
}

/** Streams raw bytes into one LZ4 frame; memory is bounded by one block. */
export class Lz4FrameEncoder {
  private readonly blockBytes: number;
  private readonly contentChecksum: boolean;
  private readonly blockChecksum: boolean;
  private readonly contentSize: number | undefined;
  private readonly linked: boolean;
  private readonly high: boolean;
  private readonly pending: Uint8Array;
  private pendingBytes = 0;
  private headerSent = false;
  private finished = false;
  private rawBytes = 0;
  private history: Uint8Array = new Uint8Array(0);
  private readonly checksum: Xxh32Stream | undefined;

  constructor(options?: Lz4FrameEncoderOptions) {
    this.blockBytes = options?.blockBytes ?? 4194304;
    if (!(lz4FrameBlockBytesChoices as readonly number[]).includes(this.blockBytes)) {
      throw new TandemError("badInput", `LZ4 frame block size must be one of ${lz4FrameBlockBytesChoices.join(", ")}, got ${this.blockBytes}`);
    }
    const contentSize = options?.contentSize;
    if (contentSize !== undefined && (!Number.isSafeInteger(contentSize) || contentSize < 0)) {
      throw new TandemError("badInput", `LZ4 frame content size must be a non-negative integer, got ${contentSize}`);
    }
    this.contentSize = contentSize;
    this.contentChecksum = options?.contentChecksum ?? true;
    this.blockChecksum = options?.blockChecksum ?? false;
    this.linked = options?.linkedBlocks ?? false;
    this.high = options?.highCompression ?? false;
    this.pending = new Uint8Array(this.blockBytes);
    this.checksum = this.contentChecksum ? new Xxh32Stream() : undefined;
  }

  private header(): Uint8Array {
    const hasSize = this.contentSize !== undefined;
    const header = new Uint8Array(hasSize ? 15 : 7);
    writeU32(header, 0, lz4FrameMagic);
    header[4] = 0x40 | (this.linked ? 0 : 0x20) | (this.blockChecksum ? 0x10 : 0) | (hasSize ? 0x08 : 0) | (this.contentChecksum ? 0x04 : 0);
    header[5] = (lz4FrameBlockBytesChoices.indexOf(this.blockBytes as 65536) + 4) << 4;
    if (hasSize) {
      const size = BigInt(this.contentSize!);
      writeU32(header, 6, Number(size & 0xffffffffn));
      writeU32(header, 10, Number(size >> 32n));
    }
    header[header.length - 1] = (xxh32(header.subarray(4, header.length - 1)) >>> 8) & 0xff;
    return header;
  }

  private encodeBlock(raw: Uint8Array, sink: Lz4Sink): void {
    const dict = this.linked && this.history.length > 0 ? this.history : undefined;
    const dictLen = dict?.length ?? 0;
    const bound = lz4CompressBound(raw.length);
    arena.reset();
    const srcPtr = putWindow(raw, dict);
    const outPtr = arena.reserve(4 + Math.max(bound, raw.length) + 4);
    const written = compressInArena(srcPtr, raw.length, dictLen, outPtr + 4, bound, this.high);
    this.checksum?.updateInArena(srcPtr, raw.length);
    let dataBytes: number;
    if (written < raw.length) {
      dataBytes = written;
      writeU32(arena.bytes(), outPtr, written);
    } else {
      // Incompressible: store the block raw, as the format allows.
      dataBytes = raw.length;
      arena.bytes().copyWithin(outPtr + 4, srcPtr, srcPtr + raw.length);
      writeU32(arena.bytes(), outPtr, (raw.length | uncompressedFlag) >>> 0);
    }
    let blockBytes = 4 + dataBytes;
    if (this.blockChecksum) {
      writeU32(arena.bytes(), outPtr + blockBytes, kXxh32(outPtr + 4, dataBytes, 0) >>> 0);
      blockBytes += 4;
    }
    if (this.linked) this.history = appendHistory(this.history, raw);
    sink(arena.view(outPtr, blockBytes));
  }

  /** Accepts more raw data; returns the frame bytes ready so far (possibly none). */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.pushInto(data, collect(out));
    return out;
  }

  /** Like push, handing each piece of frame to `sink` without copying it. */
  pushInto(data: Uint8Array, sink: Lz4Sink): void {
    checkBytes(data, "LZ4 frame input");
    if (this.finished) throw new TandemError("badInput", "LZ4 frame encoder already finished");
    if (!this.headerSent) {
      sink(this.header());
      this.headerSent = true;
    }
    this.rawBytes += data.length;
    let offset = 0;
    while (offset < data.length) {
      if (this.pendingBytes === 0 && data.length - offset >= this.blockBytes) {
        this.encodeBlock(data.subarray(offset, offset + this.blockBytes), sink);
        offset += this.blockBytes;
        continue;
      }
      const take = Math.min(this.blockBytes - this.pendingBytes, data.length - offset);
      this.pending.set(data.subarray(offset, offset + take), this.pendingBytes);
      this.pendingBytes += take;
      offset += take;
      if (this.pendingBytes === this.blockBytes) {
        this.encodeBlock(this.pending, sink);
        this.pendingBytes = 0;
      }
    }
  }

  /** Flushes the last block and closes the frame (end mark, content checksum). */
  finish(): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.finishInto(collect(out));
    return out;
  }

  /** Like finish, handing each piece of frame to `sink` without copying it. */
  finishInto(sink: Lz4Sink): void {
    if (this.finished) throw new TandemError("badInput", "LZ4 frame encoder already finished");
    if (this.contentSize !== undefined && this.contentSize !== this.rawBytes) {
      throw new TandemError("badInput", `LZ4 frame declared ${this.contentSize} content bytes but got ${this.rawBytes}`);
    }
    if (!this.headerSent) {
      sink(this.header());
      this.headerSent = true;
    }
    if (this.pendingBytes > 0) this.encodeBlock(this.pending.subarray(0, this.pendingBytes), sink);
    this.pendingBytes = 0;
    const trailer = new Uint8Array(this.checksum ? 8 : 4);
    if (this.checksum) writeU32(trailer, 4, this.checksum.digest());
    this.finished = true;
    sink(trailer);
  }
}

export interface Lz4FrameDecoderOptions {
  /** Most raw bytes the decoder yields over all frames; more throws limitExceeded. */
  rawBytesMax?: number;
}

type DecoderPhase = "magic" | "header" | "blockSize" | "block" | "contentChecksum" | "skippableSize" | "skip" | "legacyBlock";

interface FrameState {
  blockMax: number;
  blockChecksum: boolean;
  linked: boolean;
  contentSize: bigint | undefined;
  checksum: Xxh32Stream | undefined;
  rawBytes: bigint;
  history: Uint8Array;
  blockIndex: number;
}

/** Legacy blocks are at most the compress bound of 8 MiB; a larger "size" is the next frame's magic. */
const legacyBlockCompressedMax = lz4LegacyBlockBytes + Math.floor(lz4LegacyBlockBytes / 255) + 16;

/**
 * Streams LZ4 frames (concatenated, skippable, legacy) back to raw bytes. Buffers at
 * most one block of input plus the caller's last chunk; verifies header, block and
 * content checksums and the declared content size.
 */
export class Lz4FrameDecoder {
  private readonly rawBytesMax: number;
  private chunks: Uint8Array[] = [];
  private chunkOffset = 0; // consumed bytes of chunks[0]
  private available = 0;
  private phase: DecoderPhase = "magic";
  private frame: FrameState | undefined;
  private need = 0; // bytes the current phase waits for (block size, skip remaining)
  private compressed = false;
  private consumedBytes = 0; // input offset, for error messages
  private rawBytesTotal = 0;
  private frames = 0;

  constructor(options?: Lz4FrameDecoderOptions) {
    const max = options?.rawBytesMax ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(max) || max < 0) throw new TandemError("badInput", `rawBytesMax must be a non-negative integer, got ${max}`);
    this.rawBytesMax = max;
  }

  private corrupt(reason: string): TandemError {
    return new TandemError("corrupt", `LZ4 frame corrupt at input byte ${this.consumedBytes}: ${reason}`, { offset: this.consumedBytes });
  }

  /** The next `n` bytes (a view when they lie in one chunk), consumed. Caller checks `available`. */
  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    let result: Uint8Array;
    if (first.length - this.chunkOffset >= n) {
      result = first.subarray(this.chunkOffset, this.chunkOffset + n);
      this.chunkOffset += n;
      if (this.chunkOffset === first.length) {
        this.chunks.shift();
        this.chunkOffset = 0;
      }
    } else {
      result = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0]!;
        const part = Math.min(chunk.length - this.chunkOffset, n - filled);
        result.set(chunk.subarray(this.chunkOffset, this.chunkOffset + part), filled);
        filled += part;
        this.chunkOffset += part;
        if (this.chunkOffset === chunk.length) {
          this.chunks.shift();
          this.chunkOffset = 0;
        }
      }
    }
    this.available -= n;
    this.consumedBytes += n;
    return result;
  }

  /** Drops up to `n` bytes; returns how many were dropped. */
  private skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length - this.chunkOffset, n - dropped);
      dropped += part;
      this.chunkOffset += part;
      if (this.chunkOffset === chunk.length) {
        this.chunks.shift();
        this.chunkOffset = 0;
      }
    }
    this.available -= dropped;
    this.consumedBytes += dropped;
    return dropped;
  }

  private peekByte(index: number): number {
    let offset = this.chunkOffset + index;
    for (const chunk of this.chunks) {
      if (offset < chunk.length) return chunk[offset]!;
      offset -= chunk.length;
    }
    throw new Error("peek past available input"); // programmer error
  }

  private emit(raw: Uint8Array, sink: Lz4Sink): void {
    this.rawBytesTotal += raw.length;
    if (raw.length > 0) sink(raw);
  }

  private checkLimit(rawLength: number): void {
    if (this.rawBytesTotal + rawLength > this.rawBytesMax) {
      throw new TandemError("limitExceeded", `LZ4 frame content exceeds rawBytesMax (${this.rawBytesMax} bytes)`);
    }
  }

  private startFrame(): void {
    // FLG, BD, then optional content size and dictionary id, then the header checksum.
    const flg = this.peekByte(0);
    const bd = this.peekByte(1);
    const headerBytes = 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
    if (this.available < headerBytes) return;
    if (flg >> 6 !== 1) throw this.corrupt(`unsupported frame version ${flg >> 6} (FLG 0x${flg.toString(16)})`);
    if (flg & 0x02) throw this.corrupt("reserved FLG bit 1 is set");
    if (bd & 0x8f) throw this.corrupt(`reserved BD bits are set (BD 0x${bd.toString(16)})`);
    const blockSizeId = bd >> 4;
    if (blockSizeId < 4) throw this.corrupt(`invalid block maximum size id ${blockSizeId}`);
    const descriptor = this.take(headerBytes);
    const expected = (xxh32(descriptor.subarray(0, headerBytes - 1)) >>> 8) & 0xff;
    if (descriptor[headerBytes - 1] !== expected) {
      throw this.corrupt(`header checksum 0x${descriptor[headerBytes - 1]!.toString(16)} does not match 0x${expected.toString(16)}`);
    }
    let contentSize: bigint | undefined;
    if (flg & 0x08) contentSize = BigInt(readU32(descriptor, 2)) | (BigInt(readU32(descriptor, 6)) << 32n);
    if (flg & 0x01) {
      const dictId = readU32(descriptor, flg & 0x08 ? 10 : 2);
      throw this.corrupt(`frame needs predefined dictionary id ${dictId}, which is not available`);
    }
    this.frame = {
      blockMax: lz4FrameBlockBytesChoices[blockSizeId - 4]!,
      blockChecksum: (flg & 0x10) !== 0,
      linked: (flg & 0x20) === 0,
      contentSize,
      checksum: flg & 0x04 ? new Xxh32Stream() : undefined,
      rawBytes: 0n,
      history: new Uint8Array(0),
      blockIndex: 0,
    };
    this.phase = "blockSize";
  }

  private decodeBlock(data: Uint8Array, sink: Lz4Sink): void {
    const frame = this.frame!;
    if (frame.blockChecksum) {
      const stored = readU32(this.take(4), 0);
      const actual = xxh32(data);
      if (stored !== actual) throw this.corrupt(`block ${frame.blockIndex} checksum 0x${stored.toString(16)} does not match 0x${actual.toString(16)}`);
    }
    const dict = frame.linked && frame.history.length > 0 ? frame.history : undefined;
    const dictLen = dict?.length ?? 0;
    arena.reset();
    let rawPtr: number;
    let rawLength: number;
    if (this.compressed) {
      const srcPtr = arena.put(data);
      const outBase = arena.reserve(dictLen + frame.blockMax);
      if (dict) arena.bytes().set(dict, outBase);
      rawPtr = outBase + dictLen;
      try {
        rawLength = decompressInArena(srcPtr, data.length, rawPtr, frame.blockMax, dictLen);
      } catch (err) {
        throw this.corrupt(`block ${frame.blockIndex}: ${(err as Error).message}`);
      }
    } else {
      rawPtr = arena.put(data);
      rawLength = data.length;
    }
    this.checkLimit(rawLength);
    frame.checksum?.updateInArena(rawPtr, rawLength);
    const raw = arena.view(rawPtr, rawLength);
    frame.rawBytes += BigInt(rawLength);
    if (frame.contentSize !== undefined && frame.rawBytes > frame.contentSize) {
      throw this.corrupt(`frame content exceeds its declared size of ${frame.contentSize} bytes`);
    }
    if (frame.linked) frame.history = appendHistory(frame.history, raw);
    frame.blockIndex++;
    this.emit(raw, sink);
  }

  private endFrame(): void {
    const frame = this.frame!;
    if (frame.contentSize !== undefined && frame.rawBytes !== frame.contentSize) {
      throw this.corrupt(`frame content is ${frame.rawBytes} bytes but its header declares ${frame.contentSize}`);
    }
    this.frame = undefined;
    this.frames++;
    this.phase = "magic";
  }

  private decodeLegacyBlock(data: Uint8Array, sink: Lz4Sink): void {
    arena.reset();
    const srcPtr = arena.put(data);
    const outPtr = arena.reserve(lz4LegacyBlockBytes);
    let rawLength: number;
    try {
      rawLength = decompressInArena(srcPtr, data.length, outPtr, lz4LegacyBlockBytes, 0);
    } catch (err) {
      throw this.corrupt(`legacy block: ${(err as Error).message}`);
    }
    this.checkLimit(rawLength);
    this.emit(arena.view(outPtr, rawLength), sink);
  }

  /** Accepts more frame bytes; returns the raw bytes decoded so far (possibly none). */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.pushInto(data, collect(out));
    return out;
  }

  /** Like push, handing each decoded piece to `sink` without copying it. */
  pushInto(data: Uint8Array, sink: Lz4Sink): void {
    checkBytes(data, "LZ4 frame input");
    if (data.length > 0) {
      this.chunks.push(data);
      this.available += data.length;
    }
    for (;;) {
      const before = this.available;
      const phase = this.phase;
      this.step(sink);
      if (this.phase === phase && this.available === before) return;
    }
  }

  /** Advances one phase when enough input is there. */
  private step(sink: Lz4Sink): void {
    switch (this.phase) {
      case "magic": {
        if (this.available < 4) return;
        const magic = readU32(this.take(4), 0);
        if (magic === lz4FrameMagic) this.phase = "header";
        else if ((magic & 0xfffffff0) >>> 0 === lz4SkippableMagicBase) this.phase = "skippableSize";
        else if (magic === lz4LegacyMagic) this.phase = "legacyBlock";
        else {
          this.consumedBytes -= 4;
          throw this.corrupt(`unknown frame magic 0x${magic.toString(16).padStart(8, "0")}`);
        }
        return;
      }
      case "header":
        if (this.available >= 2) this.startFrame();
        return;
      case "blockSize": {
        if (this.available < 4) return;
        const word = readU32(this.take(4), 0);
        const frame = this.frame!;
        if (word === 0) {
          if (frame.checksum) this.phase = "contentChecksum";
          else this.endFrame();
          return;
        }
        this.compressed = (word & uncompressedFlag) === 0;
        this.need = (word & 0x7fffffff) >>> 0;
        if (this.need > frame.blockMax) {
          throw this.corrupt(`block ${frame.blockIndex} of ${this.need} bytes exceeds the frame's block maximum of ${frame.blockMax}`);
        }
        this.phase = "block";
        return;
      }
      case "block": {
        const frame = this.frame!;
        if (this.available < this.need + (frame.blockChecksum ? 4 : 0)) return;
        this.decodeBlock(this.take(this.need), sink);
        this.phase = "blockSize";
        return;
      }
      case "contentChecksum": {
        if (this.available < 4) return;
        const stored = readU32(this.take(4), 0);
        const actual = this.frame!.checksum!.digest();
        if (stored !== actual) throw this.corrupt(`content checksum 0x${stored.toString(16)} does not match 0x${actual.toString(16)}`);
        this.endFrame();
        return;
      }
      case "skippableSize":
        if (this.available < 4) return;
        this.need = readU32(this.take(4), 0);
        this.phase = "skip";
        return;
      case "skip":
        this.need -= this.skip(this.need);
        if (this.need === 0) {
          this.frames++;
          this.phase = "magic";
        }
        return;
      case "legacyBlock": {
        if (this.available < 4) return;
        const size = (this.peekByte(0) | (this.peekByte(1) << 8) | (this.peekByte(2) << 16) | (this.peekByte(3) << 24)) >>> 0;
        if (size > legacyBlockCompressedMax) {
          // Not a block size: the magic of the next frame, which ends this legacy frame.
          this.frames++;
          this.phase = "magic";
          return;
        }
        if (this.available < 4 + size) return;
        this.take(4);
        this.decodeLegacyBlock(this.take(size), sink);
        return;
      }
    }
  }

  /** Ends the stream; throws if it stopped inside a frame. */
  finish(): void {
    if (this.phase === "legacyBlock" && this.available === 0) {
      this.phase = "magic";
      this.frames++;
    }
    if (this.phase !== "magic" || this.available > 0) {
      const where = this.frame ? `in block ${this.frame.blockIndex} of frame ${this.frames}` : `in frame ${this.frames}`;
      throw this.corrupt(`input truncated ${where} (${this.phase}, ${this.available} bytes left over)`);
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One LZ4 frame holding `src` (content size and checksum declared), readable by `lz4 -d`. */
export function lz4FrameCompress(src: Uint8Array, options?: Omit<Lz4FrameEncoderOptions, "contentSize">): Uint8Array {
  checkBytes(src, "LZ4 frame input");
  const encoder = new Lz4FrameEncoder({ ...options, contentSize: src.length });
  return concat([...encoder.push(src), ...encoder.finish()]);
}

/** Decodes every frame in `src`; throws on corrupt or truncated input or more than rawBytesMax bytes. */
export function lz4FrameDecompress(src: Uint8Array, rawBytesMax: number): Uint8Array {
  const decoder = new Lz4FrameDecoder({ rawBytesMax });
  const parts = decoder.push(src);
  decoder.finish();
  return concat(parts);
}
