// The segment store on real LMDB files: put/get/has, duplicates, the change log and
// its same-transaction semantics, meta records, identity and clear(), the at-rest
// form, ranges, trimming, and precise errors for bad input that write nothing.
import { afterAll, describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { MetricsRegistry } from "../../agent/metrics/registry.ts";
import { auditStore, callSegmentsMax, openSegmentStore, registerStoreMetrics, type ChangeEntry } from "../../agent/store/index.ts";
import { changeTrimBatchMax } from "../../agent/store/lmdb-store.ts";
import { hex, makeSegments, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

async function open(dir: string, extra: Partial<Parameters<typeof openSegmentStore>[0]> = {}) {
  return openSegmentStore({ dir, model: "TDM-1000", softwareVersion: "0.1.0", ...extra });
}

async function expectError(promise: Promise<unknown> | (() => unknown), code: string): Promise<TandemError> {
  let caught: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TandemError);
  expect((caught as TandemError).code).toBe(code as TandemError["code"]);
  return caught as TandemError;
}

describe("segment store", () => {
  test("put, has, get round-trip; compressible values are stored smaller, random ones raw", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const text = makeSegments(20, 1, "text");
    const random = makeSegments(5, 2, "random");
    const entries = await store.putSegments([...text, ...random], "local");
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (const s of [...text, ...random]) {
      expect(store.has(s.label)).toBe(true);
      expect(store.get(s.label)).toEqual(s.data);
      expect(store.get(s.label, { verify: true })).toEqual(s.data);
    }
    expect(store.getStored(text[0]!.label)!.encoding).toBe("lz4");
    expect(store.getStored(random[0]!.label)!.encoding).toBe("raw");
    const stats = store.stats();
    expect(stats.segments).toBe(25);
    expect(stats.rawBytes).toBe(25 * 8192);
    expect(stats.storedBytes).toBeLessThan(stats.rawBytes);
    expect(stats.hits).toBe(50);
    const missing = makeSegments(1, 99)[0]!;
    expect(store.has(missing.label)).toBe(false);
    expect(store.get(missing.label)).toBeUndefined();
    expect(store.stats().misses).toBe(1);
    await store.close();
  });

  test("duplicates are skipped: no second write, no change entry, counted once", async () => {
    const store = await open(tempDir());
    const segments = makeSegments(10, 3);
    expect((await store.putSegments(segments.slice(0, 6), "local")).length).toBe(6);
    const again = await store.putSegments(segments, "peer");
    expect(again.map((e) => hex(e.label))).toEqual(segments.slice(6).map((s) => hex(s.label)));
    expect(again.every((e) => e.origin === "peer")).toBe(true);
    // The same label twice in one call, and in two calls racing for one transaction.
    const fresh = makeSegments(2, 4);
    const [a, b] = await Promise.all([
      store.putSegments([fresh[0]!, fresh[0]!, fresh[1]!], "local"),
      store.putSegments([fresh[1]!], "local"),
    ]);
    expect(a.length + b.length).toBe(2);
    expect(store.count()).toBe(12);
    expect(store.changesSince(0, 100).length).toBe(12);
    await store.close();
  });

  test("concurrent calls coalesce into one transaction; the change log keeps call order", async () => {
    const store = await open(tempDir());
    const commits: ChangeEntry[][] = [];
    store.onCommit((entries) => commits.push(entries));
    const calls = Array.from({ length: 8 }, (_, i) => makeSegments(16, 100 + i));
    const results = await Promise.all(calls.map((segments) => store.putSegments(segments, "local")));
    // Issued in one turn, all eight calls landed in one commit, seqs in call order.
    expect(commits.length).toBe(1);
    expect(commits[0]!.length).toBe(128);
    expect(results.flat().map((e) => e.seq)).toEqual(Array.from({ length: 128 }, (_, i) => i + 1));
    const log = store.changesSince(0, 1000);
    expect(log.map((e) => hex(e.label))).toEqual(calls.flat().map((s) => hex(s.label)));
    expect(store.changesSince(100, 10).map((e) => e.seq)).toEqual([101, 102, 103, 104, 105, 106, 107, 108, 109, 110]);
    expect(store.lastSeq()).toBe(128);
    await store.close();
  });

  test("calls prepared on the worker and inline still commit in call order", async () => {
    const store = await open(tempDir(), { prepWorker: true });
    const big = makeSegments(120, 40);
    const small = makeSegments(2, 41);
    const bad = makeSegments(60, 42);
    bad[45] = { label: bad[45]!.label, data: bad[44]!.data };
    const results = await Promise.allSettled([
      store.putSegments(big, "local", { cursor: 1 }),      // large: goes to the worker
      store.putSegments(bad, "local", { cursor: 99 }),     // large and wrong: refused whole
      store.putSegments(small, "local", { cursor: 2 }),    // small: prepared inline, yet waits its turn
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toContain(hex(bad[45]!.label));
    expect(store.changesSince(0, 1000).map((e) => hex(e.label))).toEqual([...big, ...small].map((s) => hex(s.label)));
    expect(store.getMeta("cursor")).toBe(2);
    expect(store.has(bad[0]!.label)).toBe(false);
    for (const s of [big[0]!, big[119]!, small[1]!]) expect(store.get(s.label, { verify: true })).toEqual(s.data);
    await store.close();
  });

  test("labels computed here are not re-hashed; every other segment of the same call still is", async () => {
    for (const prepWorker of [true, false]) {
      const store = await open(tempDir(), { prepWorker });
      const local = makeSegments(60, 50).map((s) => ({ ...s, labelComputedHere: true }));
      const fromPeer = makeSegments(60, 51);
      // A wrong label without the flag is refused even when its neighbours carry it.
      const mixed = [...local.slice(0, 30), { label: fromPeer[1]!.label, data: fromPeer[0]!.data }];
      await expectError(store.putSegments(mixed, "local"), "corrupt");
      expect(store.count()).toBe(0);
      await store.putSegments([...local, ...fromPeer], "local");
      for (const s of [local[0]!, local[59]!, fromPeer[0]!]) expect(store.get(s.label, { verify: true })).toEqual(s.data);
      // The flag is a promise by the caller, not a check: a broken promise is still
      // detected on a verified read (or by `tandem store verify`) and never served.
      const [lie] = makeSegments(1, 52);
      const [other] = makeSegments(1, 53);
      await store.putSegments([{ label: lie!.label, data: other!.data, labelComputedHere: true }], "local");
      expect(store.get(lie!.label, { verify: true })).toBeUndefined();
      expect(store.stats().corruptFound).toBe(1);
      await store.idle();
      expect(store.has(lie!.label)).toBe(false);
      await store.close();
    }
  });

  test("rounds of concurrent batches on the worker each keep their own bytes", async () => {
    const store = await open(tempDir(), { prepWorker: true });
    const written: ReturnType<typeof makeSegments> = [];
    for (let round = 0; round < 6; round++) {
      const calls = [0, 1, 2, 3].map((k) => makeSegments(40 + k * 7, 100 + round * 4 + k, k === 3 ? "random" : "text", 3000 + k * 1500));
      // Half the calls re-hashed on the worker: a byte from another batch would fail them.
      const flagged = calls.map((segments, k) => segments.map((s) => ({ ...s, labelComputedHere: k % 2 === 0 })));
      await Promise.all(flagged.map((segments) => store.putSegments(segments, "local")));
      written.push(...calls.flat());
    }
    expect(store.count()).toBe(written.length);
    for (const s of written) expect(store.get(s.label, { verify: true })).toEqual(s.data);
    expect(store.stats().corruptFound).toBe(0);
    await store.close();
  });

  test("a busy worker's batches are split with the caller's thread; a bad label in either part fails its call alone", async () => {
    const store = await open(tempDir(), { prepWorker: true });
    // Issued in one turn: from the second call on, the worker has work, so the tail of
    // each call is prepared on this thread and the head on the worker.
    const calls = [0, 1, 2, 3, 4, 5].map((k) => makeSegments(64, 200 + k, k % 2 ? "random" : "text", 4000));
    const badAt = new Map([[2, 63], [4, 0]]);   // a tail segment, a head segment
    const inputs = calls.map((segments, k) => segments.map((s, i) => badAt.get(k) === i ? { label: s.label, data: segments[(i + 1) % 64]!.data } : s));
    const results = await Promise.allSettled(inputs.map((segments) => store.putSegments(segments, "local")));
    for (const [k, result] of results.entries()) {
      if (badAt.has(k)) {
        expect(result.status).toBe("rejected");
        expect(String((result as PromiseRejectedResult).reason.message)).toContain(hex(calls[k]![badAt.get(k)!]!.label));
        for (const s of calls[k]!) expect(store.has(s.label)).toBe(false);
      } else {
        expect(result.status).toBe("fulfilled");
        expect((result as PromiseFulfilledResult<unknown[]>).value.length).toBe(64);
        for (const s of calls[k]!) expect(store.get(s.label, { verify: true })).toEqual(s.data);
      }
    }
    expect(store.count()).toBe(4 * 64);
    await store.close();
  });

  test("meta given with segments is committed in the same transaction, and only with them", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const seen: unknown[] = [];
    store.onCommit(() => seen.push(store.getMeta("cursor")));
    await store.putSegments(makeSegments(3, 5), "peer", { cursor: { range: "00-7f", done: 3 } });
    // The listener runs after the commit, and the cursor was already there.
    expect(seen).toEqual([{ range: "00-7f", done: 3 }]);
    const good = makeSegments(2, 6);
    const bad = { label: good[1]!.label, data: good[0]!.data };
    await expectError(store.putSegments([good[0]!, bad], "peer", { cursor: "must not land" }), "corrupt");
    expect(store.getMeta("cursor")).toEqual({ range: "00-7f", done: 3 });
    expect(store.has(good[0]!.label)).toBe(false);
    await store.putMeta("flag", true);
    await store.putMeta("gone", 1);
    await store.putMeta("gone", undefined);
    await store.close();
    const reopened = await open(dir);
    expect(reopened.getMeta("cursor")).toEqual({ range: "00-7f", done: 3 });
    expect(reopened.getMeta("flag")).toBe(true);
    expect(reopened.getMeta("gone")).toBeUndefined();
    expect(reopened.count()).toBe(3);
    expect(reopened.lastSeq()).toBe(3);
    await reopened.close();
  });

  test("identity persists across reopen; clear() wipes segments and log and makes a new one", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const first = store.identity();
    expect(first.storeId).toMatch(/^[0-9a-f]{32}$/);
    expect(first).toMatchObject({ model: "TDM-1000", softwareVersion: "0.1.0", peerGeneration: null, history: [] });
    await store.putSegments(makeSegments(5, 7), "local");
    await store.putMeta("peer-ack", 5);
    await store.close();

    const upgraded = await open(dir, { softwareVersion: "0.2.0" });
    expect(upgraded.identity()).toEqual({ ...first, softwareVersion: "0.2.0" });
    const adopted = { ...first, storeId: "a".repeat(32), generation: "b".repeat(32), peerGeneration: "c".repeat(32), history: [first.generation] };
    await upgraded.setIdentity({ ...adopted, model: "TDM-2000" });
    // Ids and history are adopted; model and version stay this appliance's.
    expect(upgraded.identity()).toEqual({ ...adopted, softwareVersion: "0.2.0" });
    await expectError(upgraded.setIdentity({ ...adopted, storeId: "" }), "badInput");

    const cleared = await upgraded.clear();
    expect(cleared.storeId).not.toBe(adopted.storeId);
    expect(cleared).toMatchObject({ model: "TDM-1000", softwareVersion: "0.2.0" });
    expect(cleared.generation).not.toBe(adopted.generation);
    expect(cleared.history).toEqual([]);
    expect(upgraded.count()).toBe(0);
    expect(upgraded.changesSince(0, 10)).toEqual([]);
    expect(upgraded.labelsInRange(null, null, 10)).toEqual([]);
    expect(upgraded.getMeta("peer-ack")).toBe(5);
    // Sequence numbers are never reused, even after clear().
    const entries = await upgraded.putSegments(makeSegments(1, 8), "local");
    expect(entries[0]!.seq).toBe(6);
    await upgraded.close();
    const reopened = await open(dir, { softwareVersion: "0.2.0" });
    expect(reopened.identity()).toEqual(cleared);
    expect(reopened.count()).toBe(1);
    await reopened.close();
    const report = await auditStore(dir);
    expect(report.inconsistencies).toEqual([]);
  });

  test("the at-rest form moves to another store with putStored; tampered forms are refused", async () => {
    const source = await open(tempDir());
    const segments = [...makeSegments(6, 9, "text"), ...makeSegments(2, 10, "random")];
    await source.putSegments(segments, "local");
    const stored = segments.map((s) => source.getStored(s.label)!);
    const target = await open(tempDir());
    const tampered = { ...stored[0]!, payload: new Uint8Array(stored[0]!.payload) };
    tampered.payload[tampered.payload.length >> 1]! ^= 0x40;
    await expectError(target.putStored([stored[1]!, tampered], "peer"), "corrupt");
    await expectError(target.putStored([{ ...stored[6]!, rawBytes: stored[6]!.rawBytes - 1 }], "peer"), "corrupt");
    await expectError(target.putStored([{ ...stored[2]!, label: stored[3]!.label }], "peer"), "corrupt");
    expect(target.count()).toBe(0);
    const entries = await target.putStored(stored, "peer", { ack: 8 });
    expect(entries.length).toBe(8);
    for (const s of segments) expect(target.get(s.label, { verify: true })).toEqual(s.data);
    expect(target.getMeta("ack")).toBe(8);
    expect(target.changesSince(0, 10).every((e) => e.origin === "peer")).toBe(true);
    await source.close();
    await target.close();
  });

  test("labels come back in key order within a range; trimming drops old change entries only", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const segments = makeSegments(40, 11);
    await store.putSegments(segments, "local");
    const sorted = segments.map((s) => hex(s.label)).sort();
    expect(store.labelsInRange(null, null, 100).map(hex)).toEqual(sorted);
    const start = Buffer.from(sorted[10]!, "hex");
    const end = Buffer.from(sorted[20]!, "hex");
    expect(store.labelsInRange(new Uint8Array(start), new Uint8Array(end), 100).map(hex)).toEqual(sorted.slice(10, 20));
    expect(store.labelsInRange(new Uint8Array(start), null, 3).map(hex)).toEqual(sorted.slice(10, 13));

    await store.trimChangesThrough(25);
    expect(store.changesSince(0, 100).map((e) => e.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 26));
    expect(store.stats().oldestSeq).toBe(26);
    expect(store.count()).toBe(40);
    const deleted = await store.deleteSegments([segments[0]!.label, segments[30]!.label, makeSegments(1, 12)[0]!.label]);
    expect(deleted).toBe(2);
    // Deleting a segment takes its change entry with it: the log never names an absent label.
    expect(store.changesSince(0, 100).map((e) => e.seq)).not.toContain(31);
    expect(store.count()).toBe(38);
    await store.close();
    const report = await auditStore(dir);
    expect(report.inconsistencies).toEqual([]);
    expect(report.checked).toBe(38);
  });

  test("trimming walks over entries gone with their segments and past a transaction's bound; the count stays exact", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const n = changeTrimBatchMax + 2000;
    const segments = makeSegments(n, 23, "random", 64);
    for (let i = 0; i < n; i += callSegmentsMax) await store.putSegments(segments.slice(i, i + callSegmentsMax), "local");
    // Holes in the log: seqs 1, 2, 5000 and n - 100 go with their segments.
    await store.deleteSegments([0, 1, 4999, n - 101].map((i) => segments[i]!.label));
    await store.trimChangesThrough(n - 50);
    expect(store.changesSince(0, 100).map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => n - 49 + i));
    expect(store.stats().oldestSeq).toBe(n - 49);
    // A trim below what is already trimmed changes nothing.
    await store.trimChangesThrough(10);
    expect(store.changesSince(0, 100).length).toBe(50);
    expect(store.count()).toBe(n - 4);
    await store.close();
    const report = await auditStore(dir);
    expect(report.inconsistencies).toEqual([]);
    expect(report.changeEntries).toBe(50);
  });

  test("the change log is bounded: past changeLogEntriesMax the oldest entries go, segments stay", async () => {
    const dir = tempDir();
    const store = await open(dir, { changeLogEntriesMax: 20 });
    const segments = makeSegments(50, 17);
    for (let i = 0; i < 50; i += 10) await store.putSegments(segments.slice(i, i + 10), "local");
    expect(store.count()).toBe(50);
    expect(store.changesSince(0, 100).map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 31));
    const stats = store.stats();
    expect(stats).toMatchObject({ lastSeq: 50, oldestSeq: 31, segments: 50 });
    expect(stats.writesPerS).toBeGreaterThan(0);
    await store.close();
    expect((await auditStore(dir)).inconsistencies).toEqual([]);
  });

  test("metrics expose the store's statistics at scrape time", async () => {
    const store = await open(tempDir(), { capacityBytes: 1 << 20 });
    const registry = new MetricsRegistry();
    registerStoreMetrics(registry, () => store);
    await store.putSegments(makeSegments(3, 18), "local");
    store.get(makeSegments(1, 19)[0]!.label);
    const text = registry.render();
    expect(text).toContain("tandem_store_segments 3\n");
    expect(text).toContain(`tandem_store_raw_bytes ${3 * 8192}\n`);
    expect(text).toContain("tandem_store_capacity_bytes 1048576\n");
    expect(text).toContain("tandem_store_misses 1\n");
    await store.close();
  });

  test("bad input gets a precise error and writes nothing", async () => {
    const store = await open(tempDir());
    const [s] = makeSegments(1, 13);
    await expectError(store.putSegments([{ label: s!.label.subarray(0, 31), data: s!.data }], "local"), "badInput");
    await expectError(store.putSegments([{ label: s!.label, data: new Uint8Array(0) }], "local"), "badInput");
    await expectError(store.putSegments([s!], "elsewhere" as "local"), "badInput");
    await expectError(store.putSegments(new Array(20000).fill(s), "local"), "limitExceeded");
    await expectError(store.putMeta("", 1), "badInput");
    await expectError(() => store.changesSince(0, -1), "badInput");
    await expectError(() => store.get(new Uint8Array(3)), "badInput");
    await expectError(() => store.setCapacity(-1, "lru"), "badInput");
    await expectError(() => store.setCapacity(10, "mru" as "lru"), "badInput");
    expect(store.count()).toBe(0);
    expect(store.lastSeq()).toBe(0);
    await store.close();
  });

  test("one writer at a time; readers open read-only and cannot write", async () => {
    const dir = tempDir();
    const store = await open(dir);
    await store.putSegments(makeSegments(4, 14), "local");
    await expectError(open(dir), "unavailable");
    const reader = await open(dir, { readOnly: true });
    expect(reader.count()).toBe(4);
    await store.putSegments(makeSegments(2, 15), "local");
    expect(reader.count()).toBe(6);
    await expectError(reader.putSegments(makeSegments(1, 16), "local"), "forbidden");
    await reader.close();
    await store.close();
    await expectError(open(tempDir(), { readOnly: true }), "notFound");
  });
});
