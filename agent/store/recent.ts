// The values this process committed last, kept in memory exactly as at rest (header
// with its seq + payload). Live replication reads every new segment right after its
// commit; served from here it costs neither an LMDB read (B-tree descent, overflow
// pages mapped in) nor a copy out of lmdb-js's reused read buffer. Only segments learned
// here (origin local) are kept: those are what replication sends; what the peer sent
// us is never sent back.
//
// Bounded by bytes and age, oldest out first. A value becomes visible only once the
// transaction that wrote it is committed (stage in the transaction callback, commit or
// abort after it), and it is gone for good as soon as the store removes the segment
// (delete, eviction, corrupt removal: drop) or is cleared or re-identified (clear), so
// nothing is ever served from here that LMDB would not serve.
//
// Values are kept by reference, not copied: the store lays out each put's values in
// buffers of their own (prepare.ts, on the caller's thread or the prep worker) and never
// writes them again once the transaction has put them. A copy would cost about what the
// read it saves costs on this kind of machine (first touches of fresh memory are
// expensive). Should put values ever come from reused buffers, stage() must copy them;
// tests/store/recent.test.ts compares what this serves with what LMDB holds.
import { decodeHeader, labelsEqual, valueHeaderBytes } from "./format.ts";
import type { Label, StoredSegment } from "./types.ts";

/** Bytes of values kept (headers included): ~0.6 s of new segments at 100 MB/s. Kept
 *  modest: memory held here is memory the allocator cannot hand out again. */
export const recentBytesMax = 64 * 1024 * 1024;
/** A value older than this is not served from here (replication is that far behind anyway). */
export const recentAgeMsMax = 10_000;

const pending = 0;
const live = 1;
const gone = 2;

interface Entry {
  key: number;
  label: Label;
  value: Uint8Array;
  atMs: number;
  state: typeof pending | typeof live | typeof gone;
}

/** The first 48 bits of a label: labels are BLAKE3 hashes, so this spreads evenly; a
 *  collision only costs a miss, as every lookup compares the whole label. */
function keyOf(label: Label): number {
  return (label[0]! * 65536 + label[1]! * 256 + label[2]!) * 16777216 + label[3]! * 65536 + label[4]! * 256 + label[5]!;
}

export class RecentValues {
  private readonly byKey = new Map<number, Entry>();
  /** Entries in the order they were staged; `head` is the oldest still counted in `bytes`. */
  private fifo: Entry[] = [];
  private head = 0;
  private bytes = 0;
  /** Entries staged by each transaction not yet committed or aborted. */
  private readonly staged = new Map<object, Entry[]>();

  constructor(
    private readonly bytesMax = recentBytesMax,
    private readonly ageMsMax = recentAgeMsMax,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes held (for tests and status). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Inside transaction `txn`: `value` (exactly as put; never written again) was written
   *  under `label` (neither is copied). */
  stage(txn: object, label: Label, value: Uint8Array): void {
    const bytes = label.length + value.length;
    // Shared buffers are the pooled ones of bulk.ts, reused once written: never kept.
    if (bytes > this.bytesMax || value.buffer instanceof SharedArrayBuffer) return;
    const entry: Entry = { key: keyOf(label), label, value, atMs: this.now(), state: pending };
    const previous = this.byKey.get(entry.key);
    if (previous) previous.state = gone;
    this.byKey.set(entry.key, entry);
    this.fifo.push(entry);
    this.bytes += bytes;
    let list = this.staged.get(txn);
    if (!list) this.staged.set(txn, (list = []));
    list.push(entry);
    this.trim();
  }

  /** `txn` is durable: what it staged (and did not remove since) may be served. */
  commit(txn: object): void {
    const list = this.staged.get(txn);
    if (!list) return;
    this.staged.delete(txn);
    for (const e of list) if (e.state === pending) e.state = live;
  }

  /** `txn` failed: nothing it staged was written. */
  abort(txn: object): void {
    const list = this.staged.get(txn);
    if (!list) return;
    this.staged.delete(txn);
    for (const e of list) this.forget(e);
  }

  /** The segment is being removed from the store: never serve it from here again. */
  drop(label: Label): void {
    const e = this.byKey.get(keyOf(label));
    if (e && labelsEqual(e.label, label)) this.forget(e);
  }

  /** The store is cleared or takes another identity: forget everything. */
  clear(): void {
    for (const e of this.byKey.values()) e.state = gone;
    this.byKey.clear();
    this.fifo = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** The at-rest form of a committed value, as views of memory nobody writes again
   *  (callers must not write into it either). */
  getStored(label: Label): StoredSegment | undefined {
    const e = this.byKey.get(keyOf(label));
    if (!e || e.state !== live || !labelsEqual(e.label, label)) return undefined;
    if (this.now() - e.atMs > this.ageMsMax) {
      this.trim();
      return undefined;
    }
    const header = decodeHeader(e.value);
    return { label: e.label, encoding: header.encoding, rawBytes: header.rawBytes, payload: e.value.subarray(valueHeaderBytes) };
  }

  private forget(e: Entry): void {
    e.state = gone;
    if (this.byKey.get(e.key) === e) this.byKey.delete(e.key);
  }

  /** Oldest out while over the byte bound, too old, or already gone. */
  private trim(): void {
    const oldest = this.now() - this.ageMsMax;
    while (this.head < this.fifo.length) {
      const e = this.fifo[this.head]!;
      if (e.state !== gone && this.bytes <= this.bytesMax && e.atMs >= oldest) break;
      this.forget(e);
      this.bytes -= e.label.length + e.value.length;
      this.fifo[this.head++] = undefined as unknown as Entry;
    }
    if (this.head > 4096 && this.head * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
  }
}
