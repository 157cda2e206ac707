// Read-only checks of a store on disk, safe while an agent is writing to it (LMDB
// readers never block the writer; everything is read in one read transaction, so
// the checks see one consistent snapshot):
// - verify: every value decodes and re-hashes to its label;
// - consistency: the change log agrees with the segments (each entry's segment
//   exists and carries that seq; each segment's entry exists unless trimmed), the
//   order index has exactly one entry per segment, and the counters match.
// `tandem store verify` and `tandem store digest` print from here; tests use it too.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TandemError } from "../errors.ts";
import { decompressSegment, hashMany } from "./codec.ts";
import { KeySetDigest } from "./digest.ts";
import { openStoreDbs, type StoreDbs } from "./env.ts";
import { decodeChange, decodeHeader, labelHex, labelsEqual, valueHeaderBytes } from "./format.ts";
import { labelBytes } from "./types.ts";

/** Inconsistencies listed in a report (all are counted). */
export const auditListedMax = 100;
/** Raw bytes re-hashed per WASM batch during verify. */
const verifyBatchBytesMax = 4 * 1024 * 1024;

export interface AuditReport {
  checked: number;
  corrupt: { label: string; reason: string }[];
  inconsistencies: string[];
  inconsistencyCount: number;
  changeEntries: number;
  digest: KeySetDigest;
}

function storePath(dir: string): string {
  const path = join(dir, "store");
  if (!existsSync(join(path, "data.mdb"))) throw new TandemError("notFound", `no segment store at ${path}`);
  return path;
}

/** Segment count and order-independent digest of the key set of the store in `dir`. */
export async function storeDigest(dir: string): Promise<KeySetDigest> {
  const dbs = openStoreDbs(storePath(dir), true);
  try {
    const transaction = dbs.root.useReadTransaction();
    try {
      const digest = new KeySetDigest();
      for (const key of dbs.segments.getKeys({ transaction } as object)) digest.add(key as Uint8Array);
      return digest;
    } finally {
      transaction.done();
    }
  } finally {
    await dbs.root.close();
  }
}

/** Re-hashes every value and checks the store's invariants. */
export async function auditStore(dir: string, options: { consistency?: boolean } = {}): Promise<AuditReport> {
  const dbs = openStoreDbs(storePath(dir), true);
  try {
    const transaction = dbs.root.useReadTransaction();
    try {
      return auditSnapshot(dbs, transaction, options.consistency ?? true);
    } finally {
      transaction.done();
    }
  } finally {
    await dbs.root.close();
  }
}

function auditSnapshot(dbs: StoreDbs, transaction: unknown, consistency: boolean): AuditReport {
  const read = { transaction } as object;
  const report: AuditReport = {
    checked: 0, corrupt: [], inconsistencies: [], inconsistencyCount: 0, changeEntries: 0, digest: new KeySetDigest(),
  };
  const inconsistent = (message: string) => {
    report.inconsistencyCount++;
    if (report.inconsistencies.length < auditListedMax) report.inconsistencies.push(message);
  };
  const counters = (dbs.state.get("counters", read) ?? {}) as Record<string, number>;
  const trimmedThrough = counters.trimmedThrough ?? 0;
  const lastSeq = counters.lastSeq ?? 0;

  let pending: { label: Uint8Array; raw: Uint8Array }[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const hashes = hashMany(pending.map((p) => p.raw));
    pending.forEach((p, i) => {
      if (!labelsEqual(hashes.subarray(i * labelBytes, (i + 1) * labelBytes), p.label)) {
        report.corrupt.push({ label: labelHex(p.label), reason: "value does not hash to its label" });
      }
    });
    pending = [];
    pendingBytes = 0;
  };

  let storedBytes = 0;
  for (const { key, value } of dbs.segments.getRange(read)) {
    const label = new Uint8Array(key as Uint8Array);
    report.checked++;
    report.digest.add(label);
    storedBytes += value.length;
    let header;
    let raw: Uint8Array;
    try {
      header = decodeHeader(value);
      const payload = value.subarray(valueHeaderBytes);
      raw = header.encoding === "lz4" ? decompressSegment(payload, header.rawBytes) : new Uint8Array(payload);
    } catch (err) {
      report.corrupt.push({ label: labelHex(label), reason: err instanceof Error ? err.message : String(err) });
      continue;
    }
    pending.push({ label, raw });
    pendingBytes += raw.length;
    if (pendingBytes >= verifyBatchBytesMax) flush();
    if (!consistency) continue;
    if (header.seq > lastSeq) inconsistent(`segment ${labelHex(label)} has seq ${header.seq} past the last seq ${lastSeq}`);
    if (header.seq > trimmedThrough) {
      const change = getBinaryIn(dbs.changes, header.seq, read);
      if (change === undefined) inconsistent(`segment ${labelHex(label)} has no change entry (seq ${header.seq})`);
      else if (!labelsEqual(change.subarray(0, labelBytes), label)) inconsistent(`change entry ${header.seq} names another label than segment ${labelHex(label)}`);
    }
    const tick = dbs.ticks.get(label, read);
    if (tick === undefined) inconsistent(`segment ${labelHex(label)} has no order entry`);
    else {
      const ordered = getBinaryIn(dbs.order, tick, read);
      if (ordered === undefined || !labelsEqual(ordered, label)) inconsistent(`order entry ${tick} does not name segment ${labelHex(label)}`);
    }
  }
  flush();
  if (!consistency) return report;

  for (const { key, value } of dbs.changes.getRange(read)) {
    report.changeEntries++;
    const seq = key as number;
    let change;
    try {
      change = decodeChange(value);
    } catch (err) {
      inconsistent(`change entry ${seq}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (seq <= trimmedThrough) inconsistent(`change entry ${seq} survived trimming through ${trimmedThrough}`);
    const segment = getBinaryIn(dbs.segments, change.label, read);
    if (segment === undefined) {
      inconsistent(`change entry ${seq} names absent segment ${labelHex(change.label)}`);
      continue;
    }
    try {
      const header = decodeHeader(segment);
      if (header.seq !== seq) inconsistent(`change entry ${seq} names segment ${labelHex(change.label)} written as seq ${header.seq}`);
    } catch {
      // A corrupt header is already reported by the value pass.
    }
  }

  const orderCount = countKeys(dbs.order, read);
  const tickCount = countKeys(dbs.ticks, read);
  if (orderCount !== report.checked) inconsistent(`order index has ${orderCount} entries for ${report.checked} segments`);
  if (tickCount !== report.checked) inconsistent(`tick index has ${tickCount} entries for ${report.checked} segments`);
  if ((counters.segments ?? 0) !== report.checked) inconsistent(`counters say ${counters.segments ?? 0} segments, store holds ${report.checked}`);
  if ((counters.storedBytes ?? 0) !== storedBytes) inconsistent(`counters say ${counters.storedBytes ?? 0} stored bytes, values hold ${storedBytes}`);
  if ((counters.changeCount ?? 0) !== report.changeEntries) {
    inconsistent(`counters say ${counters.changeCount ?? 0} change entries, log holds ${report.changeEntries}`);
  }
  const tombstones = countKeys(dbs.evicted, read);
  if ((counters.tombstoneCount ?? 0) !== tombstones || countKeys(dbs.evictedOrder, read) !== tombstones) {
    inconsistent(`tombstone indexes disagree with the counters (${tombstones} vs ${counters.tombstoneCount ?? 0})`);
  }
  return report;
}

function countKeys(db: { getKeys(options: object): Iterable<unknown> }, read: object): number {
  let n = 0;
  for (const _ of db.getKeys(read)) n++;
  return n;
}

/** getBinary within the audit's read transaction (lmdb's typings omit the options). */
function getBinaryIn(db: unknown, key: unknown, read: object): Uint8Array | undefined {
  return (db as { getBinary(key: unknown, options: object): Uint8Array | undefined }).getBinary(key, read);
}
