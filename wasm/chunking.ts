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

/** Loads `params` into the kernel (gear tables, masks) unless they are already loaded. */
function configure(params: ChunkParams): void {
  const key = `${params.minBytes}/${params.avgBytes}/${params.maxBytes}/${params.level}/${params.seed}`;
  if (key === configuredKey) return;
  validateChunkParams(params);
  const bits = Math.round(Math.log2(params.avgBytes));
  const seedLo = params.seed % 0x1_0000_0000;
  const seedHi = Math.floor(params.seed / 0x1_0000_0000);
  const rc = kernels.fastcdcConfigure(params.minBytes, params.avgBytes, params.maxBytes, bits, params.level, seedLo, seedHi);
  if (rc !== 0) throw new TandemError("badInput", `no FastCDC mask for avg ${params.avgBytes} at level ${params.level}`);
  configuredKey = key;
}

/** Upper bound on the segments cut from `len` bytes (every cut but the last is >= min rounded down to even). */
function countBound(len: number, params: ChunkParams): number {
  return Math.floor(len / Math.max(2, params.minBytes & ~1)) + 1;
}

interface WindowResult { count: number; lengths: Uint32Array; labels: Uint8Array | null; hashes: BigUint64Array | null; consumed: number }

/** Where the gear hash of a stream's undecided tail stopped, so the next call resumes there. */
interface TailState { scanned: number; hashLo: number; hashHi: number }
const freshTail: TailState = { scanned: 0, hashLo: 0, hashHi: 0 };

/**
 * One kernel call over `window` (at most chunkWindowBytes); results copied out.
 * `tail` (streams only) is read as the resume point and updated for the new tail.
 */
function runWindow(window: Uint8Array, params: ChunkParams, final: boolean, withLabels: boolean, withHashes: boolean, tail: TailState = freshTail): WindowResult {
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
    count = kernels.fastcdcChunkAndHash(inPtr, window.length, final ? 1 : 0, lensPtr, labelsPtr, countMax, tail.scanned, tail.hashLo, tail.hashHi);
    labels = arena.copyOut(labelsPtr, count * 32);
  } else {
    const hashesPtr = withHashes ? arena.reserve(countMax * 8) : 0;
    count = kernels.fastcdcCut(inPtr, window.length, final ? 1 : 0, lensPtr, hashesPtr, countMax, tail.scanned, tail.hashLo, tail.hashHi);
    if (withHashes) hashes = new BigUint64Array(arena.bytes().buffer.slice(hashesPtr, hashesPtr + count * 8));
  }
  if (tail !== freshTail) {
    tail.scanned = kernels.fastcdcTailScanned();
    tail.hashLo = kernels.fastcdcTailHashLo();
    tail.hashHi = kernels.fastcdcTailHashHi();
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
  private pending: Uint8Array = new Uint8Array(0);
  private readonly tail: TailState = { scanned: 0, hashLo: 0, hashHi: 0 };
  protected offset = 0;
  private finished = false;

  constructor(params: ChunkParams, private readonly withLabels: boolean) {
    validateChunkParams(params);
    this.params = { ...params };
    this.windowBytes = chunkWindowBytes(this.params);
  }

  /** Bytes received but not yet returned in a segment (always below maxBytes). */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Stream offset of the next segment. */
  get streamOffset(): number {
    return this.offset;
  }

  protected pushPiece(piece: Uint8Array): void {
    checkData(piece);
    if (this.finished) throw new TandemError("badInput", "push after finish()");
    let at = 0;
    while (at < piece.length) {
      // Top the pending bytes up to one window, and cut what is decided.
      const take = Math.min(piece.length - at, this.windowBytes - this.pending.length);
      const window = this.joinPending(piece.subarray(at, at + take));
      at += take;
      this.cutWindow(window, false);
    }
  }

  protected finishStream(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.pending.length > 0) this.cutWindow(this.pending, true);
  }

  /** Receives the results of one kernel call over `window`. */
  protected abstract take(window: Uint8Array, result: WindowResult): void;

  private joinPending(more: Uint8Array): Uint8Array {
    if (this.pending.length === 0) return more;
    const joined = new Uint8Array(this.pending.length + more.length);
    joined.set(this.pending, 0);
    joined.set(more, this.pending.length);
    return joined;
  }

  private cutWindow(window: Uint8Array, final: boolean): void {
    const result = runWindow(window, this.params, final, this.withLabels, false, this.tail);
    this.take(window, result);
    // What remains is undecided and shorter than maxBytes; keep a private copy.
    this.pending = window.slice(result.consumed);
  }
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

  protected take(window: Uint8Array, result: WindowResult): void {
    let at = 0;
    for (let i = 0; i < result.count; i++) {
      const length = result.lengths[i]!;
      this.out.push({ offset: this.offset, length, label: result.labels!.subarray(i * 32, i * 32 + 32), data: window.slice(at, at + length) });
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

  protected take(_window: Uint8Array, result: WindowResult): void {
    for (let i = 0; i < result.count; i++) {
      this.out.push(result.lengths[i]!);
      this.offset += result.lengths[i]!;
    }
  }
}
