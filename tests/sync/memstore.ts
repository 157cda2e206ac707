// The simulator's world: an in-memory store implementing the part of the segment store
// the sync core uses (SyncStore), with simulated durable-write latency driven by the
// simulator's clock, crashes that lose writes not yet durable, bit flips, and a small
// capacity with eviction tombstones. Labels are SHA-256 of the data here (the real store
// uses BLAKE3; the core never hashes). Values are kept "raw" at rest.
import type { SyncClock, SyncStore } from "../../agent/sync/core.ts";
import { TandemError } from "../../agent/errors.ts";
import type { ChangeEntry, Label, Origin, StoredSegment, StoreIdentity, StoreStats } from "../../agent/store/types.ts";

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(data).digest() as Uint8Array);
}
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

// `checked`: the value re-hashed correctly and was not touched since (flipBit clears it),
// so the scrub need not hash it again; `rehash()` ignores the cache.
interface Value { label: Label; data: Uint8Array; origin: Origin; checked?: boolean }

export class MemStore implements SyncStore {
  private segs = new Map<string, Value>();
  private sorted: string[] | null = null;
  private changes: ChangeEntry[] = [];
  private seq = 0;
  private meta = new Map<string, unknown>();
  private ident: StoreIdentity;
  private listeners = new Set<(e: ChangeEntry[]) => void>();
  private epoch = 0;
  private applyAt = 0;
  private evicted: string[] = [];
  private evictedSet = new Set<string>();
  corruptFound = 0;
  capacitySegments = Infinity;

  constructor(private readonly clock: SyncClock, private readonly diskDelayMs: () => number, name: string) {
    this.ident = {
      storeId: `store-${name}`, generation: `gen-${name}-0`, peerGeneration: null, history: [],
      model: "SIM", softwareVersion: "1", createdMs: 0,
    };
  }

  /** Loses every write that is not durable yet (the promises never settle, like a dead process). */
  crash(): void {
    this.epoch++;
    this.applyAt = 0;
    this.listeners.clear();
  }

  private durable<T>(apply: () => T): Promise<T> {
    const epoch = this.epoch;
    const at = Math.max(this.applyAt, this.clock.now() + this.diskDelayMs());
    this.applyAt = at;
    return new Promise((resolve) => {
      this.clock.setTimer(at - this.clock.now(), () => {
        if (epoch !== this.epoch) return;
        resolve(apply());
      });
    });
  }

  identity(): StoreIdentity {
    return structuredClone(this.ident);
  }
  has(label: Label): boolean {
    return this.segs.has(hex(label));
  }
  get(label: Label, options?: { verify?: boolean }): Uint8Array | undefined {
    const k = hex(label);
    const v = this.segs.get(k);
    if (!v) return undefined;
    if (options?.verify && !v.checked && hex(sha256(v.data)) !== k) {
      this.segs.delete(k);
      this.sorted = null;
      this.corruptFound++;
      return undefined;
    }
    if (options?.verify) v.checked = true;
    return v.data.slice();
  }
  getStored(label: Label): StoredSegment | undefined {
    const v = this.segs.get(hex(label));
    if (!v) return undefined;
    return { label: v.label.slice(), encoding: "raw", rawBytes: v.data.length, payload: v.data.slice() };
  }

  private commit(items: Value[], origin: Origin, meta?: Record<string, unknown>): ChangeEntry[] {
    const entries: ChangeEntry[] = [];
    for (const item of items) {
      const k = hex(item.label);
      if (this.segs.has(k)) continue;
      this.segs.set(k, item);
      this.sorted = null;
      const e = { seq: ++this.seq, label: item.label, origin };
      this.changes.push(e);
      entries.push(e);
    }
    for (const [key, value] of Object.entries(meta ?? {})) this.meta.set(key, structuredClone(value));
    this.evict();
    for (const l of this.listeners) l(entries);
    return entries;
  }

  private evict(): void {
    while (this.segs.size > this.capacitySegments) {
      const victim = this.segs.keys().next().value as string; // FIFO
      this.segs.delete(victim);
      this.sorted = null;
      this.evicted.push(victim);
      this.evictedSet.add(victim);
      if (this.evicted.length > 1000) this.evictedSet.delete(this.evicted.shift()!);
    }
  }

  putSegments(segments: Array<{ label: Label; data: Uint8Array }>, origin: Origin, meta?: Record<string, unknown>): Promise<ChangeEntry[]> {
    for (const s of segments) if (hex(sha256(s.data)) !== hex(s.label)) throw new TandemError("corrupt", "segment does not hash to its label");
    const items = segments.map((s) => ({ label: s.label.slice(), data: s.data.slice(), origin, checked: true }));
    return this.durable(() => this.commit(items, origin, meta));
  }

  putStored(segments: StoredSegment[], origin: Origin, meta?: Record<string, unknown>): Promise<ChangeEntry[]> {
    for (const s of segments) {
      if (s.encoding !== "raw" || s.payload.length !== s.rawBytes) throw new TandemError("badInput", "bad stored segment");
      if (hex(sha256(s.payload)) !== hex(s.label)) {
        return Promise.reject(new TandemError("corrupt", `stored segment does not hash to its label ${hex(s.label).slice(0, 16)}`));
      }
    }
    const items = segments.map((s) => ({ label: s.label.slice(), data: s.payload.slice(), origin, checked: true }));
    return this.durable(() => this.commit(items, origin, meta));
  }

  deleteSegments(labels: Label[], meta?: Record<string, unknown>): Promise<number> {
    const keys = labels.map(hex);
    return this.durable(() => {
      let n = 0;
      for (const k of keys) if (this.segs.delete(k)) n++;
      this.sorted = null;
      for (const [key, value] of Object.entries(meta ?? {})) this.meta.set(key, structuredClone(value));
      return n;
    });
  }

  changesSince(afterSeq: number, limit: number): ChangeEntry[] {
    let lo = 0;
    let hi = this.changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.changes[mid]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return this.changes.slice(lo, lo + limit);
  }
  lastSeq(): number {
    return this.seq;
  }
  trimChangesThrough(seq: number): Promise<void> {
    return this.durable(() => {
      this.changes = this.changes.filter((e) => e.seq > seq);
    });
  }

  private sortedLabels: Label[] = [];
  private keys(): string[] {
    if (!this.sorted) {
      this.sorted = [...this.segs.keys()].sort();
      this.sortedLabels = this.sorted.map((k) => this.segs.get(k)!.label);
    }
    return this.sorted;
  }
  labelsInRange(start: Label | null, end: Label | null, limit: number): Label[] {
    const keys = this.keys();
    const s = start ? hex(start) : "";
    const e = end ? hex(end) : null;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    const out: Label[] = [];
    for (let i = lo; i < keys.length && out.length < limit; i++) {
      if (e !== null && keys[i]! >= e) break;
      out.push(this.sortedLabels[i]!);
    }
    return out;
  }
  count(): number {
    return this.segs.size;
  }
  recentlyEvicted(label: Label): boolean {
    return this.evictedSet.has(hex(label));
  }
  getMeta<T = unknown>(key: string): T | undefined {
    const v = this.meta.get(key);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }
  putMeta(key: string, value: unknown): Promise<void> {
    const v = structuredClone(value);
    return this.durable(() => void this.meta.set(key, v));
  }
  setIdentity(identity: StoreIdentity): Promise<void> {
    const v = structuredClone(identity);
    return this.durable(() => void (this.ident = v));
  }
  onCommit(listener: (entries: ChangeEntry[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  stats(): StoreStats {
    let bytes = 0;
    for (const v of this.segs.values()) bytes += v.data.length;
    return {
      segments: this.segs.size, rawBytes: bytes, storedBytes: bytes, capacityBytes: 0, hits: 0, misses: 0,
      evictions: this.evicted.length, corruptFound: this.corruptFound, writesPerS: 0, lastSeq: this.seq,
      oldestSeq: this.changes[0]?.seq ?? this.seq + 1,
    };
  }

  // ---- simulator helpers ----
  /** Every key whose value does not hash to it (no cache). */
  rehashFailures(): string[] {
    return [...this.segs].filter(([k, v]) => hex(sha256(v.data)) !== k).map(([k]) => k);
  }
  allKeys(): string[] {
    return [...this.keys()];
  }
  flipBit(label: Label, bit: number): void {
    const v = this.segs.get(hex(label));
    if (!v) return;
    v.data[(bit >> 3) % v.data.length]! ^= 1 << (bit & 7);
    v.checked = false;
  }
}
