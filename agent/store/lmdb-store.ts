// The segment store on LMDB: one environment under <data dir>/store/ with separate
// sub-databases for segments (label -> 16-byte header + LZ4 block or raw bytes), the
// change log (seq -> label + origin: the durable intent log replication reads), the
// replacement order (tick -> label, and label -> tick), eviction tombstones (bounded),
// user meta records and the store's own state (identity, counters).
//
// Every mutation goes through one queue of operations. A scheduled LMDB write
// transaction drains the queue (up to writeBatchSegmentsMax segments) and applies all
// of it at once, so concurrent putSegments calls coalesce into one durable commit;
// segments, their change entries, order entries, counters and the caller's meta are
// always in the same transaction. Hashing (skipped for labels the caller computed
// here from the same bytes) and compression happen before queuing, on the caller's
// turn or on the prep worker, so the transaction callback only copies bytes into LMDB
// while the previous commit is still being flushed by lmdb-js's writer thread.
//
// Invariants (checked by audit.ts and the crash test): every change entry points to a
// segment whose header carries that seq; every segment has a change entry unless its
// seq was trimmed; every segment has exactly one order entry; the counters record
// matches the segments. Eviction removes a segment's change entry with it.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Database, RootDatabase } from "lmdb";
import { TandemError } from "../errors.ts";
import type { EventLog } from "../events.ts";
import { openStoreDbs } from "./env.ts";
import { workersPayOff } from "./worker-path.ts";
import { decompressSegment, hashMany, hashOne } from "./codec.ts";
import { releaseValues, splitValues, verifyStored } from "./bulk.ts";
import { inlineShare, prepareOnWorker, worthWorker } from "./prep-pool.ts";
import { RecentValues } from "./recent.ts";
import { joinOutputs, packSegments, prepareSegments, type PrepOutput } from "./prepare.ts";
import {
  assertLabel, changeValueBytes, decodeChange, decodeHeader, encodeChange, encodeValue, labelHex, labelsEqual, segmentBytesMax,
  storedPayloadBytesMax, valueFormatVersion, valueHeaderBytes,
} from "./format.ts";
import { identityHistoryMax, newIdentity, validateIdentity } from "./identity.ts";
import {
  labelBytes, type ChangeEntry, type Label, type Origin, type SegmentInput, type SegmentStore, type StoreIdentity,
  type StoreStats, type StoredSegment,
} from "./types.ts";

/** Segments applied in one write transaction (a single larger call still commits whole). */
export const writeBatchSegmentsMax = 4096;
/** Segments waiting for a transaction before putSegments callers wait for room. */
export const writeQueueSegmentsMax = 16384;
/** Slab that getStored copies labels and payloads into (larger payloads get their own buffer). */
export const readSlabBytes = 1024 * 1024;
/** Segments one putSegments / putStored / deleteSegments call may carry. */
export const callSegmentsMax = 16384;
/** Segments evicted per transaction; at least two write batches so eviction keeps pace. */
export const evictionBatchSegmentsMax = 2 * writeBatchSegmentsMax;
/** Eviction tombstones kept (labels recently pushed out by capacity). */
export const tombstonesMax = 65536;
/** Change-log entries kept before the oldest are trimmed even if no peer acknowledged them. */
export const changeLogEntriesMaxDefault = 1 << 21;
/** Change-log entries removed per transaction by trimming. */
export const changeTrimBatchMax = 16384;
/** Labels waiting for an LRU touch; touches past this are dropped (recency is approximate). */
export const touchBufferMax = 16384;
/** Longest a pending LRU touch waits for a write transaction to carry it. */
export const touchFlushMs = 2000;
/** Longest meta key, and largest encoded meta value. */
export const metaKeyBytesMax = 200;
export const metaValueBytesMax = 1024 * 1024;
/** Window of the write-rate statistic. */
export const rateWindowS = 10;

export interface OpenStoreOptions {
  dir: string;
  capacityBytes?: number;
  policy?: "lru" | "fifo";
  model: string;
  softwareVersion: string;
  readOnly?: boolean;
  /** Wait for the OS to confirm the flush before resolving writes (default true). */
  durable?: boolean;
  changeLogEntriesMax?: number;
  events?: EventLog;
  /** Prepare large batches (hash check + LZ4) on a worker thread (default: when there are 2+ cores). */
  prepWorker?: boolean;
}

/** Counters persisted with every transaction (the "counters" state record). */
interface Counters {
  segments: number;
  rawBytes: number;
  storedBytes: number;
  changeCount: number;
  tombstoneCount: number;
  lastSeq: number;
  lastTick: number;
  lastTombstone: number;
  /** Change entries with seq <= this may be gone (trimmed); their segments stay. */
  trimmedThrough: number;
  evictions: number;
}

const zeroCounters: Counters = {
  segments: 0, rawBytes: 0, storedBytes: 0, changeCount: 0, tombstoneCount: 0,
  lastSeq: 0, lastTick: 0, lastTombstone: 0, trimmedThrough: 0, evictions: 0,
};

interface Prepared {
  label: Label;
  value: Uint8Array;   // header (seq patched at apply time) + payload
  rawBytes: number;
}

type Op =
  | { kind: "put"; items: Prepared[]; origin: Origin; meta?: Record<string, unknown>; done: Settle<ChangeEntry[]> }
  | { kind: "delete"; labels: Label[]; meta?: Record<string, unknown>; done: Settle<number> }
  | { kind: "meta"; key: string; value: unknown; done: Settle<void> }
  | { kind: "trim"; seq: number; done: Settle<void> }
  | { kind: "identity"; identity: StoreIdentity; done: Settle<void> }
  | { kind: "clear"; done: Settle<StoreIdentity> };

interface Settle<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
  result?: T;
  /** Set when the op has more work for a later transaction (trimming a long log). */
  unfinished?: boolean;
}

interface Batch {
  ops: Op[];
  entries: ChangeEntry[];
  counters?: Counters;
  identity?: StoreIdentity;
}

function settle<T>(): { done: Settle<T>; promise: Promise<T> } {
  let done!: Settle<T>;
  const promise = new Promise<T>((resolve, reject) => {
    done = { resolve, reject };
  });
  return { done, promise };
}

function opSegments(op: Op): number {
  if (op.kind === "put") return op.items.length;
  if (op.kind === "delete") return op.labels.length;
  return 1;
}

/** Whether a process with this pid is alive (a stale writer lock names a dead one). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const openWriters = new Set<string>();

export class LmdbSegmentStore implements SegmentStore {
  readonly path: string;
  private readonly root: RootDatabase;
  private readonly segments: Database<Uint8Array, Uint8Array>;
  private readonly changes: Database<Uint8Array, number>;
  private readonly order: Database<Uint8Array, number>;
  private readonly ticks: Database<number, Uint8Array>;
  private readonly evicted: Database<number, Uint8Array>;
  private readonly evictedOrder: Database<Uint8Array, number>;
  private readonly meta: Database<unknown, string>;
  private readonly state: Database<unknown, string>;
  private readonly readOnly: boolean;
  private readonly durable: boolean;
  private readonly changeLogEntriesMax: number;
  private readonly events?: EventLog;
  private readonly lockPath: string;

  /** The appliance that runs this store: its identity always names it. */
  private readonly ownerModel: string;
  private readonly ownerSoftwareVersion: string;
  private capacityBytes: number;
  private policy: "lru" | "fifo";
  /** Counters as of the last applied transaction callback (ahead of durable commit). */
  private applied: Counters;
  /** Counters as of the last durable commit (what stats() and lastSeq() report). */
  private committed: Counters;
  private identityValue: StoreIdentity;

  private readonly queue: Op[] = [];
  /** Call-order tickets: ops are queued in ticket order (see sequenced()). */
  private nextTicket = 0;
  private nextRelease = 0;
  private readonly held = new Map<number, Op | null>();
  private readonly prepWorker: boolean;
  private queuedSegments = 0;
  private readonly roomWaiters: (() => void)[] = [];
  private txnScheduled = false;
  private txnsInFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private needsEviction = false;
  private readonly touches = new Map<string, Label>();
  private touchTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly corruptPending = new Map<string, Label>();
  private readonly listeners = new Set<(entries: ChangeEntry[]) => void>();
  private readonly recent = new RecentValues();
  private closed = false;
  private closing: Promise<void> | null = null;

  private hits = 0;
  private misses = 0;
  private corruptFound = 0;
  private readonly rateBuckets = new Float64Array(rateWindowS);
  private readSlab = new Uint8Array(0);
  private readSlabAt = 0;
  private rateBucketS = 0;

  constructor(options: OpenStoreOptions) {
    if (!options.dir) throw new TandemError("badInput", "store needs a data directory");
    this.readOnly = options.readOnly ?? false;
    this.durable = options.durable ?? true;
    this.changeLogEntriesMax = options.changeLogEntriesMax ?? changeLogEntriesMaxDefault;
    if (!Number.isSafeInteger(this.changeLogEntriesMax) || this.changeLogEntriesMax < 1) {
      throw new TandemError("badInput", `changeLogEntriesMax must be a positive integer, got ${this.changeLogEntriesMax}`);
    }
    this.events = options.events;
    this.prepWorker = options.prepWorker ?? workersPayOff();
    this.ownerModel = options.model;
    this.ownerSoftwareVersion = options.softwareVersion;
    this.capacityBytes = options.capacityBytes ?? Number.MAX_SAFE_INTEGER;
    this.policy = options.policy ?? "lru";
    checkCapacity(this.capacityBytes, this.policy);
    this.path = resolve(options.dir, "store");
    this.lockPath = join(this.path, "writer.pid");

    if (this.readOnly) {
      if (!existsSync(join(this.path, "data.mdb"))) throw new TandemError("notFound", `no segment store at ${this.path}`);
    } else {
      mkdirSync(this.path, { recursive: true });
      this.takeWriterLock();
    }
    try {
      ({
        root: this.root, segments: this.segments, changes: this.changes, order: this.order, ticks: this.ticks,
        evicted: this.evicted, evictedOrder: this.evictedOrder, meta: this.meta, state: this.state,
      } = openStoreDbs(this.path, this.readOnly));

      const format = this.state.get("format") as { valueFormatVersion?: number } | undefined;
      if (format && format.valueFormatVersion !== valueFormatVersion) {
        throw new TandemError("refused", `store at ${this.path} has value format ${format.valueFormatVersion}, this agent reads ${valueFormatVersion}`);
      }
      this.applied = this.readCounters();
      this.committed = { ...this.applied };
      const stored = this.state.get("identity");
      if (stored !== undefined) {
        this.identityValue = validateIdentity(stored, "corrupt");
      } else if (this.readOnly) {
        throw new TandemError("corrupt", `store at ${this.path} has no identity record`);
      } else {
        this.identityValue = newIdentity(options.model, options.softwareVersion);
      }
      if (!this.readOnly) {
        // The store belongs to the appliance that runs it: an upgrade updates the version.
        this.identityValue = { ...this.identityValue, model: options.model, softwareVersion: options.softwareVersion };
        validateIdentity(this.identityValue);
        const identity = this.identityValue;
        this.root.transactionSync(() => {
          this.state.put("identity", identity);
          if (!format) this.state.put("format", { valueFormatVersion });
        });
      }
    } catch (err) {
      void (this as unknown as { root?: RootDatabase }).root?.close();
      this.releaseWriterLock();
      throw err;
    }
  }

  private takeWriterLock(): void {
    if (openWriters.has(this.path)) throw new TandemError("unavailable", `store ${this.path} is already open for writing in this process`);
    if (existsSync(this.lockPath)) {
      const pid = Number(readFileSync(this.lockPath, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new TandemError("unavailable", `store ${this.path} is open for writing by process ${pid}`);
      }
    }
    writeFileSync(this.lockPath, `${process.pid}\n`);
    openWriters.add(this.path);
  }

  private releaseWriterLock(): void {
    if (this.readOnly || !openWriters.has(this.path)) return;
    openWriters.delete(this.path);
    rmSync(this.lockPath, { force: true });
  }

  private readCounters(): Counters {
    const stored = this.state.get("counters") as Partial<Counters> | undefined;
    return { ...zeroCounters, ...(stored ?? {}) };
  }

  private assertWritable(): void {
    if (this.readOnly) throw new TandemError("forbidden", "store is open read-only");
    if (this.closed) throw new TandemError("unavailable", "store is closed");
  }

  // ---- reads -------------------------------------------------------------------

  identity(): StoreIdentity {
    if (this.readOnly) {
      const stored = this.state.get("identity");
      if (stored !== undefined) this.identityValue = validateIdentity(stored, "corrupt");
    }
    return structuredClone(this.identityValue);
  }

  has(label: Label): boolean {
    assertLabel(label);
    const present = this.present(label);
    if (present) this.touch(label);
    return present;
  }

  get(label: Label, options?: { verify?: boolean; touch?: boolean }): Uint8Array | undefined {
    assertLabel(label);
    const fast = this.segments.getBinaryFast(label);
    if (fast === undefined) {
      this.misses++;
      return undefined;
    }
    // The fast buffer is reused and its `length` is patched to this value's size:
    // take an exact view before slicing (valid until the next read).
    const value = new Uint8Array(fast.buffer, fast.byteOffset, fast.length);
    let raw: Uint8Array;
    try {
      const header = decodeHeader(value);
      const payload = value.subarray(valueHeaderBytes);
      raw = header.encoding === "lz4" ? decompressSegment(payload, header.rawBytes) : new Uint8Array(payload);
      if (options?.verify && !labelsEqual(hashOne(raw), label)) {
        throw new TandemError("corrupt", "value does not hash to its label");
      }
    } catch (err) {
      if (!(err instanceof TandemError) || err.code !== "corrupt") throw err;
      this.reportCorrupt(label, err.message);
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (options?.touch !== false) this.touch(label);
    return raw;
  }

  getStored(label: Label): StoredSegment | undefined {
    assertLabel(label);
    const recent = this.recent.getStored(label);
    if (recent) return recent;
    // lmdb-js's reused read buffer, valid until the next read (its `length` is set to the
    // value's; subarray needs it explicitly): copied out below, into a slab, before
    // anything else reads.
    const fast = this.segments.getBinaryFast(label);
    if (fast === undefined) return undefined;
    const value = fast.subarray(0, fast.length);
    try {
      const header = decodeHeader(value);
      return { label: this.copyOut(label), encoding: header.encoding, rawBytes: header.rawBytes, payload: this.copyOut(value.subarray(valueHeaderBytes)) };
    } catch (err) {
      if (!(err instanceof TandemError) || err.code !== "corrupt") throw err;
      this.reportCorrupt(label, err.message);
      return undefined;
    }
  }

  /**
   * A copy of `bytes` the caller owns. Small ones share slabs: sync reads every value it
   * sends (megabytes a second), and a buffer allocated per value cost it more than the
   * copy itself. A slab lives while any copy in it does; sync's are gone once sent.
   */
  private copyOut(bytes: Uint8Array): Uint8Array {
    if (bytes.length > readSlabBytes / 4) return bytes.slice();
    if (this.readSlabAt + bytes.length > this.readSlab.length) {
      this.readSlab = new Uint8Array(readSlabBytes);
      this.readSlabAt = 0;
    }
    const out = this.readSlab.subarray(this.readSlabAt, this.readSlabAt += bytes.length);
    out.set(bytes);
    return out;
  }

  changesSince(afterSeq: number, limit: number): ChangeEntry[] {
    checkCount(limit, "limit");
    const out: ChangeEntry[] = [];
    if (limit === 0) return out;
    for (const { key, value } of this.changes.getRange({ start: Math.max(0, Math.floor(afterSeq)) + 1, limit })) {
      const change = decodeChange(value);
      out.push({ seq: key as number, label: change.label, origin: change.origin });
    }
    return out;
  }

  lastSeq(): number {
    return this.countersNow().lastSeq;
  }

  labelsInRange(start: Label | null, end: Label | null, limit: number): Label[] {
    if (start !== null) assertLabel(start, "range start");
    if (end !== null) assertLabel(end, "range end");
    checkCount(limit, "limit");
    const out: Label[] = [];
    if (limit === 0) return out;
    const range = { start: start ?? undefined, end: end ?? undefined, limit } as { start?: Uint8Array; end?: Uint8Array; limit: number };
    for (const key of this.segments.getKeys(range)) out.push(new Uint8Array(key as Uint8Array));
    return out;
  }

  count(): number {
    return this.countersNow().segments;
  }

  recentlyEvicted(label: Label): boolean {
    assertLabel(label);
    return this.evicted.doesExist(label);
  }

  getMeta<T = unknown>(key: string): T | undefined {
    checkMetaKey(key);
    return this.meta.get(key) as T | undefined;
  }

  stats(): StoreStats {
    const c = this.countersNow();
    let oldestSeq = 0;
    for (const key of this.changes.getKeys({ limit: 1 })) oldestSeq = key as number;
    return {
      segments: c.segments,
      rawBytes: c.rawBytes,
      storedBytes: c.storedBytes,
      capacityBytes: this.capacityBytes,
      hits: this.hits,
      misses: this.misses,
      evictions: c.evictions,
      corruptFound: this.corruptFound,
      writesPerS: this.writeRate(),
      lastSeq: c.lastSeq,
      oldestSeq,
    };
  }

  /** Replacement policy in force. */
  replacementPolicy(): "lru" | "fifo" {
    return this.policy;
  }

  private countersNow(): Counters {
    // A reader sees the writer's progress through the persisted record, read in a fresh
    // snapshot: lmdb-js keeps a read transaction until a timer renews it, which may
    // predate the writer's latest commit.
    if (!this.readOnly) return this.committed;
    this.root.resetReadTxn();
    return this.readCounters();
  }

  // ---- writes ------------------------------------------------------------------

  /** Committed and not awaiting removal as corrupt (a repair must not be skipped as a duplicate). */
  private present(label: Label): boolean {
    return this.segments.doesExist(label) && (this.corruptPending.size === 0 || !this.corruptPending.has(labelHex(label)));
  }

  async putSegments(segments: SegmentInput[], origin: Origin, meta?: Record<string, unknown>): Promise<ChangeEntry[]> {
    this.assertWritable();
    checkOrigin(origin);
    checkBatch(segments, "segments");
    const fresh: SegmentInput[] = [];
    for (const segment of segments) {
      assertLabel(segment?.label);
      const data = segment.data;
      if (!(data instanceof Uint8Array) || data.length === 0 || data.length > segmentBytesMax) {
        throw new TandemError("badInput", `segment ${labelHex(segment.label)} must be 1 to ${segmentBytesMax} bytes`);
      }
      if (this.present(segment.label)) this.touch(segment.label);
      else fresh.push(segment);
    }
    checkMetaRecords(meta);
    if (fresh.length === 0 && !meta) return [];
    const createdS = Math.floor(Date.now() / 1000);
    const toItems = (output: PrepOutput): Prepared[] => {
      if ("badLabel" in output) throw new TandemError("corrupt", `segment data does not hash to its label ${output.badLabel}`);
      // Labels as views of one buffer (lmdb-js resolves one address per ArrayBuffer).
      const labels = new Uint8Array(fresh.length * labelBytes);
      return output.values.map((value, i) => {
        labels.set(fresh[i]!.label, i * labelBytes);
        return { label: labels.subarray(i * labelBytes, (i + 1) * labelBytes), value, rawBytes: fresh[i]!.data.length };
      });
    };
    const queued = (items: Prepared[]) => {
      const { done, promise } = settle<ChangeEntry[]>();
      return { op: { kind: "put", items, origin, meta, done } as Op, promise };
    };
    if (!worthWorker(fresh.length, this.prepWorker)) {
      // Inline: prepared now, on the caller's turn, straight from its buffers.
      const items = toItems(prepareSegments(fresh, origin, createdS));
      return this.sequenced(async () => queued(items));
    }
    // The worker gets a packed copy, taken now: the caller may reuse its buffers. When the
    // worker has a backlog, a share of the tail is prepared here, now, on the caller's turn.
    const split = fresh.length - inlineShare(fresh.length);
    const packed = packSegments(split === fresh.length ? fresh : fresh.slice(0, split));
    const here = split === fresh.length ? null : prepareSegments(fresh.slice(split), origin, createdS);
    return this.sequenced(async () => queued(toItems(joinOutputs(await prepareOnWorker({ ...packed, origin, createdS }), here))));
  }

  async putStored(segments: StoredSegment[], origin: Origin, meta?: Record<string, unknown>): Promise<ChangeEntry[]> {
    this.assertWritable();
    checkOrigin(origin);
    checkBatch(segments, "segments");
    checkMetaRecords(meta);
    for (const segment of segments) {
      assertLabel(segment?.label);
      const { encoding, rawBytes, payload } = segment;
      if (encoding !== "lz4" && encoding !== "raw") throw new TandemError("badInput", `segment ${labelHex(segment.label)} has unknown encoding`);
      if (!Number.isInteger(rawBytes) || rawBytes < 1 || rawBytes > segmentBytesMax) {
        throw new TandemError("badInput", `segment ${labelHex(segment.label)} claims ${rawBytes} raw bytes (1 to ${segmentBytesMax})`);
      }
      if (!(payload instanceof Uint8Array) || payload.length > storedPayloadBytesMax) {
        throw new TandemError("badInput", `segment ${labelHex(segment.label)} payload must be a Uint8Array of at most ${storedPayloadBytesMax} bytes`);
      }
      if (encoding === "raw" && payload.length !== rawBytes) {
        throw new TandemError("corrupt", `raw segment ${labelHex(segment.label)} holds ${payload.length} bytes, claims ${rawBytes}`);
      }
    }
    // No lookup first (a B-tree search per segment, on pages the last commits moved):
    // what sync sends is new here, and a segment already present is verified on the
    // worker, then left as it is and touched by the put's own noOverwrite descent.
    const kept = segments;
    if (kept.length === 0 && !meta) return [];
    const createdS = Math.floor(Date.now() / 1000);
    return this.sequenced(async () => {
      // Laid out as values and verified (bulk.ts), on a worker for large batches, in call order.
      const verified = kept.length === 0 ? null : await verifyStored(kept, origin, createdS, this.prepWorker);
      if (verified?.failure) throw new TandemError("corrupt", `stored segment ${verified.failure.badLabel}: ${verified.failure.reason}`);
      const values = verified ? splitValues(verified.input) : [];
      // Labels as views of the batch's one label buffer (lmdb-js resolves one address per ArrayBuffer).
      const labels = verified?.input.labels;
      const items: Prepared[] = kept.map((segment, i) => ({ label: labels!.subarray(i * labelBytes, (i + 1) * labelBytes), value: values[i]!, rawBytes: segment.rawBytes }));
      const { done, promise } = settle<ChangeEntry[]>();
      // Settled means its transaction ended: LMDB holds its own copies of the values.
      if (verified) void promise.then(() => releaseValues(verified.input), () => releaseValues(verified.input));
      return { op: { kind: "put", items, origin, meta, done }, promise };
    });
  }

  async deleteSegments(labels: Label[], meta?: Record<string, unknown>): Promise<number> {
    this.assertWritable();
    checkBatch(labels, "labels");
    for (const label of labels) assertLabel(label);
    checkMetaRecords(meta);
    const { done, promise } = settle<number>();
    return this.sequenced(async () => ({ op: { kind: "delete", labels: labels.map((l) => new Uint8Array(l)), meta, done }, promise }));
  }

  async trimChangesThrough(seq: number): Promise<void> {
    this.assertWritable();
    if (!Number.isInteger(seq) || seq < 0) throw new TandemError("badInput", `trim seq must be a non-negative integer, got ${seq}`);
    const { done, promise } = settle<void>();
    return this.sequenced(async () => ({ op: { kind: "trim", seq, done }, promise }));
  }

  async putMeta(key: string, value: unknown): Promise<void> {
    this.assertWritable();
    checkMetaRecords({ [key]: value });
    const { done, promise } = settle<void>();
    return this.sequenced(async () => ({ op: { kind: "meta", key, value, done }, promise }));
  }

  async setIdentity(identity: StoreIdentity): Promise<void> {
    this.assertWritable();
    // Ids and history are adopted; model and version stay those of this appliance.
    const valid = validateIdentity({ ...identity, model: this.ownerModel, softwareVersion: this.ownerSoftwareVersion });
    const { done, promise } = settle<void>();
    return this.sequenced(async () => ({ op: { kind: "identity", identity: valid, done }, promise }));
  }

  async clear(): Promise<StoreIdentity> {
    this.assertWritable();
    const { done, promise } = settle<StoreIdentity>();
    return this.sequenced(async () => ({ op: { kind: "clear", done }, promise }));
  }

  onCommit(listener: (entries: ChangeEntry[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setCapacity(capacityBytes: number, policy: "lru" | "fifo"): void {
    checkCapacity(capacityBytes, policy);
    this.capacityBytes = capacityBytes;
    this.policy = policy;
    if (policy === "fifo") this.touches.clear();
    if (!this.readOnly && !this.closed && this.applied.storedBytes > capacityBytes) {
      this.needsEviction = true;
      this.schedule();
    }
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (!this.readOnly) {
      if (this.touchTimer) clearTimeout(this.touchTimer);
      this.touchTimer = null;
      // Carry pending touches and corrupt removals into a last transaction.
      if (this.touches.size > 0 || this.corruptPending.size > 0) this.schedule();
      await this.idle();
    }
    this.closed = true;
    await this.root.close();
    this.releaseWriterLock();
  }

  /** Resolves once every queued operation is durable. */
  async idle(): Promise<void> {
    while (this.queue.length > 0 || this.txnsInFlight > 0 || this.txnScheduled || this.nextRelease < this.nextTicket) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  // ---- the write queue -----------------------------------------------------------

  /**
   * Runs `build` (which may wait for room and prepare on the worker) and queues the
   * op it returns in call order: an op waits for every op of an earlier call, so
   * concurrent calls commit in the order they were made and a later cursor in meta
   * never lands before an earlier one. A failed call releases its turn.
   */
  private async sequenced<T>(build: () => Promise<{ op: Op; promise: Promise<T> }>): Promise<T> {
    const ticket = this.nextTicket++;
    let built: { op: Op; promise: Promise<T> } | null = null;
    try {
      // No await when there is room: inline preparation then runs on the caller's turn.
      if (this.queuedSegments >= writeQueueSegmentsMax) await this.waitForRoom();
      built = await build();
    } finally {
      this.release(ticket, built?.op ?? null);
    }
    return built.promise;
  }

  private release(ticket: number, op: Op | null): void {
    this.held.set(ticket, op);
    while (this.held.has(this.nextRelease)) {
      const next = this.held.get(this.nextRelease)!;
      this.held.delete(this.nextRelease);
      this.nextRelease++;
      if (next && !this.closed) this.enqueue(next);
      else if (next) next.done.reject(new TandemError("unavailable", "store is closed"));
    }
    this.wakeIdle();
  }

  private async waitForRoom(): Promise<void> {
    while (this.queuedSegments >= writeQueueSegmentsMax) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      if (this.closed) throw new TandemError("unavailable", "store is closed");
    }
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    this.queuedSegments += opSegments(op);
    this.schedule();
  }

  private schedule(): void {
    if (this.txnScheduled || this.closed) return;
    this.txnScheduled = true;
    this.txnsInFlight++;
    const batch: Batch = { ops: [], entries: [] };
    this.root.childTransaction(() => this.applyBatch(batch)).then(
      () => this.afterCommit(batch),
      (err) => this.afterFailure(batch, err),
    );
  }

  /** Runs inside the LMDB write transaction: applies queued ops, touches and eviction. */
  private applyBatch(batch: Batch): void {
    this.txnScheduled = false;
    let taken = 0;
    while (this.queue.length > 0 && (taken === 0 || taken + opSegments(this.queue[0]!) <= writeBatchSegmentsMax)) {
      const op = this.queue.shift()!;
      taken += opSegments(op);
      batch.ops.push(op);
    }
    this.queuedSegments -= taken;
    for (const wake of this.roomWaiters.splice(0)) wake();

    const c: Counters = { ...this.applied };
    let identity = this.identityValue;
    const nowS = Math.floor(Date.now() / 1000);
    // Corrupt values go first, so that a good copy queued to repair one lands after.
    for (const label of this.corruptPending.values()) this.removeSegment(label, c);
    this.corruptPending.clear();
    for (const op of batch.ops) {
      switch (op.kind) {
        case "put": {
          const entries: ChangeEntry[] = [];
          // Change values in one buffer: lmdb-js resolves a value's address once per
          // ArrayBuffer, and a small typed array of its own costs one each.
          const changeValues = new Uint8Array(op.items.length * changeValueBytes);
          let changeAt = 0;
          for (const item of op.items) {
            const seq = c.lastSeq + 1;
            const view = new DataView(item.value.buffer, item.value.byteOffset, valueHeaderBytes);
            view.setUint32(10, seq % 2 ** 32, true);
            view.setUint16(14, Math.floor(seq / 2 ** 32), true);
            view.setUint32(6, nowS, true);
            // One B-tree descent: a segment already present (an earlier op of this
            // batch, or a concurrent call) is left as it is.
            if (!putIfAbsent(this.segments, item.label, item.value)) {
              // Present already: a use, as a lookup that found it would have been.
              this.touch(item.label);
              continue;
            }
            c.lastSeq = seq;
            putLast(this.changes, seq, encodeChange(item.label, op.origin, changeValues.subarray(changeAt, changeAt += changeValueBytes)));
            const tick = ++c.lastTick;
            putLast(this.order, tick, item.label);
            this.ticks.put(item.label, tick);
            c.segments++;
            c.rawBytes += item.rawBytes;
            c.storedBytes += item.value.length;
            c.changeCount++;
            entries.push({ seq, label: item.label, origin: op.origin });
            if (op.origin === "local") this.recent.stage(batch, item.label, item.value);
          }
          this.writeMeta(op.meta);
          op.done.result = entries;
          batch.entries.push(...entries);
          break;
        }
        case "delete": {
          let removed = 0;
          for (const label of op.labels) if (this.removeSegment(label, c)) removed++;
          this.writeMeta(op.meta);
          op.done.result = removed;
          break;
        }
        case "meta":
          this.writeMeta({ [op.key]: op.value });
          break;
        case "trim":
          if (!this.trimChanges(c, op.seq, Number.MAX_SAFE_INTEGER)) op.done.unfinished = true;
          break;
        case "identity":
          identity = op.identity;
          this.state.put("identity", identity);
          this.recent.clear();
          break;
        case "clear": {
          for (const db of [this.segments, this.changes, this.order, this.ticks, this.evicted, this.evictedOrder]) db.clearSync();
          Object.assign(c, {
            ...zeroCounters,
            lastSeq: c.lastSeq, lastTick: c.lastTick, lastTombstone: c.lastTombstone, trimmedThrough: c.lastSeq, evictions: c.evictions,
          });
          identity = newIdentity(this.ownerModel, this.ownerSoftwareVersion);
          this.state.put("identity", identity);
          this.recent.clear();
          this.touches.clear();
          this.corruptPending.clear();
          op.done.result = identity;
          break;
        }
      }
    }
    this.applyTouches(c);
    this.evict(c);
    this.boundTombstones(c);
    this.boundChangeLog(c);
    this.state.put("counters", c);
    // Only a callback that ran to the end moves the in-memory state forward.
    this.applied = c;
    this.identityValue = identity;
    batch.counters = { ...c };
    batch.identity = identity;
  }

  private writeMeta(meta: Record<string, unknown> | undefined): void {
    if (!meta) return;
    for (const [key, value] of Object.entries(meta)) {
      if (value === undefined) this.meta.remove(key);
      else this.meta.put(key, value);
    }
  }

  /** Removes a segment, its order entries and its change entry; false if absent. */
  private removeSegment(label: Label, c: Counters): boolean {
    this.recent.drop(label);
    const value = this.segments.getBinary(label);
    if (value === undefined) return false;
    let rawBytes = 0;
    let seq = -1;
    if (value.length >= valueHeaderBytes) {
      const view = new DataView(value.buffer, value.byteOffset, value.length);
      rawBytes = view.getUint32(2, true);
      seq = view.getUint32(10, true) + view.getUint16(14, true) * 2 ** 32;
    }
    this.removeChangeOf(label, seq, c);
    const tick = this.ticks.get(label);
    if (tick !== undefined) this.order.remove(tick);
    this.ticks.remove(label);
    this.segments.remove(label);
    c.segments--;
    c.rawBytes = Math.max(0, c.rawBytes - rawBytes);
    c.storedBytes -= value.length;
    return true;
  }

  private removeChangeOf(label: Label, seq: number, c: Counters): void {
    if (seq > c.trimmedThrough) {
      const change = this.changes.getBinary(seq);
      if (change !== undefined && labelsEqual(change.subarray(0, labelBytes), label)) {
        this.changes.remove(seq);
        c.changeCount--;
        return;
      }
    }
    if (seq >= 0 && seq <= c.trimmedThrough) return;
    // The header's seq is damaged: find the entry by label (rare; only for corrupt values).
    for (const { key, value } of this.changes.getRange({ start: c.trimmedThrough + 1 })) {
      if (labelsEqual(value.subarray(0, labelBytes), label)) {
        this.changes.remove(key as number);
        c.changeCount--;
        return;
      }
    }
  }

  private applyTouches(c: Counters): void {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = null;
    if (this.policy !== "lru") {
      this.touches.clear();
      return;
    }
    // Segments among the newest quarter are recent enough: skipping them keeps hot
    // reads from rewriting the order index over and over.
    const recentTicks = Math.max(1, Math.floor(c.segments / 4));
    for (const label of this.touches.values()) {
      const tick = this.ticks.get(label);
      if (tick === undefined || tick > c.lastTick - recentTicks) continue;
      this.order.remove(tick);
      const next = ++c.lastTick;
      putLast(this.order, next, label);
      this.ticks.put(label, next);
    }
    this.touches.clear();
  }

  private evict(c: Counters): void {
    this.needsEviction = false;
    let evicted = 0;
    while (c.storedBytes > this.capacityBytes && evicted < evictionBatchSegmentsMax) {
      const victims: { tick: number; label: Label }[] = [];
      for (const { key, value } of this.order.getRange({ limit: Math.min(256, evictionBatchSegmentsMax - evicted) })) {
        victims.push({ tick: key as number, label: new Uint8Array(value) });
      }
      if (victims.length === 0) break;
      for (const victim of victims) {
        if (c.storedBytes <= this.capacityBytes) break;
        if (!this.removeSegment(victim.label, c)) {
          this.order.remove(victim.tick);
          continue;
        }
        const previous = this.evicted.get(victim.label);
        if (previous !== undefined) this.evictedOrder.remove(previous);
        else c.tombstoneCount++;
        const stone = ++c.lastTombstone;
        this.evicted.put(victim.label, stone);
        this.evictedOrder.put(stone, victim.label);
        c.evictions++;
        evicted++;
      }
    }
    if (c.storedBytes > this.capacityBytes && c.segments > 0) this.needsEviction = true;
  }

  private boundTombstones(c: Counters): void {
    const excess = c.tombstoneCount - tombstonesMax;
    if (excess <= 0) return;
    const oldest: { stone: number; label: Uint8Array }[] = [];
    for (const { key, value } of this.evictedOrder.getRange({ limit: excess })) oldest.push({ stone: key as number, label: new Uint8Array(value) });
    for (const { stone, label } of oldest) {
      this.evictedOrder.remove(stone);
      this.evicted.remove(label);
      c.tombstoneCount--;
    }
  }

  private boundChangeLog(c: Counters): void {
    const excess = c.changeCount - this.changeLogEntriesMax;
    if (excess > 0) this.trimChanges(c, c.lastSeq, excess);
  }

  /**
   * Removes the oldest change entries, through seq `through` or `entriesMax` of them,
   * whichever comes first, walking at most changeTrimBatchMax seqs; whether it got
   * through. No entry lies at or below trimmedThrough, so the walk starts right above
   * it and removes by seq: one removal per seq (a seq whose entry went with its evicted
   * segment finds nothing), without listing the keys first, which cost as much again.
   */
  private trimChanges(c: Counters, through: number, entriesMax: number): boolean {
    const last = Math.min(through, c.lastSeq);
    const end = Math.min(last, c.trimmedThrough + changeTrimBatchMax);
    let seq = c.trimmedThrough;
    let removed = 0;
    while (seq < end && removed < entriesMax) {
      seq++;
      if (removeIfPresent(this.changes, seq)) removed++;
    }
    c.changeCount -= removed;
    c.trimmedThrough = seq;
    return seq >= last;
  }

  private async afterCommit(batch: Batch): Promise<void> {
    try {
      if (this.durable) await this.root.flushed;
    } catch (err) {
      return this.afterFailure(batch, err);
    }
    this.committed = batch.counters ?? this.committed;
    this.recent.commit(batch);
    this.countWrites(batch.entries.length);
    const requeue: Op[] = [];
    for (const op of batch.ops) {
      if (op.done.unfinished) {
        op.done.unfinished = false;
        requeue.push(op);
      } else {
        (op.done as Settle<unknown>).resolve(op.done.result);
      }
    }
    if (requeue.length > 0) {
      this.queue.unshift(...requeue);
      this.queuedSegments += requeue.length;
    }
    if (batch.entries.length > 0) {
      for (const listener of this.listeners) {
        try {
          listener(batch.entries);
        } catch (err) {
          this.events?.emit("error", "store", `commit listener failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    this.txnsInFlight--;
    if (this.queue.length > 0 || this.needsEviction) this.schedule();
    else if (this.touches.size > 0) this.armTouchTimer();
    this.wakeIdle();
  }

  private afterFailure(batch: Batch, err: unknown): void {
    const error = err instanceof TandemError ? err
      : new TandemError(/MDB_MAP_FULL|ENOSPC/.test(String(err)) ? "storeFull" : "internal", `store write failed: ${err instanceof Error ? err.message : String(err)}`);
    this.events?.emit("error", "store", error.message, "store_write_failed");
    this.recent.abort(batch);
    // The callback may have moved the in-memory state past what reached the disk.
    this.applied = this.readCounters();
    this.committed = { ...this.applied };
    const stored = this.state.get("identity");
    if (stored !== undefined) this.identityValue = validateIdentity(stored, "corrupt");
    for (const op of batch.ops) op.done.reject(error);
    this.txnsInFlight--;
    if (this.queue.length > 0) this.schedule();
    this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.queue.length === 0 && this.txnsInFlight === 0 && !this.txnScheduled && this.nextRelease === this.nextTicket) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private touch(label: Label): void {
    if (this.policy !== "lru" || this.readOnly || this.touches.size >= touchBufferMax) return;
    const key = labelHex(label);
    if (!this.touches.has(key)) this.touches.set(key, new Uint8Array(label));
    if (!this.txnScheduled && this.txnsInFlight === 0) this.armTouchTimer();
  }

  private armTouchTimer(): void {
    if (this.touchTimer || this.closed) return;
    this.touchTimer = setTimeout(() => {
      this.touchTimer = null;
      if (this.touches.size > 0) this.schedule();
    }, touchFlushMs);
    this.touchTimer.unref?.();
  }

  private reportCorrupt(label: Label, reason: string): void {
    this.corruptFound++;
    const hex = labelHex(label);
    this.events?.emit("warning", "store", `segment ${hex} is corrupt (${reason}); removed, not served`, "store_corrupt");
    if (this.readOnly || this.closed) return;
    this.corruptPending.set(hex, new Uint8Array(label));
    this.schedule();
  }

  private countWrites(n: number): void {
    const nowS = Math.floor(Date.now() / 1000);
    this.advanceRate(nowS);
    this.rateBuckets[nowS % rateWindowS]! += n;
  }

  private advanceRate(nowS: number): void {
    if (nowS - this.rateBucketS >= rateWindowS) this.rateBuckets.fill(0);
    else for (let s = this.rateBucketS + 1; s <= nowS; s++) this.rateBuckets[s % rateWindowS] = 0;
    this.rateBucketS = Math.max(this.rateBucketS, nowS);
  }

  private writeRate(): number {
    this.advanceRate(Math.floor(Date.now() / 1000));
    let sum = 0;
    for (const n of this.rateBuckets) sum += n;
    return sum / rateWindowS;
  }
}

/** Puts unless the key exists; whether it wrote. lmdb-js's putSync returns that
 *  boolean inside a write transaction, though its typings say void: anything else
 *  would mean a changed lmdb-js, and a store that silently writes nothing. */
function putIfAbsent(db: Database<Uint8Array, Uint8Array>, key: Uint8Array, value: Uint8Array): boolean {
  const written = db.putSync(key, value, { noOverwrite: true }) as unknown;
  if (typeof written !== "boolean") throw new Error(`lmdb putSync returned ${typeof written}, not whether it wrote`);
  return written;
}

/** Removes a key; whether it was there (lmdb-js's removeSync reports it inside a write
 *  transaction; anything but a boolean would mean a changed lmdb-js and a wrong count). */
function removeIfPresent(db: Database<Uint8Array, number>, key: number): boolean {
  const removed = db.removeSync(key) as unknown;
  if (typeof removed !== "boolean") throw new Error(`lmdb removeSync returned ${typeof removed}, not whether it removed`);
  return removed;
}

/** Puts a key that sorts after every key of `db` (a new seq or tick) with LMDB's append
 *  mode, which skips the search; a key that does not (never expected) is put normally. */
function putLast(db: Database<Uint8Array, number>, key: number, value: Uint8Array): void {
  if (db.putSync(key, value, { append: true }) as unknown === true) return;
  db.putSync(key, value);
}

function checkCapacity(capacityBytes: number, policy: string): void {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
    throw new TandemError("badInput", `capacity must be a non-negative integer of bytes, got ${capacityBytes}`);
  }
  if (policy !== "lru" && policy !== "fifo") throw new TandemError("badInput", `replacement policy must be lru or fifo, got '${policy}'`);
}

function checkOrigin(origin: unknown): void {
  if (origin !== "local" && origin !== "peer") throw new TandemError("badInput", `origin must be local or peer, got '${String(origin)}'`);
}

function checkBatch(items: unknown, what: string): void {
  if (!Array.isArray(items)) throw new TandemError("badInput", `${what} must be an array`);
  if (items.length > callSegmentsMax) {
    throw new TandemError("limitExceeded", `${items.length} ${what} in one call exceed callSegmentsMax (${callSegmentsMax})`);
  }
}

function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0) throw new TandemError("badInput", `${what} must be a non-negative integer, got ${n}`);
}

function checkMetaKey(key: unknown): void {
  if (typeof key !== "string" || key.length === 0 || key.length > metaKeyBytesMax || key.includes("\0")) {
    throw new TandemError("badInput", `meta key must be a string of 1 to ${metaKeyBytesMax} characters without NUL`);
  }
}

function checkMetaRecords(meta: Record<string, unknown> | undefined): void {
  if (meta === undefined) return;
  if (meta === null || typeof meta !== "object") throw new TandemError("badInput", "meta must be an object of records");
  for (const [key, value] of Object.entries(meta)) {
    checkMetaKey(key);
    if (value === undefined) continue;
    let bytes: number;
    try {
      bytes = Buffer.byteLength(JSON.stringify(value) ?? "");
    } catch {
      throw new TandemError("badInput", `meta record '${key}' is not serializable`);
    }
    if (bytes > metaValueBytesMax) throw new TandemError("limitExceeded", `meta record '${key}' exceeds metaValueBytesMax (${metaValueBytesMax})`);
  }
}

export { identityHistoryMax };
