// Opens the LMDB environment of a segment store and its named sub-databases, with
// the key and value encodings every reader and writer must agree on. Used by the
// store itself and by the read-only audit (verify, digest, crash checks).
import { open, type Database, type RootDatabase } from "lmdb";

/** Named sub-databases in one environment (LMDB's maxDbs must cover them). */
export const storeMaxDbs = 12;

export interface StoreDbs {
  root: RootDatabase;
  /** label -> 16-byte header + payload (format.ts). */
  segments: Database<Uint8Array, Uint8Array>;
  /** seq -> label + origin byte: the change log / intent log. */
  changes: Database<Uint8Array, number>;
  /** tick -> label: replacement order, oldest first. */
  order: Database<Uint8Array, number>;
  /** label -> tick: where a segment sits in `order`. */
  ticks: Database<number, Uint8Array>;
  /** label -> tombstone number: labels recently evicted by capacity. */
  evicted: Database<number, Uint8Array>;
  /** tombstone number -> label: tombstones oldest first, for the bound. */
  evictedOrder: Database<Uint8Array, number>;
  /** User meta records (sync cursors, peer acks, flags), msgpack. */
  meta: Database<unknown, string>;
  /** The store's own records: identity, counters, format. */
  state: Database<unknown, string>;
}

export function openStoreDbs(path: string, readOnly: boolean): StoreDbs {
  const root = open({ path, maxDbs: storeMaxDbs, readOnly, encoding: "msgpack" });
  try {
    const binary = { keyEncoding: "binary" as const, encoding: "binary" as const };
    return {
      root,
      segments: root.openDB<Uint8Array, Uint8Array>("segments", binary),
      changes: root.openDB<Uint8Array, number>("changes", { encoding: "binary" }),
      order: root.openDB<Uint8Array, number>("order", { encoding: "binary" }),
      ticks: root.openDB<number, Uint8Array>("ticks", { keyEncoding: "binary" }),
      evicted: root.openDB<number, Uint8Array>("evicted", { keyEncoding: "binary" }),
      evictedOrder: root.openDB<Uint8Array, number>("evicted-order", { encoding: "binary" }),
      meta: root.openDB<unknown, string>("meta", {}),
      state: root.openDB<unknown, string>("state", {}),
    };
  } catch (err) {
    void root.close();
    throw err;
  }
}
