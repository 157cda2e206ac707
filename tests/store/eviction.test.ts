// Capacity and replacement: FIFO pushes out the oldest writes, LRU keeps what was
// read recently; eviction leaves tombstones, takes change entries along, and keeps
// the store consistent (audit); a lowered capacity is enforced at once.
import { afterAll, describe, expect, test } from "bun:test";
import { auditStore, openSegmentStore, type SegmentInput } from "../../agent/store/index.ts";
import { hex, makeSegments, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

// Random 8 KiB segments are stored raw: 16 header bytes + 8192 each.
const valueBytes = 16 + 8192;

async function fill(policy: "lru" | "fifo", capacitySegments: number) {
  const dir = tempDir();
  const store = await openSegmentStore({
    dir, model: "TDM-1000", softwareVersion: "0.1.0", policy, capacityBytes: capacitySegments * valueBytes,
  });
  return { dir, store };
}

function present(store: { has(l: Uint8Array): boolean }, segments: SegmentInput[]): boolean[] {
  return segments.map((s) => store.has(s.label));
}

describe("eviction", () => {
  test("FIFO keeps the newest writes within capacity, reads do not matter", async () => {
    const { dir, store } = await fill("fifo", 10);
    const segments = makeSegments(16, 21, "random");
    for (let i = 0; i < 10; i++) await store.putSegments([segments[i]!], "local");
    expect(store.count()).toBe(10);
    expect(store.get(segments[0]!.label)).toBeDefined(); // a read does not save it under FIFO
    await store.putSegments(segments.slice(10, 14), "local");
    expect(store.count()).toBe(10);
    expect(store.stats().storedBytes).toBeLessThanOrEqual(10 * valueBytes);
    expect(present(store, segments.slice(0, 4))).toEqual([false, false, false, false]);
    expect(present(store, segments.slice(4, 14)).every(Boolean)).toBe(true);
    expect(store.stats().evictions).toBe(4);
    expect(store.recentlyEvicted(segments[0]!.label)).toBe(true);
    expect(store.recentlyEvicted(segments[5]!.label)).toBe(false);
    // Change entries of evicted segments went with them: the log names only present labels.
    const log = store.changesSince(0, 100);
    expect(log.map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    await store.close();
    expect((await auditStore(dir)).inconsistencies).toEqual([]);
  });

  test("LRU keeps what was read recently and evicts the least recently used", async () => {
    const { dir, store } = await fill("lru", 8);
    const segments = makeSegments(12, 22, "random");
    for (let i = 0; i < 8; i++) await store.putSegments([segments[i]!], "local");
    // Read the two oldest: the touch rides on the next write transaction. A read with
    // touch: false (a scrub) leaves the third oldest where it is.
    expect(store.get(segments[0]!.label)).toEqual(segments[0]!.data);
    expect(store.has(segments[1]!.label)).toBe(true);
    expect(store.get(segments[2]!.label, { verify: true, touch: false })).toEqual(segments[2]!.data);
    await store.putSegments(segments.slice(8, 12), "local");
    expect(present(store, segments.slice(0, 8))).toEqual([true, true, false, false, false, false, true, true]);
    expect(present(store, segments.slice(8)).every(Boolean)).toBe(true);
    expect(store.stats().evictions).toBe(4);
    await store.close();
    expect((await auditStore(dir)).inconsistencies).toEqual([]);
  });

  test("pending touches are carried by close() and survive reopen", async () => {
    const { dir, store } = await fill("lru", 4);
    const segments = makeSegments(5, 23, "random");
    for (let i = 0; i < 4; i++) await store.putSegments([segments[i]!], "local");
    store.get(segments[0]!.label);
    await store.close(); // close carries pending touches into a last transaction
    const reopened = await openSegmentStore({ dir, model: "TDM-1000", softwareVersion: "0.1.0", policy: "lru", capacityBytes: 4 * valueBytes });
    await reopened.putSegments([segments[4]!], "local");
    expect(present(reopened, segments)).toEqual([true, false, true, true, true]);
    await reopened.close();
  });

  test("lowering the capacity evicts at once and keeps the store consistent", async () => {
    const { dir, store } = await fill("fifo", 1000);
    const segments = makeSegments(60, 24, "random");
    await store.putSegments(segments, "local");
    expect(store.count()).toBe(60);
    store.setCapacity(20 * valueBytes, "fifo");
    await store.idle();
    expect(store.count()).toBe(20);
    expect(present(store, segments.slice(40)).every(Boolean)).toBe(true);
    expect(store.stats().storedBytes).toBeLessThanOrEqual(20 * valueBytes);
    // Writing an evicted segment again brings it back with a new change entry.
    const [again] = await store.putSegments([segments[0]!], "local");
    expect(again!.seq).toBe(61);
    expect(store.has(segments[0]!.label)).toBe(true);
    await store.close();
    const report = await auditStore(dir);
    expect(report.inconsistencies).toEqual([]);
    expect(report.checked).toBe(20);
  });

  test("a single write larger than the capacity keeps only what fits, newest last written", async () => {
    const { store } = await fill("lru", 5);
    const segments = makeSegments(12, 25, "random");
    const entries = await store.putSegments(segments, "local");
    expect(entries.length).toBe(12);
    expect(store.count()).toBe(5);
    expect(segments.slice(7).map((s) => store.has(s.label))).toEqual([true, true, true, true, true]);
    expect(store.changesSince(0, 100).map((e) => hex(e.label))).toEqual(segments.slice(7).map((s) => hex(s.label)));
    await store.close();
  });
});
