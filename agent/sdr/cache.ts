// Shared in-memory state per segment store: a cache of recently used segment bytes
// (so warm traffic on a new channel does not pay an LMDB read + LZ4 decompression
// per segment), and a write-behind queue that batches what the codec learns into
// putSegments without making each frame wait for the store's fsync. Both are bounded;
// correctness never depends on them (labels are verified where data enters).
import type { SegmentInput, SegmentStore } from "../store/types.ts";
import { RecentWindow } from "./window.ts";

export const segmentCacheBytesMax = 64 * 1024 * 1024;
export const segmentCacheEntriesMax = 32768;
/** How long close() waits for a call in progress before releasing resources anyway. */
export const closeWaitMs = 5_000;

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    promise.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); }),
  ]);
  clearTimeout(timer);
}

/** putSegments calls one codec may have outstanding before it waits for the oldest. */
export const storeWritesInFlightMax = 32;

const caches = new WeakMap<SegmentStore, RecentWindow>();

/** The cache shared by every encoder and decoder of `store` in this process. */
export function segmentCache(store: SegmentStore): RecentWindow {
  let cache = caches.get(store);
  if (!cache) {
    cache = new RecentWindow(segmentCacheBytesMax, segmentCacheEntriesMax);
    caches.set(store, cache);
  }
  return cache;
}

/** Ordered, bounded write-behind of learned segments. A failed write costs only
 *  savings, so the codec goes on: each failure goes to `onError` when given; else the
 *  first one is kept and thrown by drain() (at close), so it is never silent. */
export class StoreWriter {
  private inFlight: Promise<unknown>[] = [];
  private failure: unknown;
  failures = 0;

  constructor(private readonly store: SegmentStore, private readonly onError?: (err: unknown) => void) {}

  async put(segments: SegmentInput[]): Promise<void> {
    if (segments.length === 0) return;
    const write = this.store.putSegments(segments, "local").catch((err) => {
      this.failures++;
      if (this.onError) this.onError(err);
      else this.failure ??= err;
    });
    this.inFlight.push(write);
    while (this.inFlight.length > storeWritesInFlightMax) await this.inFlight.shift();
  }

  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Bytes hashed to find a known segment by how it starts. */
export const prefixBytes = 32;
/** Entries of a store's prefix index before it is dropped and rebuilt from traffic. */
export const prefixIndexEntriesMax = 1 << 18;

/** A hint map from a segment's first `prefixBytes` to its label, shared per store like
 *  the cache: when a run breaks, the encoder finds where the stream continues among
 *  known segments without cutting and hashing (a hit is confirmed byte for byte). */
export class PrefixIndex {
  private readonly map = new Map<number, Uint8Array[]>();

  /** Labels of known segments that start like bytes[at..], most recent first. */
  get(bytes: Uint8Array, at: number): Uint8Array[] | undefined {
    return bytes.length - at >= prefixBytes ? this.map.get(prefixKey(bytes, at)) : undefined;
  }

  add(data: Uint8Array, label: Uint8Array): void {
    if (data.length < prefixBytes * 2) return;
    if (this.map.size >= prefixIndexEntriesMax) this.map.clear();
    const key = prefixKey(data, 0);
    const labels = this.map.get(key);
    if (!labels) {
      this.map.set(key, [label]);
      return;
    }
    const i = labels.findIndex((l) => sameBytes(l, label));
    if (i === 0) return;
    if (i > 0) labels.splice(i, 1);
    labels.unshift(label);
    if (labels.length > prefixLabelsMax) labels.pop();
  }
}

/** Segments that start alike (repeated headers, boilerplate) kept per prefix. */
export const prefixLabelsMax = 8;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const prefixIndexes = new WeakMap<SegmentStore, PrefixIndex>();

export function prefixIndex(store: SegmentStore): PrefixIndex {
  let index = prefixIndexes.get(store);
  if (!index) {
    index = new PrefixIndex();
    prefixIndexes.set(store, index);
  }
  return index;
}

function prefixKey(b: Uint8Array, at: number): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = at; i < at + prefixBytes; i += 4) {
    const v = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    h1 = Math.imul(h1 ^ v, 0x9e3779b1);
    h2 = Math.imul(h2 + v, 0x85ebca6b) ^ (h2 >>> 15);
  }
  return (h1 >>> 0) * 0x100000 + ((h2 >>> 0) & 0xfffff);
}
