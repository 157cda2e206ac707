// The contract of the segment data store (implemented on LMDB in agent/store/).
// The SDR codec, the optimization service and data store sync depend on this
// interface, not on LMDB. Labels are 32-byte BLAKE3 hashes of the segment bytes.

export type Label = Uint8Array;
export const labelBytes = 32;

/** Where a segment came from: learned from traffic here, or replicated from the sync peer. */
export type Origin = "local" | "peer";

export interface SegmentInput {
  label: Label;
  data: Uint8Array;           // raw segment bytes; must hash to label (checked before writing)
  /** True only when this process computed `label` from these very bytes (the SDR
   *  encoder's chunkAndHash): the store then does not hash them again. Never set for
   *  bytes from a peer (decoder DEF/REP, sync); those are always re-hashed. */
  labelComputedHere?: boolean;
}

/** A segment as kept at rest: LZ4 block (or raw when compression does not pay). */
export interface StoredSegment {
  label: Label;
  encoding: "lz4" | "raw";
  rawBytes: number;
  payload: Uint8Array;
  /** Codec hint carried by data store sync: the label that followed this segment in the
   *  stream it was learned from, so the peer's SDR encoder can reference whole runs of
   *  it after a failover. Not kept by the store itself (agent/sdr/learned.ts keeps it). */
  successor?: Label;
  /** Codec hint too: the label that preceded this segment when it was first learned. */
  predecessor?: Label;
  /** Codec hint too: the successor this segment had before its current one (a segment
   *  repeated in the data has two, and RUN ops take either), so the peer's tables
   *  match the ones the branch learned from this appliance. */
  previousSuccessor?: Label;
}

export interface StoreIdentity {
  storeId: string;            // random id; a backup adopts its master's at initial sync
  generation: string;         // current generation id; changes when the store's history forks
  peerGeneration: string | null; // the peer generation last known to be in sync with us
  history: string[];          // earlier generations of this store, newest first (bounded)
  model: string;
  softwareVersion: string;
  createdMs: number;
}

/** One change-log entry: the durable intent log that replication reads. */
export interface ChangeEntry {
  seq: number;                // strictly increasing, never reused (survives trimming)
  label: Label;
  origin: Origin;
}

export interface StoreStats {
  segments: number;
  rawBytes: number;
  storedBytes: number;
  capacityBytes: number;
  hits: number;
  misses: number;
  evictions: number;
  corruptFound: number;
  writesPerS: number;         // recent segment write rate
  lastSeq: number;
  oldestSeq: number;          // oldest change-log entry still kept
}

export interface SegmentStore {
  readonly path: string;
  identity(): StoreIdentity;

  has(label: Label): boolean;
  /** Raw bytes of a segment, or undefined. With verify, a value that does not re-hash
   *  to its label is removed, counted, and reported as missing (never served).
   *  `touch: false` reads without refreshing LRU recency (scrubs, serving the peer). */
  get(label: Label, options?: { verify?: boolean; touch?: boolean }): Uint8Array | undefined;
  /** The at-rest form, for sync traffic (sent compressed as stored). */
  getStored(label: Label): StoredSegment | undefined;

  /** Writes new segments, their change-log entries and meta updates in one transaction.
   *  Segments already present are skipped (LRU touch). Resolves once durable; returns
   *  the change entries created (empty for duplicates). */
  putSegments(segments: SegmentInput[], origin: Origin, meta?: Record<string, unknown>): Promise<ChangeEntry[]>;
  /** Same for segments already in at-rest form (as received from the sync peer); the
   *  store decompresses and verifies each before writing. */
  putStored(segments: StoredSegment[], origin: Origin, meta?: Record<string, unknown>): Promise<ChangeEntry[]>;
  deleteSegments(labels: Label[], meta?: Record<string, unknown>): Promise<number>;

  /** Change-log entries with seq > afterSeq, oldest first, at most limit. */
  changesSince(afterSeq: number, limit: number): ChangeEntry[];
  lastSeq(): number;
  /** Drops change-log entries with seq <= seq (after every peer acknowledged them). */
  trimChangesThrough(seq: number): Promise<void>;

  /** Labels in key order, from `start` (inclusive) to `end` (exclusive), at most limit. */
  labelsInRange(start: Label | null, end: Label | null, limit: number): Label[];
  count(): number;
  /** True if the label was evicted recently (bounded tombstones), so anti-entropy does
   *  not fetch back what capacity just pushed out. */
  recentlyEvicted(label: Label): boolean;

  /** Small durable key/value records (sync cursors, peer acks, flags). */
  getMeta<T = unknown>(key: string): T | undefined;
  putMeta(key: string, value: unknown): Promise<void>;

  /** Replaces the identity (a backup adopting its master's, or a new generation). */
  setIdentity(identity: StoreIdentity): Promise<void>;
  /** Deletes every segment and change entry and gives the store a new identity. */
  clear(): Promise<StoreIdentity>;

  /** Called after each committed write with its new change entries. */
  onCommit(listener: (entries: ChangeEntry[]) => void): () => void;
  /** Optional: called after each commit with the labels that capacity eviction (or a
   *  verify that found corruption) removed, so in-memory indexes (data store sync's
   *  reconciliation fingerprints) stay exact without rescanning the store. */
  onRemove?(listener: (labels: Label[]) => void): () => void;

  setCapacity(capacityBytes: number, policy: "lru" | "fifo"): void;
  stats(): StoreStats;
  close(): Promise<void>;
}
