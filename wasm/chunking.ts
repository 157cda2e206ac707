// Typed FastCDC 2020 chunking over the WASM kernels: whole-buffer cutting, cut +
// BLAKE3 of every segment in one call (chunkAndHash), and a streaming chunker that
// takes pieces of any size and yields exactly the segments of the whole stream.
// Inputs are copied into the arena once per call; every result is copied out, so it
// stays valid after later calls. Large inputs go through in bounded windows.
import { TandemError } from "../agent/errors.ts";
import { arena, kernels } from "./loader.ts";

export interface ChunkParams { minBytes: number; avgBytes: number; maxBytes: number; level: number; seed: number }

/** Tandem's segment size: min 2 KiB, average 8 KiB, max 16 KiB, normalization level 1, seed 0. */
export const defaultChunkParams: ChunkParams = Object.freeze({ minBytes: 2048, avgBytes: 8192, maxBytes: 16384, level: 1, seed: 0 });

// The ranges fastcdc-rs accepts (v2020 MINIMUM_MIN ... MAXIMUM_MAX).
export const chunkMinBytesRange = [64, 1_048_576] as const;
export const chunkAvgBytesRange = [256, 4_194_304] as const;
export const chunkMaxBytesRange = [1024, 16_777_216] as const;
export const chunkLevelMax = 3;

/** Bytes of input handed to one kernel call; a window always holds several max-size segments. */
export const chunkWindowBytesMin = 8 * 1024 * 1024;
const chunkWindowBytes = (params: ChunkParams) => Math.max(chunkWindowBytesMin, 4 * params.maxBytes);

export interface Segment { offset: number; length: number; label: Uint8Array; data: Uint8Array }

function checkRange(name: string, value: number, [lo, hi]: readonly [number, number]): void {
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw new TandemError("badInput", `chunk ${name} must be an integer from ${lo} to ${hi}, got ${value}`);
  }
}

/** Throws a TandemError unless `params` is a setting the reference crate accepts. */
export function validateChunkParams(params: ChunkParams): void {
  checkRange("minBytes", params.minBytes, chunkMinBytesRange);
  checkRange("avgBytes", params.avgBytes, chunkAvgBytesRange);
  checkRange("maxBytes", params.maxBytes, chunkMaxBytesRange);
  checkRange("level", params.level, [0, chunkLevelMax]);
  checkRange("seed", params.seed, [0, Number.MAX_SAFE_INTEGER]);
  if (!(params.minBytes <= params.avgBytes && params.avgBytes <= params.maxBytes)) {
    throw new TandemError("badInput", `chunk sizes must satisfy min <= avg <= max, got ${params.minBytes}/${params.avgBytes}/${params.maxBytes}`);
  }
}

let configuredKey = "";
let configuredParams: ChunkParams | null = null;

/** Loads `params` into the kernel (gear tables, masks) unless they are already loaded. */
function configure(params: ChunkParams): void {
  // Streams pass the same frozen copy on every call: the identity check is the fast path.
  if (params === configuredParams) return;
  const key = `${params.minBytes}/${params.avgBytes}/${params.maxBytes}/${params.level}/${params.seed}`;
  if (key === configuredKey) {
    configuredParams = Object.isFrozen(params) ? params : null;
    return;
  }
  validateChunkParams(params);
  const bits = Math.round(Math.log2(params.avgBytes));
  const seedLo = params.seed % 0x1_0000_0000;
  const seedHi = Math.floor(params.seed / 0x1_0000_0000);
  const rc = kernels.fastcdcConfigure(params.minBytes, params.avgBytes, params.maxBytes, bits, params.level, seedLo, seedHi);
  if (rc !== 0) throw new TandemError("badInput", `no FastCDC mask for avg ${params.avgBytes} at level ${params.level}`);
  configuredKey = key;
  configuredParams = Object.isFrozen(params) ? params : null;
}

/** Upper bound on the segments cut from `len` bytes (every cut but the last is >= min rounded down to even). */
function countBound(len: number, params: ChunkParams): number {
  return Math.floor(len / Math.max(2, params.minBytes & ~1)) + 1;
}

interface WindowResult { count: number; lengths: Uint32Array; labels: Uint8Array | null; hashes: BigUint64Array | null; consumed: number }

/** Where the gear hash of a stream's undecided tail stopped, so the next call resumes there. */
interface TailState { scanned: number; hashLo: number; hashHi: number }

/** One kernel call over `window` (at most chunkWindowBytes) of a whole buffer; results copied out. */
function runWindow(window: Uint8Array, params: ChunkParams, final: boolean, withLabels: boolean, withHashes: boolean): WindowResult {
  configure(params);
  arena.reset();
  const countMax = countBound(window.length, params);
  const inPtr = arena.put(window);
  const lensPtr = arena.reserve(countMax * 4);
  let labels: Uint8Array | null = null;
  let hashes: BigUint64Array | null = null;
  let count: number;
  if (withLabels) {
    const labelsPtr = arena.reserve(countMax * 32);
    count = kernels.fastcdcChunkAndHash(inPtr, window.length, final ? 1 : 0, lensPtr, labelsPtr, countMax, 0, 0, 0);
    labels = arena.copyOut(labelsPtr, count * 32);
  } else {
    const hashesPtr = withHashes ? arena.reserve(countMax * 8) : 0;
    count = kernels.fastcdcCut(inPtr, window.length, final ? 1 : 0, lensPtr, hashesPtr, countMax, 0, 0, 0);
    if (withHashes) hashes = new BigUint64Array(arena.bytes().buffer.slice(hashesPtr, hashesPtr + count * 8));
  }
  const lengths = new Uint32Array(arena.bytes().buffer.slice(lensPtr, lensPtr + count * 4));
  let consumed = 0;
  for (let i = 0; i < count; i++) consumed += lengths[i]!;
  return { count, lengths, labels, hashes, consumed };
}

function checkData(data: Uint8Array): void {
  if (!(data instanceof Uint8Array)) throw new TandemError("badInput", "chunking input must be a Uint8Array");
}

/** Runs whole-buffer (final) cutting window by window; each window restarts at the last cut. */
function cutWhole(data: Uint8Array, params: ChunkParams, withLabels: boolean, withHashes: boolean): WindowResult[] {
  checkData(data);
  configure(params);
  const windowBytes = chunkWindowBytes(params);
  const results: WindowResult[] = [];
  let offset = 0;
  while (offset < data.length) {
    const end = Math.min(data.length, offset + windowBytes);
    const result = runWindow(data.subarray(offset, end), params, end === data.length, withLabels, withHashes);
    // A window of at least maxBytes always yields a cut; no progress would loop forever.
    if (result.consumed === 0) throw new Error(`FastCDC made no progress at offset ${offset} of ${data.length}`);
    results.push(result);
    offset += result.consumed;
  }
  return results;
}

function concatLengths(results: WindowResult[]): Uint32Array {
  const out = new Uint32Array(results.reduce((n, r) => n + r.count, 0));
  let at = 0;
  for (const r of results) { out.set(r.lengths, at); at += r.count; }
  return out;
}

/** Cuts a whole buffer (final) and hashes every segment in one WASM call per window. */
export function chunkAndHash(data: Uint8Array, params: ChunkParams = defaultChunkParams): { lengths: Uint32Array; labels: Uint8Array } {
  const results = cutWhole(data, params, true, false);
  if (results.length === 1) return { lengths: results[0]!.lengths, labels: results[0]!.labels! };
  const lengths = concatLengths(results);
  const labels = new Uint8Array(lengths.length * 32);
  let at = 0;
  for (const r of results) { labels.set(r.labels!, at); at += r.labels!.length; }
  return { lengths, labels };
}

/** Cut points only: segment lengths and the crate's per-chunk gear hash (for vectors and benchmarks). */
export function fastcdcCut(data: Uint8Array, params: ChunkParams = defaultChunkParams): { lengths: Uint32Array; hashes: BigUint64Array } {
  const results = cutWhole(data, params, false, true);
  const lengths = concatLengths(results);
  const hashes = new BigUint64Array(lengths.length);
  let at = 0;
  for (const r of results) { hashes.set(r.hashes!, at); at += r.count; }
  return { lengths, hashes };
}

/** The shared core of the streaming classes: pending tail, resume state, windows. */
abstract class StreamCore {
  protected readonly params: ChunkParams;
  private readonly windowBytes: number;
  /** The undecided tail (always shorter than maxBytes), kept in a buffer of our own. */
  private readonly pending: Uint8Array;
  private pendingLength = 0;
  private readonly tail: TailState = { scanned: 0, hashLo: 0, hashHi: 0 };
  protected offset = 0;
  private finished = false;

  constructor(params: ChunkParams, private readonly withLabels: boolean) {
    validateChunkParams(params);
    this.params = Object.freeze({ ...params });
    this.windowBytes = chunkWindowBytes(this.params);
    this.pending = new Uint8Array(this.params.maxBytes);
  }

  /** Bytes received but not yet returned in a segment (always below maxBytes). */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  /** A copy of the undecided tail (the start of the next segment). */
  pendingData(): Uint8Array {
    return this.pending.slice(0, this.pendingLength);
  }

  /** Stream offset of the next segment. */
  get streamOffset(): number {
    return this.offset;
  }

  protected pushPiece(piece: Uint8Array): void {
    checkData(piece);
    if (this.finished) throw new TandemError("badInput", "push after finish()");
    const total = this.pendingLength + piece.length;
    if (total < this.params.minBytes && total < this.params.maxBytes) {
      // Nothing can be decided below the minimum size: just hold the bytes (tiny pushes
      // then cost a small copy, not a kernel call that moves the whole tail twice).
      this.pending.set(piece, this.pendingLength);
      this.pendingLength = total;
      return;
    }
    let at = 0;
    while (at < piece.length) {
      // Top the pending bytes up to one window, and cut what is decided.
      const take = Math.min(piece.length - at, this.windowBytes - this.pendingLength);
      this.cutWindow(piece.subarray(at, at + take), false);
      at += take;
    }
  }

  protected finishStream(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.pendingLength > 0) this.cutWindow(null, true);
  }

  /** Receives `count` segments starting at inPtr in the arena (lengths at lensPtr, labels at labelsPtr). */
  protected abstract take(inPtr: number, count: number, lensPtr: number, labelsPtr: number): void;

  /** One kernel call over pending + `more`, straight in the arena (no joined JS copy). */
  private cutWindow(more: Uint8Array | null, final: boolean): void {
    const params = this.params;
    configure(params);
    arena.reset();
    const moreLength = more ? more.length : 0;
    const windowLength = this.pendingLength + moreLength;
    const countMax = countBound(windowLength, params);
    const inPtr = arena.reserve(windowLength);
    const lensPtr = arena.reserve(countMax * 4);
    const labelsPtr = this.withLabels ? arena.reserve(countMax * 32) : 0;
    const memory = arena.bytes(); // after every reserve: growth replaces the buffer
    if (this.pendingLength > 0) memory.set(this.pending.subarray(0, this.pendingLength), inPtr);
    if (more) memory.set(more, inPtr + this.pendingLength);
    const tail = this.tail;
    const count: number = this.withLabels
      ? kernels.fastcdcChunkAndHash(inPtr, windowLength, final ? 1 : 0, lensPtr, labelsPtr, countMax, tail.scanned, tail.hashLo, tail.hashHi)
      : kernels.fastcdcCut(inPtr, windowLength, final ? 1 : 0, lensPtr, 0, countMax, tail.scanned, tail.hashLo, tail.hashHi);
    tail.scanned = kernels.fastcdcTailScanned();
    tail.hashLo = kernels.fastcdcTailHashLo();
    tail.hashHi = kernels.fastcdcTailHashHi();
    const before = this.offset;
    this.take(inPtr, count, lensPtr, labelsPtr);
    const consumed = this.offset - before;
    // What remains is undecided and shorter than maxBytes.
    this.pendingLength = windowLength - consumed;
    if (this.pendingLength > 0) this.pending.set(arena.bytes().subarray(inPtr + consumed, inPtr + windowLength), 0);
  }
}

let lengthsView: Uint32Array = new Uint32Array(0);
/** A u32 view of the arena's memory, re-taken only after growth. */
function arenaU32(): Uint32Array {
  const buffer = arena.bytes().buffer;
  if (lengthsView.buffer !== buffer) lengthsView = new Uint32Array(buffer);
  return lengthsView;
}

/**
 * Streaming chunker: push pieces of any size, get the segments that are complete
 * (data copied out, safe to keep); finish() returns the tail. At most maxBytes - 1
 * bytes are ever held back between calls (pendingBytes), and no byte is rolled
 * through the gear hash twice.
 */
export class StreamChunker extends StreamCore {
  private out: Segment[] = [];

  constructor(params: ChunkParams = defaultChunkParams) {
    super(params, true);
  }

  push(piece: Uint8Array): Segment[] {
    this.pushPiece(piece);
    return this.drain();
  }

  finish(): Segment[] {
    this.finishStream();
    return this.drain();
  }

  private drain(): Segment[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  protected take(inPtr: number, count: number, lensPtr: number, labelsPtr: number): void {
    if (count === 0) return;
    const u32 = arenaU32();
    const labels = arena.copyOut(labelsPtr, count * 32);
    let at = inPtr;
    for (let i = 0; i < count; i++) {
      const length = u32[(lensPtr >>> 2) + i]!;
      this.out.push({ offset: this.offset, length, label: labels.subarray(i * 32, i * 32 + 32), data: arena.copyOut(at, length) });
      this.offset += length;
      at += length;
    }
  }
}

/** Streaming cut points only (no hashing, no data copies): segment lengths as they become final. */
export class StreamCutter extends StreamCore {
  private out: number[] = [];

  constructor(params: ChunkParams = defaultChunkParams) {
    super(params, false);
  }

  push(piece: Uint8Array): number[] {
    this.pushPiece(piece);
    return this.drain();
  }

  finish(): number[] {
    this.finishStream();
    return this.drain();
  }

  private drain(): number[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  protected take(_inPtr: number, count: number, lensPtr: number): void {
    const u32 = arenaU32();
    for (let i = 0; i < count; i++) {
      const length = u32[(lensPtr >>> 2) + i]!;
      this.out.push(length);
      this.offset += length;
    }
  }
}
