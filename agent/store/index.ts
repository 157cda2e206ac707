// Entry of the segment store: opens (or creates) the LMDB store under
// `<dir>/store/` and returns it as the SegmentStore contract of types.ts plus a few
// store-only extras (idle, replacementPolicy). The rest of the agent imports from here.
import { LmdbSegmentStore, type OpenStoreOptions } from "./lmdb-store.ts";
import type { SegmentStore } from "./types.ts";

export type { OpenStoreOptions } from "./lmdb-store.ts";
export {
  LmdbSegmentStore, writeBatchSegmentsMax, writeQueueSegmentsMax, callSegmentsMax, evictionBatchSegmentsMax,
  tombstonesMax, changeLogEntriesMaxDefault, touchBufferMax, touchFlushMs,
} from "./lmdb-store.ts";
export { KeySetDigest } from "./digest.ts";
export { registerStoreMetrics } from "./metrics.ts";
export { auditStore, storeDigest, type AuditReport } from "./audit.ts";
export { labelHex, labelFromHex, segmentBytesMax } from "./format.ts";
export * from "./types.ts";

export type OpenedStore = SegmentStore & {
  /** Resolves once every queued write is durable. */
  idle(): Promise<void>;
  replacementPolicy(): "lru" | "fifo";
};

export async function openSegmentStore(options: OpenStoreOptions): Promise<OpenedStore> {
  return new LmdbSegmentStore(options);
}
