// What the codec learns next to the segment store, in its own small LMDB file: the
// SUCCESSOR of each segment (the label that followed it the last time it was seen in
// a stream), which lets a RUN op stand for a whole sequence of known segments (and the
// successor it replaced, which a decoder tries when a run from a peer that did not see
// the newer link does not add up), and the
// RESEMBLANCE index (super-feature -> label) that finds delta bases. Both are hints:
// a wrong or missing entry costs savings, never correctness (runs carry a checksum,
// deltas are verified against their label). Recent writes are kept in a memory
// overlay because LMDB only shows a put once its batch commits.
import { open, type Database, type RootDatabase } from "lmdb";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Label, SegmentStore } from "../store/types.ts";

/** The pseudo-label every stream starts after: its successor is the first segment of
 *  the latest stream (the delta base the next stream's first segment most likely wants,
 *  e.g. a response header that differs only in its date), and a new first segment's
 *  predecessor, so data store sync carries that link to the peer too. */
export const streamStartLabel: Label = new Uint8Array(32).fill(0xa5);

/** Entries kept in the memory overlay (recent writes and reads) before it is dropped
 *  (LMDB has them by then). */
export const overlayEntriesMax = 1 << 18;
/** Entries per table before the table is cleared (hints only; keeps the file bounded). */
export const learnedEntriesMax = 1 << 22;
const entryCountCheckEvery = 1 << 16;

/** A Map key from a label's first 6 bytes: labels are uniform, and a rare collision
 *  only costs a hint (every use is verified). */
export function labelKey(label: Uint8Array): number {
  return label[0]! + label[1]! * 0x100 + label[2]! * 0x10000 + label[3]! * 0x1000000 + label[4]! * 0x100000000 + label[5]! * 0x10000000000;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class Table {
  private overlay = new Map<number, { key: Uint8Array; value: Uint8Array }>();
  private writes = 0;
  constructor(private readonly db: Database<Uint8Array, Uint8Array>) {}

  get(key: Uint8Array, mapKey: number): Uint8Array | undefined {
    const hit = this.overlay.get(mapKey);
    if (hit && sameBytes(hit.key, key)) return hit.value;
    const stored = this.db.getBinary(key) as Uint8Array | undefined;
    if (!stored) return undefined;
    // Kept in the overlay too: warm traffic reads (and re-learns unchanged) the same
    // links pass after pass, and an LMDB read per segment and per side was ~5% of a
    // warm transfer's CPU. A later put replaces the entry, so the overlay stays current.
    const value = new Uint8Array(stored);
    if (this.overlay.size >= overlayEntriesMax) this.overlay.clear();
    // The caller's key may be a view into a large buffer (a frame body): keep a copy.
    this.overlay.set(mapKey, { key: key.slice(), value });
    return value;
  }

  /** Writes `value`; returns the value it replaced when that differed. */
  put(key: Uint8Array, mapKey: number, value: Uint8Array): Uint8Array | undefined {
    const hit = this.overlay.get(mapKey);
    // getBinary copies the value: getBinaryFast may hand back a view of lmdb-js's 16 MiB
    // shared read buffer whose length is the buffer's, not the value's.
    const old = hit && sameBytes(hit.key, key) ? hit.value : this.db.getBinary(key) as Uint8Array | undefined;
    // Most links are re-learned unchanged (warm traffic): skip the write then.
    if (old && sameBytes(old, value)) return undefined;
    const replaced = old;
    if (this.overlay.size >= overlayEntriesMax) this.overlay.clear();
    this.overlay.set(mapKey, { key, value });
    this.db.put(key, value);
    if (++this.writes % entryCountCheckEvery === 0 && (this.db.getStats() as { entryCount: number }).entryCount > learnedEntriesMax) {
      void this.db.clearAsync();
    }
    return replaced;
  }
}

export class LearnedIndex {
  private readonly successors: Table;
  private readonly alternates: Table;
  private readonly predecessors: Table;
  private readonly resemblance: Table;
  private refs = 1;

  private constructor(readonly path: string, private readonly root: RootDatabase) {
    const options = { keyEncoding: "binary" as const, encoding: "binary" as const };
    this.successors = new Table(root.openDB<Uint8Array, Uint8Array>("successor", options));
    this.alternates = new Table(root.openDB<Uint8Array, Uint8Array>("successor-previous", options));
    this.predecessors = new Table(root.openDB<Uint8Array, Uint8Array>("predecessor", options));
    this.resemblance = new Table(root.openDB<Uint8Array, Uint8Array>("resemblance", options));
  }

  private static openByPath = new Map<string, LearnedIndex>();

  /** The index kept next to `store` (shared by every encoder and decoder of the process). */
  static forStore(store: SegmentStore, path?: string): LearnedIndex {
    const indexPath = path ?? defaultIndexPath(store.path);
    const existing = LearnedIndex.openByPath.get(indexPath);
    if (existing) {
      existing.refs++;
      return existing;
    }
    // Hints only: losing the last batch in a power cut is harmless, so skip fsync.
    const root = open({ path: indexPath, noSync: true, maxDbs: 5, compression: false });
    const index = new LearnedIndex(indexPath, root);
    LearnedIndex.openByPath.set(indexPath, index);
    return index;
  }

  successor(label: Label, mapKey = labelKey(label)): Label | undefined {
    return this.successors.get(label, mapKey);
  }

  /** A label seen followed by its previous successor again keeps both links as they
   *  are: a segment repeated in the data (a licence text, a common header) alternates
   *  between a few successors, and flipping the links at each occurrence rewrote both
   *  tables (two LMDB puts per side) and broke a run every time. Kept, the current
   *  link still extends runs where it holds, and a decoder whose run does not add up
   *  tries the previous one. Encoder and decoder apply the same rule to the same links
   *  in the same order, so their tables stay equal. */
  setSuccessor(label: Label, next: Label, mapKey = labelKey(label)): void {
    const current = this.successors.get(label, mapKey);
    if (current && sameBytes(current, next)) return;
    if (current) {
      const previous = this.alternates.get(label, mapKey);
      if (previous && sameBytes(previous, next)) return;
    }
    this.successors.put(label, mapKey, next);
    if (current) this.alternates.put(label, mapKey, current);
  }

  /** Sets both links of `label` as a peer has them (data store sync's hints), so this
   *  side's runs and forks follow the same tables as the peer's. */
  setLinks(label: Label, successor: Label, previous: Label | undefined, mapKey = labelKey(label)): void {
    const current = this.successors.get(label, mapKey);
    if (!current || !sameBytes(current, successor)) this.successors.put(label, mapKey, successor);
    if (previous) {
      const stored = this.alternates.get(label, mapKey);
      if (!stored || !sameBytes(stored, previous)) this.alternates.put(label, mapKey, previous);
    }
  }

  /** The successor that `label` had before its current one, if it ever changed. */
  previousSuccessor(label: Label, mapKey = labelKey(label)): Label | undefined {
    return this.alternates.get(label, mapKey);
  }

  /** The label that came before a NEW segment when it was first learned. Data store
   *  sync ships it with the segment so the peer also learns the link INTO it (the link
   *  out of an older segment that changed when this one appeared). */
  predecessor(label: Label, mapKey = labelKey(label)): Label | undefined {
    return this.predecessors.get(label, mapKey);
  }

  setPredecessor(label: Label, previous: Label, mapKey = labelKey(label)): void {
    this.predecessors.put(label, mapKey, previous);
  }

  /** A label sharing one of `features` (checked in order), if any. */
  similar(features: Uint32Array): Label | undefined {
    for (let i = 0; i < features.length; i++) {
      const hit = this.resemblance.get(featureKey(features, i), features[i]! * 8 + i);
      if (hit) return hit;
    }
    return undefined;
  }

  addFeatures(features: Uint32Array, label: Label): void {
    for (let i = 0; i < features.length; i++) this.resemblance.put(featureKey(features, i), features[i]! * 8 + i, label);
  }

  /** Waits until every put so far is committed. */
  async flushed(): Promise<void> {
    await this.root.flushed;
  }

  async close(): Promise<void> {
    if (--this.refs > 0) return;
    LearnedIndex.openByPath.delete(this.path);
    await this.root.flushed;
    await this.root.close();
  }
}

function featureKey(features: Uint32Array, i: number): Uint8Array {
  const key = new Uint8Array(5);
  new DataView(key.buffer).setUint32(0, features[i]!, false);
  key[4] = i;
  return key;
}

function defaultIndexPath(storePath: string): string {
  const dir = existsSync(storePath) && statSync(storePath).isDirectory() ? storePath : dirname(storePath);
  return join(dir, "sdr-learned.mdb");
}
