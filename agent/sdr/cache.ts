// Shared in-memory state per segment store: a cache of recently used segment bytes
// (so warm traffic on a new channel does not pay an LMDB read + LZ4 decompression
// per segment), and a write-behind queue that batches what the codec learns into
// putSegments without making each frame wait for the store's fsync. Both are bounded;
// correctness never depends on them (labels are verified where data enters).
import type { SegmentInput, SegmentStore } from "../store/types.ts";
import { RecentWindow } from "./window.ts";

export const segmentCacheBytesMax = 64 * 1024 * 1024;
export const segmentCacheEntriesMax = 32768;
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

/** Ordered, bounded write-behind of learned segments; the first failure is kept and
 *  thrown by the next call, so a full or broken store is not silently ignored. */
export class StoreWriter {
  private inFlight: Promise<unknown>[] = [];
  private failure: unknown;

  constructor(private readonly store: SegmentStore) {}

  async put(segments: SegmentInput[]): Promise<void> {
    this.check();
    if (segments.length === 0) return;
    const write = this.store.putSegments(segments, "local").catch((err) => {
      this.failure ??= err;
    });
    this.inFlight.push(write);
    while (this.inFlight.length > storeWritesInFlightMax) await this.inFlight.shift();
    this.check();
  }

  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
