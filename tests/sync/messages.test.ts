// The sync message codecs: every message round-trips through msgpack framing, and
// hostile or malformed maps fail with TandemError("badFrame"), never anything else.
import { describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { KeyIndex } from "../../agent/sync/keyindex.ts";
import { fromWire, segsPerMessageMax, toWire, type SyncMessage } from "../../agent/sync/messages.ts";
import { BulkMessage, encodeFrame, FrameReader } from "../../agent/wire/framing.ts";
import { Rng } from "./simworld.ts";

const label = (n: number) => new Uint8Array(32).fill(n);
const seg = { label: label(1), encoding: "raw" as const, rawBytes: 3, payload: new Uint8Array([1, 2, 3]) };

const samples: SyncMessage[] = [
  { t: "state", storeId: "s", generation: "g", peerGeneration: null, initialDone: false, initGeneration: "m", initCursor: 12345, recvGeneration: "p", recvSeq: 7, count: 9, lastSeq: 10, storedBytes: 100 },
  { t: "rep", throughSeq: 5, segs: [seg] },
  { t: "ack", throughSeq: 5, corrupt: [label(2)] },
  { t: "rc.fp", id: 3, mode: "union", bits: 2, from: 1, to: 3, fps: new Uint8Array(12) },
  { t: "rc.keys", id: 3, buckets: Uint32Array.from([1, 2]), counts: Uint32Array.from([1, 0]), prefixes: new Uint8Array(8), last: true },
  { t: "rc.want", id: 3, want: new Uint8Array(16), drop: new Uint8Array(0), last: true },
  { t: "rc.push", id: 3, segs: [seg] },
  { t: "rc.pushed", id: 3 },
  { t: "rc.end", id: 3, cursor: null },
  { t: "rc.wdone", id: 3 },
  { t: "rc.endack", id: 3, evicted: [] },
  { t: "rc.del", id: 0, prefixes: new Uint8Array(8) },
  { t: "init.done", storeId: "s", generation: "g" },
  { t: "init.ack", generation: "g" },
  { t: "fetch", labels: [label(3)] },
  { t: "fetched", segs: [seg] },
];

function roundTrip(m: SyncMessage): SyncMessage {
  const [e] = new FrameReader().push(encodeFrame(toWire(m)));
  if (!e || e.heartbeat) throw new Error("no frame");
  return fromWire(e.message);
}

function badFrame(v: unknown): boolean {
  try {
    fromWire(v);
    return false;
  } catch (err) {
    if (!(err instanceof TandemError)) throw err;
    return err.code === "badFrame";
  }
}

describe("sync messages", () => {
  test("every message round-trips through a frame", () => {
    for (const m of samples) {
      const back = roundTrip(m) as unknown as Record<string, unknown>;
      expect(back.t).toBe(m.t);
      expect(JSON.stringify(back, (_k, v) => (v instanceof Uint8Array || v instanceof Uint32Array ? [...v] : v)))
        .toBe(JSON.stringify(m, (_k, v) => (v instanceof Uint8Array || v instanceof Uint32Array ? [...v] : v)));
    }
  });

  test("malformed fields are badFrame", () => {
    expect(badFrame(null)).toBe(true);
    expect(badFrame({ t: "nope" })).toBe(true);
    expect(badFrame(new BulkMessage({ t: "rep", throughSeq: -1, segs: [] }, [new Uint8Array(0)]))).toBe(true);
    expect(badFrame(new BulkMessage({ t: "rep", throughSeq: 1, segs: [{ l: new Uint8Array(31), e: 0, r: 1, n: 1 }] }, [new Uint8Array(1)]))).toBe(true);
    expect(badFrame(new BulkMessage({ t: "rep", throughSeq: 1, segs: [{ l: label(1), e: 0, r: 2, n: 1 }] }, [new Uint8Array(1)]))).toBe(true);
    expect(badFrame({ t: "rc.fp", id: 1, mode: "union", bits: 30, from: 0, to: 1, fps: new Uint8Array(6) })).toBe(true);
    expect(badFrame({ t: "rc.fp", id: 1, mode: "union", bits: 2, from: 0, to: 2, fps: new Uint8Array(6) })).toBe(true);
    expect(badFrame({ t: "rc.keys", id: 1, buckets: new Uint8Array(4), counts: new Uint8Array(4), prefixes: new Uint8Array(0), last: true })).toBe(false);
    expect(badFrame({ t: "rc.keys", id: 1, buckets: new Uint8Array(4), counts: new Uint8Array([0, 0, 0, 2]), prefixes: new Uint8Array(8), last: true })).toBe(true);
    expect(badFrame({ t: "state", storeId: "x".repeat(1000), generation: "g" })).toBe(true);
  });

  test("segment messages: payloads only in the bulk, lengths adding up exactly, bounded", () => {
    const head = (segs: unknown[]) => ({ t: "rep", throughSeq: 1, segs });
    const entry = (n: number, r = n) => ({ l: label(1), e: 0, r, n });
    const bulk = (n: number) => [new Uint8Array(n)];
    expect(badFrame(new BulkMessage(head([entry(3), entry(2)]), bulk(5)))).toBe(false);
    expect(badFrame(new BulkMessage({ t: "fetched", segs: [entry(3)] }, bulk(3)))).toBe(false);
    expect(badFrame(new BulkMessage({ t: "rc.push", id: 2, segs: [] }, bulk(0)))).toBe(false);
    // The plain msgpack form of an earlier protocol, with the payload inline: refused.
    expect(badFrame({ t: "rep", throughSeq: 1, segs: [{ l: label(1), e: 0, r: 1, p: new Uint8Array(1) }] })).toBe(true);
    expect(badFrame({ t: "fetched", segs: [] })).toBe(true);
    // Lengths short of, or past, the bytes sent; a missing or absurd length.
    expect(badFrame(new BulkMessage(head([entry(3), entry(2)]), bulk(6)))).toBe(true);
    expect(badFrame(new BulkMessage(head([entry(3), entry(2)]), bulk(4)))).toBe(true);
    expect(badFrame(new BulkMessage(head([{ l: label(1), e: 1, r: 5 }]), bulk(0)))).toBe(true);
    expect(badFrame(new BulkMessage(head([{ l: label(1), e: 1, r: 5, n: 2 ** 40 }]), bulk(5)))).toBe(true);
    expect(badFrame(new BulkMessage(head([entry(3)]), [new Uint8Array(1), new Uint8Array(1)]))).toBe(true);
    expect(badFrame(new BulkMessage(head([entry(3)]), [new Uint8Array(1), new Uint8Array(3)]))).toBe(true);
    expect(badFrame(new BulkMessage(head([entry(3)]), [new Uint8Array(3), "x" as unknown as Uint8Array]))).toBe(true);
    // Only segment messages carry a bulk; the segment count is bounded.
    expect(badFrame(new BulkMessage({ t: "ack", throughSeq: 1, corrupt: [] }, bulk(0)))).toBe(true);
    expect(badFrame(new BulkMessage(head(Array.from({ length: segsPerMessageMax + 1 }, () => entry(0, 0))), bulk(0)))).toBe(true);
    expect(badFrame(new BulkMessage(head(Array.from({ length: segsPerMessageMax }, () => entry(0, 0))), bulk(0)))).toBe(false);
  });

  test("payloads cut by the pieces a bulk arrived in come back whole", () => {
    const payloads = [5, 1, 0, 9, 4, 7].map((n, i) => Uint8Array.from({ length: n }, (_, k) => i * 16 + k));
    const joined = new Uint8Array(payloads.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of payloads) (joined.set(p, at), (at += p.length));
    const m = toWire({ t: "rep", throughSeq: 9, segs: payloads.map((p) => ({ label: label(4), encoding: "lz4" as const, rawBytes: 50, payload: p })) }) as BulkMessage;
    for (const cuts of [[], [1], [3, 4, 5, 6], [0, 2, 2, 20], Array.from({ length: joined.length }, (_, i) => i)]) {
      const pieces: Uint8Array[] = [];
      let from = 0;
      for (const c of [...cuts, joined.length]) (pieces.push(joined.subarray(from, c)), (from = c));
      const back = fromWire(new BulkMessage(m.head, pieces)) as { segs: Array<{ payload: Uint8Array }> };
      expect(back.segs.map((s) => [...s.payload])).toEqual(payloads.map((p) => [...p]));
    }
  });

  test("bulk frames: the head's length must lie inside the frame", () => {
    const frame = (body: number[]) => new Uint8Array([0, 0, 0, body.length, ...body]);
    for (const body of [[0xc1], [0xc1, 0, 0, 0], [0xc1, 0, 0, 0, 9, 0x90], [0xc1, 0, 0, 0, 2, 0x90]]) {
      let err: unknown;
      try {
        new FrameReader().push(frame(body));
      } catch (e) {
        err = e;
      }
      expect((err as TandemError).code).toBe("badFrame");
    }
    // A bulk frame whose head is one value and whose bulk is empty decodes.
    const [e] = new FrameReader().push(frame([0xc1, 0, 0, 0, 1, 0x90]));
    expect(e && !e.heartbeat && e.message instanceof BulkMessage).toBe(true);
  });

  test("random garbage never escapes as anything but badFrame", () => {
    const rng = new Rng(7);
    const atoms = [null, true, 1, -1, 2 ** 40, "x", new Uint8Array(8), new Uint8Array(32), [], {}];
    for (let i = 0; i < 5000; i++) {
      const m: Record<string, unknown> = { t: samples[rng.int(samples.length)]!.t };
      for (const k of ["id", "segs", "throughSeq", "bits", "from", "to", "fps", "want", "drop", "last", "labels", "storeId", "generation", "cursor", "prefixes", "buckets", "counts", "mode", "corrupt", "evicted"]) {
        if (rng.chance(0.5)) m[k] = atoms[rng.int(atoms.length)];
      }
      for (const v of [m, new BulkMessage(m, [new Uint8Array(rng.int(3) * 8)])]) {
        try {
          fromWire(v);
        } catch (err) {
          expect(err).toBeInstanceOf(TandemError);
          expect((err as TandemError).code).toBe("badFrame");
        }
      }
    }
  });

  test("key index fingerprints fold consistently", () => {
    const idx = new KeyIndex(10);
    const rng = new Rng(3);
    const labels = Array.from({ length: 500 }, () => Uint8Array.from({ length: 32 }, () => rng.int(256)));
    for (const l of labels) idx.add(l);
    const coarse = idx.fingerprints(4, 0, 16);
    for (const l of labels.slice(0, 10)) idx.remove(l);
    for (const l of labels.slice(0, 10)) idx.add(l);
    expect(idx.fingerprints(4, 0, 16)).toEqual(coarse);
    idx.remove(labels[0]!);
    expect(idx.fingerprints(4, 0, 16)).not.toEqual(coarse);
    expect(idx.total).toBe(499);
    expect(idx.bitsFor(1_000_000)).toBe(10);
  });
});
