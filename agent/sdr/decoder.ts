// The receiving half of SDR: rebuilds the byte stream from ops frames and its own
// store. Labels it lacks (and runs its successor records cannot expand) are fetched
// from the peer in one REQ per frame; every DEF, REP and delta result must hash to
// its label before it is used or stored, so a peer cannot poison the store. New
// segments are written to the store in one batch per frame, and the successor links
// are learned exactly as the encoder learns them, so later runs expand locally.
// Bytes a flush delivered ahead of their segment (literal or HEAD ops) are not output
// again: the segment's op comes after a DELIVERED op saying how many to skip.
import { blake3 } from "../../wasm/index.ts";
import { TandemError } from "../errors.ts";
import type { Label, SegmentInput, SegmentStore } from "../store/types.ts";
import { closeWaitMs, segmentCache, settledWithin, StoreWriter } from "./cache.ts";
import { applyDelta } from "./delta.ts";
import { superFeatures } from "./features.ts";
import { LearnedIndex, labelKey, streamStartLabel } from "./learned.ts";
import { emptyStats, type SdrStats } from "./stats.ts";
import { RecentWindow } from "./window.ts";
import { BodyEncoding, OpType, decodeBody, decodeFrame, frameOutputBytesMax, frameSegmentsMax, segmentBytesMax, type Op } from "./wire.ts";
import { StreamDecompressor } from "./zstream.ts";

export type FetchMissing = (labels: Uint8Array[]) => Promise<{ label: Uint8Array; data: Uint8Array }[]>;

export interface SdrDecoderOptions {
  store: SegmentStore;
  /** Where failed writes of learned segments go (they cost savings, not correctness;
   *  the stream goes on); without it, close() throws the first failure. */
  onStoreError?: (err: unknown) => void;
  /** REQ/REP: asks the peer for these labels (segments or run labels). */
  fetchMissing: FetchMissing;
  indexPath?: string;
  /** Index super-features of learned segments, so this side can delta against them
   *  when it encodes the other direction (default true). */
  learnResemblance?: boolean;
  learnedWindowBytesMax?: number;
}

/** A run our successor chain does not add up for is retried taking the previous
 *  successor at some labels (our chain moved on where the peer's did not: traffic the
 *  peer never saw, e.g. through a master that has since failed): depth first, at up to
 *  `runForksTriedMax` labels per walk, at most `runRetryWalksMax` walks per run and
 *  `runRetryStepsPerFrameMax` chain steps per frame; failing that, the run's label list
 *  is fetched as before. */
export const runForksTriedMax = 4;
export const runRetryWalksMax = 16;
export const runRetryStepsPerFrameMax = 1 << 18;
const noForks: ReadonlySet<number> = new Set();
/** Labels one REQ may name (a frame's worth). */
export const reqLabelsMax = 65536;
/** Labels named in a missing-segment error message. */
const labelsNamedMax = 8;
export const learnedWindowBytesMaxDefault = 16 * 1024 * 1024;
const learnedWindowEntriesMax = 16384;

export function hex(label: Uint8Array): string {
  return Buffer.from(label).toString("hex");
}

function sameLabel(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

function splitLabels(list: Uint8Array, count: number): Label[] {
  const labels: Label[] = [];
  for (let i = 0; i < count; i++) labels.push(list.subarray(i * 32, i * 32 + 32));
  return labels;
}

/** `skip`: leading bytes of the segment already delivered (by literal or HEAD ops).
 *  `data` of a segment or head: its bytes, once pass 2 found them here (so pass 3 does
 *  not look them up again: two window lookups per warm segment were ~10% of decoding). */
type Item =
  | { kind: "bytes"; data: Uint8Array; skip?: number }
  | { kind: "segment"; label: Label; skip?: number; data?: Uint8Array }
  | { kind: "delta"; label: Label; base: Label; delta: Uint8Array; skip?: number }
  | { kind: "head"; label: Label; offset: number; length: number; data?: Uint8Array };

export class SdrDecoder {
  readonly stats: SdrStats = emptyStats();
  private readonly store: SegmentStore;
  private readonly fetchMissing: FetchMissing;
  private readonly index: LearnedIndex;
  private readonly learnResemblance: boolean;
  private readonly decompressor = new StreamDecompressor();
  private readonly learned: RecentWindow;
  private readonly cache: RecentWindow;
  private readonly writer: StoreWriter;
  private prev: Label | undefined = streamStartLabel;
  /** Chain steps left this frame for retrying runs (runRetryStepsPerFrameMax). */
  private retrySteps = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: SdrDecoderOptions) {
    this.store = options.store;
    this.fetchMissing = options.fetchMissing;
    this.index = LearnedIndex.forStore(options.store, options.indexPath);
    this.learnResemblance = options.learnResemblance ?? true;
    this.cache = segmentCache(options.store);
    this.writer = new StoreWriter(options.store, options.onStoreError);
    this.learned = new RecentWindow(options.learnedWindowBytesMax ?? learnedWindowBytesMaxDefault, learnedWindowEntriesMax);
  }

  /** The bytes one frame stands for, in stream order. Frames must come in the order the
   *  encoder produced them; after a failure the channel should be closed. */
  decode(frame: Uint8Array): Promise<Uint8Array[]> {
    if (this.closed) return Promise.reject(new Error("assert: SdrDecoder used after close()"));
    const next = this.queue.then(() => this.decodeFrame(frame));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A call may wait on the peer (REQ) forever if the channel died: bounded wait.
    await settledWithin(this.queue, closeWaitMs);
    this.decompressor.close();
    try {
      await this.writer.drain();
    } finally {
      await this.index.close();
    }
  }

  private async decodeFrame(frame: Uint8Array): Promise<Uint8Array[]> {
    const envelope = decodeFrame(frame);
    this.stats.inputBytes += frame.length;
    this.stats.frames++;
    const body = envelope.encoding === BodyEncoding.zstdStream
      ? await this.decompressor.decompress(envelope.body, envelope.bodyBytes)
      : envelope.body;
    this.stats.bodyBytes += body.length;
    this.stats.compressedBodyBytes += envelope.body.length;
    const ops = decodeBody(body, envelope.version);

    const learn: SegmentInput[] = [];
    const items = await this.resolveOps(ops, learn);
    await this.fetchAbsent(items, learn);
    const out = this.assemble(items, learn);
    await this.writer.put(learn);
    return out;
  }

  /** Pass 1: ops to items, in order, learning successor links as the encoder did.
   *  Runs our successor records cannot expand are fetched together in one REQ (their
   *  labels are the run labels), then every link of the frame is replayed in order,
   *  so the records end exactly as the encoder's. */
  private async resolveOps(ops: Op[], learn: SegmentInput[]): Promise<Item[]> {
    const prevAtStart = this.prev;
    this.retrySteps = runRetryStepsPerFrameMax;
    const runs: (Label[] | undefined)[] = [];
    const unresolved = new Map<number, { index: number; first: Label; count: number; runLabel: Label }>();
    let segments = 0;
    for (const op of ops) {
      switch (op.type) {
        case OpType.literal:
          this.stats.literalBytes += op.data.length;
          break;
        case OpType.head:
          this.stats.headBytes += op.length;
          break;
        case OpType.delivered:
          break;
        case OpType.def:
          this.accept(op.label, op.data, "DEF", learn);
          this.followNew(op.label);
          this.stats.defSegments++;
          segments++;
          break;
        case OpType.ref:
          this.follow(op.label);
          this.stats.refSegments++;
          segments++;
          break;
        case OpType.run: {
          const labels = this.expandRun(op.first, op.count, op.runLabel, op.forks);
          runs.push(labels);
          if (labels) {
            this.followRun(labels);
          } else {
            unresolved.set(runs.length - 1, { index: runs.length - 1, first: op.first, count: op.count, runLabel: op.runLabel });
            this.prev = undefined; // the link after an unknown run is not known yet
          }
          this.stats.runRefs++;
          this.stats.runSegments += op.count;
          this.stats.refSegments += op.count;
          segments += op.count;
          break;
        }
        case OpType.delta:
          this.followNew(op.label);
          this.stats.deltaSegments++;
          segments++;
          break;
      }
      if (segments > frameSegmentsMax) {
        throw new TandemError("badFrame", `SDR frame stands for ${segments} segments, more than frameSegmentsMax (${frameSegmentsMax})`);
      }
    }
    if (unresolved.size > 0) {
      await this.fetchRuns([...unresolved.values()], runs);
      this.prev = prevAtStart;
    }
    const items: Item[] = [];
    let runIndex = 0;
    const replay = unresolved.size > 0;
    // decodeBody checked that a DELIVERED op is followed by a segment op.
    let skip: number | undefined;
    for (const op of ops) {
      switch (op.type) {
        case OpType.literal:
          items.push({ kind: "bytes", data: op.data });
          break;
        case OpType.head:
          items.push({ kind: "head", label: op.label, offset: op.offset, length: op.length });
          break;
        case OpType.delivered:
          skip = op.bytes;
          continue;
        case OpType.def:
          items.push({ kind: "bytes", data: op.data, skip });
          if (replay) this.follow(op.label);
          break;
        case OpType.ref:
          items.push({ kind: "segment", label: op.label, skip });
          if (replay) this.follow(op.label);
          break;
        case OpType.run: {
          let first = skip;
          for (const label of runs[runIndex++]!) {
            items.push({ kind: "segment", label, skip: first });
            first = undefined;
            if (replay) this.follow(label);
          }
          break;
        }
        case OpType.delta:
          items.push({ kind: "delta", label: op.label, base: op.base, delta: op.delta, skip });
          if (replay) this.follow(op.label);
          break;
      }
      skip = undefined;
    }
    return items;
  }

  /** One REQ for the label lists of runs we could not expand; each must hash to its run label. */
  private async fetchRuns(wanted: { index: number; first: Label; count: number; runLabel: Label }[], runs: (Label[] | undefined)[]): Promise<void> {
    this.stats.runMisses += wanted.length;
    this.stats.reqSegments += wanted.length;
    const reply = await this.fetchMissing(wanted.map((w) => w.runLabel));
    const byKey = new Map<number, Uint8Array>();
    for (const r of reply) if (r.label instanceof Uint8Array && r.label.length === 32) byKey.set(labelKey(r.label), r.data);
    for (const w of wanted) {
      const data = byKey.get(labelKey(w.runLabel));
      if (!data) {
        this.stats.reqMisses++;
        const firstHeld = this.learned.has(w.first) || this.cache.has(w.first) || this.store.has(w.first);
        throw new TandemError("missingSegment",
          `SDR run of ${w.count} segments from ${hex(w.first)} (run label ${hex(w.runLabel)}) cannot be expanded: this store ` +
          `${firstHeld ? "holds its first segment but learned other successors" : "lacks its first segment"}, and no peer supplied the run`,
          { labels: firstHeld ? [hex(w.runLabel)] : [hex(w.runLabel), hex(w.first)], count: firstHeld ? 1 : 2 });
      }
      if (!(data instanceof Uint8Array) || data.length !== w.count * 32 || !sameLabel(blake3(data), w.runLabel) || !sameLabel(data.subarray(0, 32), w.first)) {
        throw new TandemError("corrupt", `SDR REP for run ${hex(w.runLabel)} does not hash to its label: rejected`);
      }
      runs[w.index] = splitLabels(data, w.count);
    }
  }

  /** Verifies `data` against `label` and keeps it (window now, store at frame end). */
  private accept(label: Label, data: Uint8Array, what: string, learn: SegmentInput[]): void {
    if (data.length === 0 || data.length > segmentBytesMax) {
      throw new TandemError("badFrame", `SDR ${what} for ${hex(label)} has ${data.length} bytes (1..${segmentBytesMax} allowed)`);
    }
    if (!sameLabel(blake3(data), label)) {
      throw new TandemError("corrupt", `SDR ${what} data does not hash to its label ${hex(label)}: rejected, nothing stored`);
    }
    const key = labelKey(label);
    if (this.learned.has(label, key)) return;
    this.learned.set(label, data, key);
    this.cache.set(label, data, key);
    learn.push({ label, data });
    if (this.learnResemblance) {
      const features = superFeatures(data);
      if (features) this.index.addFeatures(features, label);
    }
  }

  private follow(label: Label): void {
    if (this.prev) this.index.setSuccessor(this.prev, label);
    this.prev = label;
  }

  /** follow() for each label of a run expanded from our own links (expandRun): its inner
   *  links already are our successors or previous successors, which setSuccessor leaves
   *  as they are, so only the link into the run is replayed, and the inner links out of
   *  the previous label, which that link may have just changed (the encoder's closeRun()
   *  does the same). Saves a lookup per warm segment. */
  private followRun(labels: Label[]): void {
    const prev = this.prev;
    if (prev) {
      this.index.setSuccessor(prev, labels[0]!);
      for (let i = 0; i + 1 < labels.length; i++) if (sameLabel(labels[i]!, prev)) this.index.setSuccessor(prev, labels[i + 1]!);
    }
    this.prev = labels[labels.length - 1]!;
  }

  /** follow() for a segment seen for the first time: also remembers what preceded it. */
  private followNew(label: Label): void {
    if (this.prev) this.index.setPredecessor(label, this.prev);
    this.follow(label);
  }

  /** The run's labels from our successor records (the previous successor at the op's
   *  fork positions), or undefined when they disagree. */
  private expandRun(first: Label, count: number, runLabel: Label, forkList: number[] | undefined): Label[] | undefined {
    const forks = forkList ? new Set(forkList) : noForks;
    const list = new Uint8Array(count * 32);
    list.set(first, 0);
    let cur: Label | undefined = first;
    for (let i = 1; i < count && cur; i++) {
      cur = forks.has(i) ? this.index.previousSuccessor(cur) : this.index.successor(cur);
      if (cur) list.set(cur, i * 32);
    }
    if (cur && sameLabel(blake3(list), runLabel)) return splitLabels(list, count);
    const walks = { left: runRetryWalksMax };
    return this.retryRun(list, 0, first, count, runLabel, forks, walks) ? splitLabels(list, count) : undefined;
  }

  /** Refills list from position `at` with `label` and its successors (previous successors
   *  at the op's forks), noting labels that had another successor; if the result does not
   *  hash to runLabel, tries those other successors one by one (depth first, within the
   *  walk and step budgets). A peer whose links lag ours takes other turns. */
  private retryRun(list: Uint8Array, at: number, label: Label, count: number, runLabel: Label, forks: ReadonlySet<number>,
      walks: { left: number }): boolean {
    if (walks.left-- <= 0 || this.retrySteps < count - at) return false;
    this.retrySteps -= count - at;
    list.set(label, at * 32);
    const turns: { at: number; other: Label }[] = [];
    let cur: Label | undefined = label;
    let i = at + 1;
    for (; i < count; i++) {
      const fork = forks.has(i);
      if (turns.length < runForksTriedMax) {
        const other = fork ? this.index.successor(cur) : this.index.previousSuccessor(cur);
        if (other) turns.push({ at: i, other });
      }
      cur = fork ? this.index.previousSuccessor(cur) : this.index.successor(cur);
      if (!cur) break;
      list.set(cur, i * 32);
    }
    if (i === count && sameLabel(blake3(list), runLabel)) return true;
    for (const turn of turns) {
      const attempt = list.slice();
      if (this.retryRun(attempt, turn.at, turn.other, count, runLabel, forks, walks)) {
        list.set(attempt);
        return true;
      }
      if (walks.left <= 0) return false;
    }
    return false;
  }

  private available(label: Label, definedHere: Set<number>): boolean {
    const key = labelKey(label);
    return this.learned.has(label, key) || definedHere.has(key) || this.cache.has(label, key) || this.store.has(label);
  }

  /** Pass 2: one REQ for every segment (or delta base) this side lacks. */
  private async fetchAbsent(items: Item[], learn: SegmentInput[]): Promise<void> {
    const definedHere = new Set<number>();
    const wanted = new Map<number, Label>();
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.kind === "segment" || item.kind === "head") {
        // A segment a DELTA of this frame defines exists only once pass 3 applies it.
        if (definedHere.size > 0 && definedHere.has(labelKey(item.label))) continue;
        item.data = this.segmentData(item.label);
        if (!item.data) wanted.set(labelKey(item.label), item.label);
      } else if (item.kind === "delta") {
        // Without the base, ask for the segment itself.
        if (!this.available(item.base, definedHere)) {
          wanted.set(labelKey(item.label), item.label);
          items[i] = { kind: "segment", label: item.label, skip: item.skip };
        }
        definedHere.add(labelKey(item.label));
      }
    }
    if (wanted.size === 0) return;
    const labels = [...wanted.values()];
    if (labels.length > reqLabelsMax) throw new TandemError("limitExceeded", `SDR frame needs ${labels.length} labels, more than reqLabelsMax (${reqLabelsMax})`);
    this.stats.reqSegments += labels.length;
    const reply = await this.fetchMissing(labels);
    for (const { label, data } of reply) {
      const key = labelKey(label);
      const asked = wanted.get(key);
      if (!asked || !sameLabel(asked, label)) continue; // not asked for: ignored
      this.accept(label, data, "REP", learn);
      wanted.delete(key);
    }
    if (wanted.size > 0) this.failMissing([...wanted.values()]);
  }

  private failMissing(labels: Label[]): never {
    this.stats.reqMisses += labels.length;
    const named = labels.slice(0, labelsNamedMax).map(hex);
    const more = labels.length > labelsNamedMax ? ` and ${labels.length - labelsNamedMax} more` : "";
    throw new TandemError("missingSegment",
      `${labels.length} segment${labels.length === 1 ? "" : "s"} missing from the store and not supplied by a peer: ${named.join(", ")}${more}`,
      { labels: labels.map(hex), count: labels.length });
  }

  private segmentData(label: Label): Uint8Array | undefined {
    const key = labelKey(label);
    const hit = this.learned.get(label, key) ?? this.cache.get(label, key);
    if (hit) return hit;
    const stored = this.store.get(label);
    if (stored) this.cache.set(label, stored, key);
    return stored;
  }

  /** Pass 3: the output, in order; deltas are applied and verified here. */
  private assemble(items: Item[], learn: SegmentInput[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    let bytes = 0;
    const lost: Label[] = [];
    for (const item of items) {
      let data: Uint8Array | undefined;
      if (item.kind === "bytes") data = item.data;
      else if (item.kind === "segment" || item.kind === "head") data = item.data ?? this.segmentData(item.label);
      else {
        const base = this.segmentData(item.base);
        if (base) {
          data = applyDelta(base, item.delta, segmentBytesMax);
          this.accept(item.label, data, "delta result", learn);
        }
      }
      if (!data) {
        lost.push(item.kind === "delta" ? item.base : (item as { label: Label }).label);
        continue;
      }
      if (item.kind === "head") {
        if (item.offset + item.length > data.length) {
          throw new TandemError("badFrame", `SDR HEAD op asks for bytes ${item.offset}..${item.offset + item.length} of ${hex(item.label)}, which has ${data.length}`);
        }
        data = data.subarray(item.offset, item.offset + item.length);
      } else if (item.skip !== undefined) {
        if (item.skip > data.length) {
          throw new TandemError("badFrame", `SDR DELIVERED op skips ${item.skip} bytes of a ${data.length}-byte segment`);
        }
        data = data.subarray(item.skip);
      }
      if (data.length === 0) continue;
      bytes += data.length;
      if (bytes > frameOutputBytesMax) throw new TandemError("badFrame", `SDR frame stands for more than ${frameOutputBytesMax} bytes`);
      out.push(data);
    }
    // Evicted between the check and the read: rare, and reported like any missing label.
    if (lost.length > 0) this.failMissing(lost);
    this.stats.outputBytes += bytes;
    return out;
  }
}
