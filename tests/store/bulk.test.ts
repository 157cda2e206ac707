// Verification of received at-rest segments (agent/store/bulk.ts): batches large enough
// for the verify worker are checked there, smaller ones inline; either way a payload
// that does not decode to data hashing to its label fails the call and nothing of it
// is written, and what is written re-hashes on a verified read.
import { afterAll, describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { verifyWorkerSegmentsMin } from "../../agent/store/bulk.ts";
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
  }
});
