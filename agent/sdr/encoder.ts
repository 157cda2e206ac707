// The sending half of SDR: cuts a byte stream into FastCDC segments labelled with
// BLAKE3 and turns them into ops. A segment the local store already holds (and so,
// by the traffic that taught it, the peer most likely does too) goes as a reference;
// consecutive references that follow the learned successor chain collapse into one
// RUN op; a new segment goes as a DELTA against a similar stored one when that is
// much smaller, else whole as a DEF. Op bodies then pass through the channel's zstd
// stream, which compresses across segments and frames. Everything the encoder sent
// or referenced stays in a bounded window so it can answer the peer's REQs even
// after the store evicted it.
//
// Flushes never move segment boundaries. deliverTail() (the input went idle) sends the
// undecided tail as a HEAD of a known segment that starts with it, else as literal
// bytes, and keeps it: the segment that holds it is still cut where the content says,
// and its op follows a DELIVERED op so the decoder skips what it already wrote. So
// the segments, their labels and the learned chain are the same whatever the timing
// of the reads, and a warm pass costs the same via any peer that holds the segments.
import { blake3, StreamChunker, defaultChunkParams, type ChunkParams, type Segment } from "../../wasm/index.ts";
import type { Label, SegmentInput, SegmentStore } from "../store/types.ts";
import { closeWaitMs, settledWithin, prefixIndex, segmentCache, StoreWriter, type PrefixIndex } from "./cache.ts";
import { encodeDelta } from "./delta.ts";
import { superFeatures } from "./features.ts";
import { LearnedIndex, labelKey, streamStartLabel } from "./learned.ts";
import { emptyStats, type SdrStats } from "./stats.ts";
import { RecentWindow } from "./window.ts";
import {
  BodyEncoding, OpType, encodeBody, encodeFrame, frameOutputBytesMax, frameSegmentsMax, opsPerFrameMax, runForksMax, runSegmentsMax,
  type Op,
} from "./wire.ts";
import { StreamCompressor, syncBytesMax, zstdLevelDefault, zstdWindowLogDefault } from "./zstream.ts";

export interface SdrEncoderOptions {
  store: SegmentStore;
  /** Where failed writes of learned segments go (they cost savings, not correctness;
   *  the stream goes on); without it, close() throws the first failure. */
  onStoreError?: (err: unknown) => void;
  params?: ChunkParams;
  /** Where the successor/resemblance index lives (default: next to the store). */
  indexPath?: string;
  /** zstd level of the frame stream; 0 sends bodies uncompressed. */
  zstdLevel?: number;
  zstdWindowLog?: number;
  /** A frame is closed once its body reaches this size. */
  frameBodyBytesTarget?: number;
  /** A frame is also closed at a segment boundary once it stands for this many LAN
   *  bytes (default: no such bound). Unlike a flush this cuts no segment, so warm
   *  traffic streams to the receiver in steady frames without new tail segments. */
  frameCoveredBytesTarget?: number;
  /** Tails cut at the stream's end shorter than this go as literal bytes rather than segments. */
  literalBytesMax?: number;
  /** Bytes and entries of the window that answers REQs. */
  answerWindowBytesMax?: number;
  answerWindowEntriesMax?: number;
  /** Send new segments as deltas against similar ones (default true). */
  resemblance?: boolean;
  /** A delta is used only when at most this fraction of the segment's size. */
  deltaRatioMax?: number;
}

export const frameBodyBytesTargetDefault = 1024 * 1024;
export const literalBytesMaxDefault = 128;
export const answerWindowBytesMaxDefault = 16 * 1024 * 1024;
export const answerWindowEntriesMaxDefault = 16384;
/** Run-label windows hold label lists (32 bytes per segment). */
const runWindowBytesMax = 8 * 1024 * 1024;
const runWindowEntriesMax = 16384;
const deltaRatioMaxDefault = 0.5;
/** Wire cost of an op besides its payload (type, label(s), msgpack headers). */
const opOverheadBytes = 40;
/** A delivered tail shorter than this goes as literal bytes even when a known segment
 *  starts with it (a HEAD op costs a label). */
const headBytesMin = 64;
/** Closed frames whose zstd step may still run on the thread pool while the encoder
 *  goes on with the next frame's segments; more than this and it waits for the oldest.
 *  Two keeps both cores busy (one compressing, one cutting/hashing/deltas) and bounds
 *  the memory held by uncompressed bodies to about two frames. */
export const framesCompressingMax = 2;
/** Most bytes given to the chunker at a time, so a switch to speculation comes early. */
const chunkSliceBytes = 128 * 1024;

const bufferCompare = Buffer.prototype.compare;

/** Whether a[aAt..aAt+n) equals b[bAt..bAt+n): Buffer's ranged compare on plain views,
 *  without the two subarray() views per call (~0.6 us each, as much as comparing a
 *  whole segment; speculation compares once per warm segment). */
function sameRange(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, n: number): boolean {
  return bufferCompare.call(a, b, bAt, bAt + n, aAt, aAt + n) === 0;
}

function sameLabel(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a) return false;
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A closed frame on its way through the compressor. `done` flips when it settled
 *  (results arrive on the event loop); `small` bodies take zstd's synchronous path and
 *  are settled by the time anyone looks, so they never wait for a later call. */
interface PendingFrame {
  frame: Promise<Uint8Array>;
  done: boolean;
  small: boolean;
}

interface OpenRun {
  labels: Label[];
  predicted: Label | undefined;
  /** Positions whose label is the previous successor of the one before (wire v3). */
  forks: number[];
  /** Leading bytes of the first segment already delivered by deliverTail(). */
  skip: number;
}

export class SdrEncoder {
  readonly stats: SdrStats = emptyStats();
  private readonly store: SegmentStore;
  private readonly params: ChunkParams;
  private readonly index: LearnedIndex;
  private readonly compressor: StreamCompressor | undefined;
  private readonly frameBodyBytesTarget: number;
  private readonly frameCoveredBytesTarget: number;
  private readonly literalBytesMax: number;
  private readonly resemblance: boolean;
  private readonly deltaRatioMax: number;
  private readonly sent: RecentWindow;
  private readonly runs = new RecentWindow(runWindowBytesMax, runWindowEntriesMax);
  private readonly cache: RecentWindow;
  private readonly prefixes: PrefixIndex;
  private readonly writer: StoreWriter;
  /** Undefined while speculating (comparing input against the expected segment). */
  private chunker: StreamChunker | undefined;
  /** Input bytes matched so far against the expected segment. */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private sliceBytes = chunkSliceBytes;
  /** The label expected next: the successor of the last known segment. */
  private expect: Label | undefined;
  /** Bytes from the start of the undecided segment already delivered by deliverTail(). */
  private delivered = 0;

  private ops: Op[] = [];
  private bodyBytes = 0;
  private coveredBytes = 0;
  private frameSegments = 0;
  private learn: SegmentInput[] = [];
  private run: OpenRun | undefined;
  private prev: Label | undefined = streamStartLabel;
  /** Where the stream would be in the previously learned chain (delta base guess). */
  private shadow: Label | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Closed frames in wire order, oldest first (at most framesCompressingMax + 1). */
  private compressing: PendingFrame[] = [];

  constructor(options: SdrEncoderOptions) {
    this.store = options.store;
    this.params = options.params ?? defaultChunkParams;
    this.chunker = new StreamChunker(this.params);
    this.index = LearnedIndex.forStore(options.store, options.indexPath);
    this.shadow = this.expect = this.index.successor(streamStartLabel);
    this.cache = segmentCache(options.store);
    this.prefixes = prefixIndex(options.store);
    this.writer = new StoreWriter(options.store, options.onStoreError);
    const level = options.zstdLevel ?? zstdLevelDefault;
    this.compressor = level > 0 ? new StreamCompressor(level, options.zstdWindowLog ?? zstdWindowLogDefault) : undefined;
    this.frameBodyBytesTarget = options.frameBodyBytesTarget ?? frameBodyBytesTargetDefault;
    this.frameCoveredBytesTarget = options.frameCoveredBytesTarget ?? Infinity;
    this.literalBytesMax = options.literalBytesMax ?? literalBytesMaxDefault;
    this.resemblance = options.resemblance ?? true;
    this.deltaRatioMax = options.deltaRatioMax ?? deltaRatioMaxDefault;
    this.sent = new RecentWindow(
      options.answerWindowBytesMax ?? answerWindowBytesMaxDefault,
      options.answerWindowEntriesMax ?? answerWindowEntriesMaxDefault,
    );
  }

  /** Ops frames for `data` (possibly none: bytes wait for a segment boundary or flush()).
   *  Calls are serialized; frames must reach the decoder in the order returned. */
  encode(data: Uint8Array): Promise<Uint8Array[]> {
    return this.serialized(async () => {
      this.stats.inputBytes += data.length;
      const frames: Uint8Array[] = [];
      let pos = 0;
      while (pos < data.length) {
        if (!this.chunker) {
          pos = await this.speculate(data, pos, frames);
          continue;
        }
        const slice = data.subarray(pos, pos + this.sliceBytes);
        pos += slice.length;
        this.sliceBytes = Math.min(chunkSliceBytes, this.sliceBytes * 2);
        await this.process(this.chunker.push(slice), frames);
        await this.maybeSpeculate(slice, frames);
      }
      await this.takeFrames(frames, false);
      return frames;
    });
  }

  /** Ends the stream's segments: the tail is cut as a short segment (or a literal), and
   *  every buffered byte goes out. For the end of a stream; an idle pause in the middle
   *  of one wants deliverTail(), which leaves the boundaries alone. */
  flush(): Promise<Uint8Array[]> {
    return this.serialized(async () => {
      const frames: Uint8Array[] = [];
      if (!this.chunker) await this.resumeChunking(frames);
      const tail = this.chunker!.finish();
      this.chunker = new StreamChunker(this.params);
      await this.process(tail, frames, true);
      if (this.delivered !== 0) throw new Error(`assert: ${this.delivered} delivered bytes outlived the stream's last segment`);
      await this.closeFrameInto(frames);
      await this.takeFrames(frames, true);
      return frames;
    });
  }

  /** Emits every buffered byte now without cutting the undecided tail: it goes as a HEAD
   *  of a known segment that starts with it, else as literal bytes, and stays in the
   *  chunker (or speculation) so the segment is cut where the content says. */
  deliverTail(): Promise<Uint8Array[]> {
    return this.serialized(async () => {
      const frames: Uint8Array[] = [];
      if (!this.chunker) {
        // Speculating: the held bytes are the start of the expected segment.
        if (this.heldBytes > this.delivered) this.head(this.expect!, this.delivered, this.heldBytes - this.delivered);
        this.delivered = this.heldBytes;
      } else {
        const pending = this.chunker.pendingData();
        if (pending.length > this.delivered) {
          const known = pending.length - this.delivered >= headBytesMin ? this.knownStartingWith(pending) : undefined;
          if (known) this.head(known, this.delivered, pending.length - this.delivered);
          else this.literal(pending.subarray(this.delivered));
        }
        this.delivered = pending.length;
      }
      await this.closeFrameInto(frames);
      await this.takeFrames(frames, true);
      return frames;
    });
  }

  /** Closes the frame of every segment decided so far (a forced frame: the receiver
   *  starts on it); the undecided tail waits, so no boundary moves. */
  cutFrame(): Promise<Uint8Array[]> {
    return this.serialized(async () => {
      const frames: Uint8Array[] = [];
      await this.closeFrameInto(frames);
      await this.takeFrames(frames, true);
      return frames;
    });
  }

  /** REP for a REQ: every label still in the window (or the store); run labels expand
   *  to their label lists. Labels it cannot answer are left out. */
  answer(labels: Uint8Array[]): { label: Uint8Array; data: Uint8Array }[] {
    const out: { label: Uint8Array; data: Uint8Array }[] = [];
    for (const label of labels) {
      this.stats.reqSegments++;
      if (!(label instanceof Uint8Array) || label.length !== 32) {
        this.stats.reqMisses++;
        continue;
      }
      const data = this.sent.get(label) ?? this.runs.get(label) ?? this.cache.get(label) ?? this.store.get(label);
      if (data) out.push({ label, data });
      else this.stats.reqMisses++;
    }
    return out;
  }

  /** Waits for calls in progress, then releases the compressor and the index and
   *  waits for learned segments to be written (does not close the store). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A call may wait on the peer (REQ) forever if the channel died: bounded wait.
    await settledWithin(this.queue, closeWaitMs);
    // Frames nobody collected any more (the channel ended mid-stream) are dropped.
    await settledWithin(Promise.allSettled(this.compressing.map((p) => p.frame)), closeWaitMs);
    this.compressing = [];
    this.compressor?.close();
    try {
      await this.writer.drain();
    } finally {
      await this.index.close();
    }
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("assert: SdrEncoder used after close()"));
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async process(segments: Segment[], frames: Uint8Array[], tail = false): Promise<void> {
    for (const segment of segments) {
      if (tail && segment.length < this.literalBytesMax) {
        const skip = this.takeDelivered(segment.length);
        if (skip < segment.length) this.literal(segment.data.subarray(skip));
      } else this.segment(segment.label, segment.data);
      if (this.frameFull()) await this.closeFrameInto(frames);
    }
  }

  /** Whether the open frame must be closed before the next segment. Tested before
   *  awaiting closeFrameInto(): an await per segment (a promise and a microtask turn
   *  each) cost more than the check. */
  private frameFull(): boolean {
    return this.bodyBytes >= this.frameBodyBytesTarget || this.coveredBytes >= this.frameCoveredBytesTarget ||
      this.ops.length >= opsPerFrameMax - 6 || this.frameSegments >= frameSegmentsMax ||
      this.coveredBytes + this.params.maxBytes * 2 > frameOutputBytesMax;
  }

  /** Closes the open frame and starts its compression; frames that must leave to keep
   *  at most framesCompressingMax compressing go to `frames` (in wire order). */
  private async closeFrameInto(frames: Uint8Array[]): Promise<void> {
    const pending = this.closeFrame();
    if (!pending) return;
    this.compressing.push(pending);
    while (this.compressing.length > framesCompressingMax) frames.push(await this.compressing.shift()!.frame);
    await this.writer.put(this.learnedOfFrame);
    this.learnedOfFrame = [];
  }

  /** Moves finished frames from the front of the pipeline to `frames`; with `all`, waits
   *  for every one (a flush: everything must be on its way). */
  private async takeFrames(frames: Uint8Array[], all: boolean): Promise<void> {
    while (this.compressing.length > 0) {
      const head = this.compressing[0]!;
      if (!all && !head.done && !head.small) return;
      this.compressing.shift();
      frames.push(await head.frame);
    }
  }

  /** Data of the segment expected next (the successor of the last known one), if at hand. */
  private expectedData(): Uint8Array | undefined {
    return this.expect ? this.dataOf(this.expect) : undefined;
  }

  /** A known segment's bytes: this channel's window, the shared cache, else the store. */
  private dataOf(label: Label): Uint8Array | undefined {
    const key = labelKey(label);
    const hit = this.sent.get(label, key) ?? this.cache.get(label, key);
    if (hit) return hit;
    const stored = this.store.get(label);
    if (stored) this.cache.set(label, stored, key);
    return stored;
  }

  /** After a chunked slice that ended on a known segment whose successor is known: if
   *  the undecided bytes start like that successor, stop chunking and compare instead.
   *  Comparing known bytes is many times cheaper than cutting and hashing them, and a
   *  segment that equals a known one byte for byte can go as its label, wherever the
   *  chunker would have cut. */
  private async maybeSpeculate(slice: Uint8Array, frames: Uint8Array[]): Promise<void> {
    const chunker = this.chunker!;
    const pending = chunker.pendingBytes;
    if (pending > slice.length) return;
    const head = slice.subarray(slice.length - pending);
    const expected = this.expectedData();
    const n = expected ? Math.min(head.length, expected.length) : 0;
    if (!expected || !sameRange(head, 0, expected, 0, n)) {
      if (!this.expectByPrefix(head, 0)) return;
    }
    this.chunker = undefined;
    const pos = await this.speculate(head, 0, frames);
    if (pos < head.length) await this.process(this.chunker!.push(head.subarray(pos)), frames);
  }

  /** A known segment whose bytes start with `bytes` (the expected one first). */
  private knownStartingWith(bytes: Uint8Array): Label | undefined {
    const fits = (label: Label) => {
      const data = this.dataOf(label);
      return data !== undefined && data.length >= bytes.length && Buffer.compare(bytes, data.subarray(0, bytes.length)) === 0;
    };
    if (this.expect && fits(this.expect)) return this.expect;
    for (const label of this.prefixes.get(bytes, 0) ?? []) if (fits(label)) return label;
    return undefined;
  }

  /** Of a segment of `length` bytes about to be emitted, how many were already delivered
   *  (a delivered tail may span segments when speculation held it past a cut point). */
  private takeDelivered(length: number): number {
    const skip = Math.min(this.delivered, length);
    this.delivered -= skip;
    return skip;
  }

  /** Sets `expect` to a known segment that starts like input[pos..] (if any). */
  private expectByPrefix(input: Uint8Array, pos: number): boolean {
    const labels = this.prefixes.get(input, pos);
    if (!labels) return false;
    for (const label of labels) {
      if (sameLabel(this.expect, label)) continue;
      const data = this.dataOf(label);
      if (!data) continue;
      const n = Math.min(data.length, input.length - pos);
      if (!sameRange(input, pos, data, 0, n)) continue;
      this.expect = label;
      return true;
    }
    return false;
  }

  /** Consumes input while it repeats the expected segments; returns where it stopped.
   *  On a mismatch chunking resumes (with the partly matched bytes) at that point. */
  private async speculate(input: Uint8Array, pos: number, frames: Uint8Array[]): Promise<number> {
    let prefixTriedAt = -1;
    while (pos < input.length) {
      const expected = this.expectedData();
      const off = this.heldBytes;
      const need = expected ? expected.length - off : 0;
      const n = Math.min(need, input.length - pos);
      if (!expected || !sameRange(input, pos, expected, off, n)) {
        // At a segment boundary, the stream may go on with another known segment.
        if (off === 0 && prefixTriedAt !== pos) {
          prefixTriedAt = pos;
          if (this.expectByPrefix(input, pos)) continue;
        }
        break;
      }
      if (n < need) {
        // Input ends inside the expected segment: hold the bytes until the next call, as
        // a view of the known segment they were just found equal to (no copy per call).
        this.held.push(expected.subarray(off, off + n));
        this.heldBytes += n;
        return input.length;
      }
      pos += n;
      this.held = [];
      this.heldBytes = 0;
      this.stats.speculatedSegments++;
      this.segment(this.expect!, expected, true);
      if (this.frameFull()) await this.closeFrameInto(frames);
    }
    await this.resumeChunking(frames);
    return pos;
  }

  /** Back to cutting: a fresh chunker starts at the current position with the held bytes. */
  private async resumeChunking(frames: Uint8Array[]): Promise<void> {
    this.chunker = new StreamChunker(this.params);
    // A broken run often continues elsewhere in what is known: look again soon.
    this.sliceBytes = this.params.maxBytes * 2;
    if (this.heldBytes === 0) return;
    const held = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    await this.process(this.chunker.push(held), frames);
  }

  private literal(data: Uint8Array): void {
    this.closeRun();
    this.pushOp({ type: OpType.literal, data }, data.length, data.length);
    this.stats.literalBytes += data.length;
  }

  /** Bytes [offset, offset + length) of known segment `label`, delivered ahead of its cut. */
  private head(label: Label, offset: number, length: number): void {
    this.closeRun();
    const data = this.dataOf(label);
    if (data) this.sent.set(label, data); // the peer may REQ it
    this.pushOp({ type: OpType.head, label, offset, length }, 0, length);
    this.stats.headBytes += length;
  }

  private segment(label: Label, data: Uint8Array, known = false): void {
    const key = labelKey(label);
    this.frameSegments++;
    const skip = this.takeDelivered(data.length);
    if (!known) this.prefixes.add(data, label);
    if (known || this.sent.has(label, key) || this.cache.has(label, key) || this.store.has(label)) this.knownSegment(label, data, key, skip);
    else this.newSegment(label, data, key, skip);
  }

  // Known and new segments are separate methods so the hot warm path stays small: as
  // one method it inlined the whole DEF/DELTA path and JSC re-optimized it (~200 ms of
  // JIT per warm 64 MiB connection) whenever the rarely taken new-segment branch ran.
  /** `skip`: leading bytes of the segment already delivered by deliverTail(). */
  private knownSegment(label: Label, data: Uint8Array, key: number, skip: number): void {
    // Not refreshed when present: a REQ for a known segment is answered from the store
    // anyway, and moving the entry to the newest end (delete + insert) was ~1 us per
    // segment, 5% of a warm sender's CPU.
    if (!this.sent.has(label, key)) this.sent.set(label, data, key);
    this.stats.refSegments++;
    const run = this.run;
    if (skip === 0 && run && run.labels.length < runSegmentsMax && (sameLabel(run.predicted, label) || this.forkTo(run, label))) {
      run.labels.push(label);
      run.predicted = this.index.successor(label, key);
      this.shadow = this.expect = run.predicted;
      this.coveredBytes += data.length;
      return;
    }
    this.closeRun();
    this.run = { labels: [label], predicted: this.index.successor(label, key), forks: [], skip };
    this.shadow = this.expect = this.run.predicted;
    this.coveredBytes += data.length - skip;
  }

  /** Whether `label`, which is not the predicted successor, is the previous successor of
   *  the run's last label (a segment repeated in the data has two): then the run goes on
   *  over a fork, and the decoder takes the same turn from the RUN op's fork list. */
  private forkTo(run: OpenRun, label: Label): boolean {
    if (run.forks.length >= runForksMax) return false;
    if (!sameLabel(this.index.previousSuccessor(run.labels[run.labels.length - 1]!), label)) return false;
    run.forks.push(run.labels.length);
    return true;
  }

  /** A segment the peer most likely lacks (`skip` as for knownSegment). */
  private newSegment(label: Label, data: Uint8Array, key: number, skip: number): void {
    this.closeRun();
    const predictedBase = this.shadow;
    this.expect = undefined;
    this.sent.set(label, data, key);
    this.cache.set(label, data, key);
    this.learn.push({ label, data, labelComputedHere: true }); // cut and hashed here (chunkAndHash)
    const features = this.resemblance ? superFeatures(data) : undefined;
    const delta = this.resemblance ? this.bestDelta(label, data, predictedBase, features) : undefined;
    if (skip > 0) this.pushOp({ type: OpType.delivered, bytes: skip }, 0, -skip);
    if (delta) {
      this.pushOp({ type: OpType.delta, label, base: delta.base, delta: delta.delta }, delta.delta.length, data.length);
      this.stats.deltaSegments++;
      this.stats.deltaRawBytes += data.length;
      this.stats.deltaBytes += delta.delta.length;
    } else {
      this.pushOp({ type: OpType.def, label, data }, data.length, data.length);
      this.stats.defSegments++;
    }
    if (features) this.index.addFeatures(features, label);
    // Keep walking the old chain alongside: an edited file's next segment most likely
    // resembles the one after this segment's base.
    const along = delta?.base ?? predictedBase;
    this.shadow = along ? this.index.successor(along) : undefined;
    this.follow(label);
  }

  /** The smaller delta against the predicted successor or a resembling segment. */
  private bestDelta(label: Label, data: Uint8Array, predicted: Label | undefined, features: Uint32Array | undefined):
      { base: Label; delta: Uint8Array } | undefined {
    if (data.length < 256) return undefined;
    let best: { base: Label; delta: Uint8Array } | undefined;
    let budget = Math.floor(data.length * this.deltaRatioMax);
    const tryBase = (base: Label | undefined) => {
      if (!base || sameLabel(base, label) || (best && sameLabel(best.base, base))) return;
      const baseData = this.dataOf(base);
      if (!baseData) return;
      const delta = encodeDelta(baseData, data, budget);
      if (delta && delta.length <= budget) {
        best = { base, delta };
        budget = delta.length - 1;
      }
    };
    tryBase(predicted);
    // A good enough predicted delta saves the resemblance lookup.
    if (!best || best.delta.length > data.length / 8) tryBase(features ? this.index.similar(features) : undefined);
    return best;
  }

  /** Records that `label` followed the previous segment (both sides do the same). */
  private follow(label: Label): void {
    if (this.prev) {
      this.index.setSuccessor(this.prev, label);
      this.index.setPredecessor(label, this.prev);
    }
    this.prev = label;
  }

  private closeRun(): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    const first = run.labels[0]!;
    if (run.skip > 0) this.pushOp({ type: OpType.delivered, bytes: run.skip }, 0, 0);
    if (run.labels.length === 1) {
      this.pushOp({ type: OpType.ref, label: first }, 0, 0);
    } else {
      const list = new Uint8Array(run.labels.length * 32);
      run.labels.forEach((l, i) => list.set(l, i * 32));
      const runLabel = blake3(list);
      this.runs.set(runLabel, list);
      const forks = run.forks.length > 0 ? run.forks : undefined;
      this.pushOp({ type: OpType.run, first, count: run.labels.length, runLabel, forks }, 32 + run.forks.length * 2, 0);
      this.stats.runRefs++;
      this.stats.runSegments += run.labels.length;
    }
    // Inner links already are the successors or, at forks, the previous successors
    // (that is how the run grew; setSuccessor keeps both); only the link into the run
    // is news. The decoder replays every link in order, so where the
    // run passes through `prev` again, its inner link wins over the link into the run.
    const prev = this.prev;
    if (prev) {
      this.index.setSuccessor(prev, first);
      for (let i = 0; i + 1 < run.labels.length; i++) {
        if (sameLabel(run.labels[i], prev)) this.index.setSuccessor(prev, run.labels[i + 1]!);
      }
    }
    this.prev = run.labels[run.labels.length - 1]!;
  }

  private pushOp(op: Op, payloadBytes: number, coveredBytes: number): void {
    this.ops.push(op);
    this.bodyBytes += payloadBytes + opOverheadBytes;
    this.coveredBytes += coveredBytes;
  }

  /** Segments learned by the frame just closed, for closeFrameInto() to queue. */
  private learnedOfFrame: SegmentInput[] = [];

  private closeFrame(): PendingFrame | undefined {
    this.closeRun();
    if (this.ops.length === 0) return undefined;
    const ops = this.ops;
    const learn = this.learn;
    this.ops = [];
    this.learn = [];
    this.bodyBytes = 0;
    this.coveredBytes = 0;
    this.frameSegments = 0;
    const body = encodeBody(ops);
    this.stats.bodyBytes += body.length;
    this.stats.frames++;
    this.learnedOfFrame = learn;
    const done = (frame: Uint8Array, compressedBytes: number) => {
      this.stats.compressedBodyBytes += compressedBytes;
      this.stats.outputBytes += frame.length;
      pending.done = true;
      return frame;
    };
    const pending: PendingFrame = { frame: undefined!, done: false, small: body.length <= syncBytesMax };
    if (this.compressor) {
      pending.frame = this.compressor.compress(body).then(
        (compressed) => done(encodeFrame({ encoding: BodyEncoding.zstdStream, bodyBytes: body.length, body: compressed }), compressed.length),
        (err) => {
          pending.done = true;
          throw err;
        },
      );
      // Rejections surface where the frame is collected (or are dropped at close).
      pending.frame.catch(() => undefined);
    } else {
      pending.frame = Promise.resolve(done(encodeFrame({ encoding: BodyEncoding.raw, bodyBytes: body.length, body }), body.length));
    }
    return pending;
  }
}

