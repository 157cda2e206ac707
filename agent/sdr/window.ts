// A bounded, insertion-ordered map from label to bytes: the encoder's memory of what
// it recently sent or referenced (so a REQ is answered even after the store evicted
// the segment, and run labels can be expanded), and the decoder's memory of what it
// just learned (before the store's batch commits). Oldest entries go first once
// `bytesMax` or `entriesMax` is passed.
//
// The order lives in a ring of slots, not in the Map's own insertion order: finding a
// Map's oldest entry (keys().next()) after many deletions scans past their tombstones,
// which made a warm sender's per-segment insert cost microseconds.
import { labelKey } from "./learned.ts";

function sameLabel(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Slots of a new window's ring. */
const ringSizeFirst = 64;

export class RecentWindow {
  /** Map key -> sequence number of its slot. */
  private readonly slots = new Map<number, number>();
  /** The ring grows by doubling up to 2 slots per entry allowed; a window that holds
   *  little stays small. Refreshed entries (moved to the newest end) leave empty slots
   *  behind; a full ring is laid out again without them. */
  private readonly ringSizeMax: number;
  private ringSize = ringSizeFirst;
  private keys = new Float64Array(ringSizeFirst);
  private labels: (Uint8Array | undefined)[] = new Array(ringSizeFirst).fill(undefined);
  private datas: (Uint8Array | undefined)[] = new Array(ringSizeFirst).fill(undefined);
  /** Sequence numbers of the oldest slot and of the next one to fill. */
  private tail = 0;
  private head = 0;
  private bytes = 0;

  constructor(readonly bytesMax: number, readonly entriesMax: number) {
    this.ringSizeMax = Math.max(ringSizeFirst, entriesMax * 2);
  }

  get size(): number {
    return this.slots.size;
  }

  get(label: Uint8Array, key = labelKey(label)): Uint8Array | undefined {
    const seq = this.slots.get(key);
    if (seq === undefined) return undefined;
    const slot = seq % this.ringSize;
    return sameLabel(this.labels[slot]!, label) ? this.datas[slot] : undefined;
  }

  has(label: Uint8Array, key = labelKey(label)): boolean {
    return this.get(label, key) !== undefined;
  }

  /** Adds or refreshes (moves to newest) an entry. */
  set(label: Uint8Array, data: Uint8Array, key = labelKey(label)): void {
    const old = this.slots.get(key);
    if (old !== undefined) this.clearSlot(old % this.ringSize);
    if (this.head - this.tail === this.ringSize) this.relayout();
    const slot = this.head % this.ringSize;
    this.keys[slot] = key;
    this.labels[slot] = label;
    this.datas[slot] = data;
    this.slots.set(key, this.head++);
    this.bytes += data.length;
    while ((this.bytes > this.bytesMax || this.slots.size > this.entriesMax) && this.slots.size > 1) this.evictOldest();
  }

  /** Copies the live entries, oldest first, into a ring twice the size (up to the
   *  most) from sequence number 0. At the most size, at most half the slots are live
   *  (entriesMax), so this runs at most once per entriesMax insertions. */
  private relayout(): void {
    const live = this.slots.size;
    const size = live * 2 > this.ringSize ? Math.min(this.ringSizeMax, this.ringSize * 2) : this.ringSize;
    const keys = new Float64Array(size);
    const labels: (Uint8Array | undefined)[] = new Array(size).fill(undefined);
    const datas: (Uint8Array | undefined)[] = new Array(size).fill(undefined);
    let next = 0;
    for (let seq = this.tail; seq < this.head; seq++) {
      const from = seq % this.ringSize;
      if (this.datas[from] === undefined) continue;
      keys[next] = this.keys[from]!;
      labels[next] = this.labels[from];
      datas[next] = this.datas[from];
      this.slots.set(this.keys[from]!, next++);
    }
    this.ringSize = size;
    this.keys = keys;
    this.labels = labels;
    this.datas = datas;
    this.tail = 0;
    this.head = next;
  }

  private clearSlot(slot: number): void {
    this.bytes -= this.datas[slot]!.length;
    this.labels[slot] = undefined;
    this.datas[slot] = undefined;
  }

  private evictOldest(): void {
    const slot = this.tail % this.ringSize;
    if (this.datas[slot] !== undefined) {
      this.slots.delete(this.keys[slot]!);
      this.clearSlot(slot);
    }
    this.tail++;
  }
}
