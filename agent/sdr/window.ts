// A bounded, insertion-ordered map from label to bytes: the encoder's memory of what
// it recently sent or referenced (so a REQ is answered even after the store evicted
// the segment, and run labels can be expanded), and the decoder's memory of what it
// just learned (before the store's batch commits). Oldest entries go first once
// `bytesMax` or `entriesMax` is passed.
import { labelKey } from "./learned.ts";

interface Entry {
  label: Uint8Array;
  data: Uint8Array;
}

function sameLabel(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class RecentWindow {
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;

  constructor(readonly bytesMax: number, readonly entriesMax: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(label: Uint8Array, key = labelKey(label)): Uint8Array | undefined {
    const entry = this.entries.get(key);
    return entry && sameLabel(entry.label, label) ? entry.data : undefined;
  }

  has(label: Uint8Array, key = labelKey(label)): boolean {
    return this.get(label, key) !== undefined;
  }

  /** Adds or refreshes (moves to newest) an entry. */
  set(label: Uint8Array, data: Uint8Array, key = labelKey(label)): void {
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.data.length;
      this.entries.delete(key);
    }
    this.entries.set(key, { label, data });
    this.bytes += data.length;
    while ((this.bytes > this.bytesMax || this.entries.size > this.entriesMax) && this.entries.size > 1) {
      const oldest = this.entries.keys().next().value as number;
      this.bytes -= this.entries.get(oldest)!.data.length;
      this.entries.delete(oldest);
    }
  }
}
