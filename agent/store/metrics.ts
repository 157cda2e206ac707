// Prometheus gauges for the segment store, read lazily from stats() at scrape time
// (the store keeps its own counters; nothing is pushed). Counts since the process
// started are exposed as gauges too, because the registry's counters are push-only.
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { SegmentStore, StoreStats } from "./types.ts";

const gauges: [name: string, help: string, pick: (s: StoreStats) => number][] = [
  ["tandem_store_segments", "Segments in the data store", (s) => s.segments],
  ["tandem_store_raw_bytes", "Raw bytes of the stored segments", (s) => s.rawBytes],
  ["tandem_store_stored_bytes", "Bytes the segments take at rest (compressed, with headers)", (s) => s.storedBytes],
  ["tandem_store_capacity_bytes", "Configured data store capacity", (s) => s.capacityBytes],
  ["tandem_store_hits", "Segment reads that found the segment, since start", (s) => s.hits],
  ["tandem_store_misses", "Segment reads that did not, since start", (s) => s.misses],
  ["tandem_store_evictions", "Segments replaced because the store was full, over the store's life", (s) => s.evictions],
  ["tandem_store_corrupt_found", "Stored values found not to hash to their label, since start", (s) => s.corruptFound],
  ["tandem_store_writes_per_second", "Recent segment write rate", (s) => s.writesPerS],
  ["tandem_store_last_seq", "Sequence number of the newest change-log entry", (s) => s.lastSeq],
];

/** Registers the store gauges; `store()` may return null while the store is closed. */
export function registerStoreMetrics(registry: MetricsRegistry, store: () => SegmentStore | null): void {
  for (const [name, help, pick] of gauges) {
    registry.gauge(name, help, () => {
      const current = store();
      return current ? pick(current.stats()) : 0;
    });
  }
}
