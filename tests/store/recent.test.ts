// The recent-values cache (agent/store/recent.ts) that live replication reads fresh
// segments from: it serves exactly what LMDB holds at rest, only once committed, and
// never a segment the store removed (delete, eviction, clear) or one that is too old
// or pushed out by its byte bound.
import { afterAll, describe, expect, test } from "bun:test";
import { openSegmentStore } from "../../agent/store/index.ts";
import { RecentValues } from "../../agent/store/recent.ts";
import { encodeValue } from "../../agent/store/format.ts";
import { makeSegments, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

const open = (dir: string, extra: Record<string, unknown> = {}) =>
  openSegmentStore({ dir, model: "TDM-1000", softwareVersion: "0.1.0", durable: false, ...extra });

function value(payload: Uint8Array, seq: number): Uint8Array {
  return encodeValue({ encoding: "raw", origin: "local", rawBytes: payload.length, createdS: 1, seq }, payload);
}

describe("RecentValues", () => {
  const label = (n: number) => new Uint8Array(32).fill(n);
  const payload = (n: number) => new Uint8Array(100).fill(n);

  test("a staged value is served only after its transaction commits, never after an abort", () => {
    const r = new RecentValues();
    const t1 = {};
    const t2 = {};
    r.stage(t1, label(1), value(payload(1), 1));
    r.stage(t2, label(2), value(payload(2), 2));
    expect(r.getStored(label(1))).toBeUndefined();
    r.commit(t1);
    r.abort(t2);
    expect(r.getStored(label(1))!.payload).toEqual(payload(1));
    expect(r.getStored(label(1))!.rawBytes).toBe(100);
    expect(r.getStored(label(2))).toBeUndefined();
  });

  test("drop and clear remove values, also values staged in a transaction not yet committed", () => {
    const r = new RecentValues();
    const t = {};
    for (let i = 1; i <= 3; i++) r.stage(t, label(i), value(payload(i), i));
    r.drop(label(2));
    r.commit(t);
    expect(r.getStored(label(1))).toBeDefined();
    expect(r.getStored(label(2))).toBeUndefined();
    const t2 = {};
    r.stage(t2, label(4), value(payload(4), 4));
    r.clear();
    r.commit(t2);
    for (let i = 1; i <= 4; i++) expect(r.getStored(label(i))).toBeUndefined();
    expect(r.heldBytes).toBe(0);
  });

  test("bounded by bytes (oldest out first) and by age", () => {
    let now = 1000;
    const each = 32 + 16 + 100;
    const r = new RecentValues(each * 3, 500, () => now);
    const t = {};
    for (let i = 1; i <= 5; i++) r.stage(t, label(i), value(payload(i), i));
    r.commit(t);
    expect(r.heldBytes).toBeLessThanOrEqual(each * 3);
    expect(r.getStored(label(1))).toBeUndefined();
    expect(r.getStored(label(2))).toBeUndefined();
    expect(r.getStored(label(5))!.payload).toEqual(payload(5));
    now += 501;
    expect(r.getStored(label(5))).toBeUndefined();
  });

  test("a label sharing the 48-bit key of a cached one is a miss, not the other value", () => {
    const r = new RecentValues();
    const t = {};
    const a = label(7);
    const b = label(7);
    b[31] = 8;
    r.stage(t, a, value(payload(7), 1));
    r.commit(t);
    expect(r.getStored(b)).toBeUndefined();
    r.drop(b);
    expect(r.getStored(a)).toBeDefined();
  });

  test("values are kept as put, by reference; pooled (shared) buffers never are", () => {
    const r = new RecentValues();
    const t = {};
    const v = value(payload(9), 1);
    r.stage(t, label(9), v);
    const shared = new Uint8Array(new SharedArrayBuffer(v.length));
    shared.set(value(payload(10), 2));
    r.stage(t, label(10), shared);
    r.commit(t);
    expect(r.getStored(label(9))!.payload.buffer).toBe(v.buffer);
    expect(r.getStored(label(10))).toBeUndefined();
  });

});

describe("LmdbSegmentStore.getStored with the recent values", () => {
  test("fresh local segments read back exactly as a reopened store reads them from LMDB", async () => {
    const dir = tempDir();
    const segments = [...makeSegments(200, 31, "text"), ...makeSegments(200, 32, "random")];
    // Inline and on the prep worker, in many calls, some at once; read only after all of
    // them: a put buffer reused by a later put would show here.
    const store = await open(dir, { prepWorker: true });
    const calls: Promise<unknown>[] = [];
    for (let at = 0; at < segments.length; at += 50) {
      calls.push(store.putSegments(segments.slice(at, at + 10), "local"), store.putSegments(segments.slice(at + 10, at + 50), "local"));
    }
    await Promise.all(calls);
    const fresh = segments.map((s) => store.getStored(s.label)!);
    await store.close();
    const reopened = await open(dir);
    segments.forEach((s, i) => expect(reopened.getStored(s.label)).toEqual(fresh[i]!));
    await reopened.close();
  });

  test("deleted, evicted and cleared segments are never served", async () => {
    const segments = makeSegments(64, 33, "random");
    const store = await open(tempDir());
    await store.putSegments(segments.slice(0, 32), "local");
    await store.deleteSegments([segments[0]!.label]);
    expect(store.getStored(segments[0]!.label)).toBeUndefined();
    expect(store.getStored(segments[1]!.label)).toBeDefined();
    // Capacity for ~16 values: the oldest ones are evicted in the same transaction as later puts.
    store.setCapacity(16 * 8300, "fifo");
    await store.putSegments(segments.slice(32), "local");
    await store.idle();
    let served = 0;
    for (const s of segments) {
      const got = store.getStored(s.label);
      expect(got !== undefined).toBe(store.has(s.label));
      if (got) served++;
    }
    expect(served).toBeGreaterThan(0);
    expect(served).toBeLessThanOrEqual(17);
    await store.clear();
    for (const s of segments) expect(store.getStored(s.label)).toBeUndefined();
    await store.close();
  });
});
