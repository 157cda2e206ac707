// Verification of received at-rest segments (agent/store/bulk.ts): batches large enough
// for the verify worker are checked there, smaller ones inline; either way a payload
// that does not decode to data hashing to its label fails the call and nothing of it
// is written, and what is written re-hashes on a verified read.
import { afterAll, describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { valueBuffersPooledMax, verifyWorkerSegmentsMin } from "../../agent/store/bulk.ts";
import { openSegmentStore, type StoredSegment } from "../../agent/store/index.ts";
import { makeSegments, removeTempDirs, tempDir } from "./helpers.ts";

afterAll(removeTempDirs);

const open = (dir: string, prepWorker: boolean) =>
  openSegmentStore({ dir, model: "TDM-1000", softwareVersion: "0.1.0", durable: false, prepWorker });

describe("putStored verification (bulk.ts)", () => {
  for (const prepWorker of [true, false]) {
    test(`a large mixed batch (LZ4 and raw) ${prepWorker ? "on the worker" : "inline"}: one bad value refuses the call`, async () => {
      const n = verifyWorkerSegmentsMin * 4;
      const segments = [...makeSegments(n / 2, 21, "text"), ...makeSegments(n / 2, 22, "random")];
      const source = await open(tempDir(), false);
      await source.putSegments(segments, "local");
      const stored: StoredSegment[] = segments.map((s) => source.getStored(s.label)!);
      expect(stored.some((s) => s.encoding === "lz4") && stored.some((s) => s.encoding === "raw")).toBe(true);
      const target = await open(tempDir(), prepWorker);
      for (const bad of [3, n - 2]) {
        const tampered = stored.map((s, i) => (i === bad ? { ...s, payload: new Uint8Array(s.payload) } : s));
        tampered[bad]!.payload[tampered[bad]!.payload.length >> 1]! ^= 0x01;
        const err = await target.putStored(tampered, "peer", { cursor: bad }).then(() => null, (e) => e);
        expect(err).toBeInstanceOf(TandemError);
        expect((err as TandemError).code).toBe("corrupt");
        expect(target.count()).toBe(0);
        expect(target.getMeta("cursor")).toBeUndefined();
      }
      const entries = await target.putStored(stored, "peer", { cursor: n });
      expect(entries.length).toBe(n);
      expect(target.getMeta("cursor")).toBe(n);
      for (const s of segments) expect(target.get(s.label, { verify: true })).toEqual(s.data);
      await source.close();
      await target.close();
    });

    test(`value buffers reused across concurrent batches ${prepWorker ? "on the worker" : "inline"} never mix values`, async () => {
      // More batches in flight than buffers pooled, of differing sizes, each checked
      // byte for byte after all committed: a buffer handed out while its batch was still
      // unwritten would show here as a value of another batch.
      const batches = valueBuffersPooledMax + 4;
      const perRound = batches * verifyWorkerSegmentsMin * 3 / 2;
      const all = makeSegments(perRound * 2, 31, "text");
      const source = await open(tempDir(), false);
      await source.putSegments(all, "local");
      const target = await open(tempDir(), prepWorker);
      // Two rounds: the second lays out its batches in buffers the first gave back.
      for (let at = 0; at < all.length;) {
        const end = at + perRound;
        const calls: Promise<unknown>[] = [];
        for (let b = 0; at < end; b++) {
          const k = Math.min(end - at, verifyWorkerSegmentsMin + ((b * 7) % verifyWorkerSegmentsMin));
          calls.push(target.putStored(all.slice(at, at + k).map((s) => source.getStored(s.label)!), "peer"));
          at += k;
          // A few turns: the call is queued (not yet written) when the next one lays out.
          for (let t = 0; t < 4; t++) await Promise.resolve();
        }
        await Promise.all(calls);
      }
      expect(target.count()).toBe(all.length);
      for (const s of all) expect(target.get(s.label, { verify: true })).toEqual(s.data);
      await source.close();
      await target.close();
    });
  }
});
