// SDR encoder + decoder over real LMDB stores: byte-exact round trips of edge-case
// and random inputs (in random piece sizes), random edits of a base, warm repeats
// collapsing into runs, REQ/REP for what the decoder lacks (segments and runs),
// poisoned DEF/REP refused with nothing stored, and a clear failure naming the
// labels when no peer can supply them. Flushes mid-stream (deliverTail, cutFrame)
// never move a segment boundary: the segments learned and the cost of a warm repeat do
// not depend on where the input went idle.
import { afterAll, describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { SdrDecoder, SdrEncoder } from "../../agent/sdr/index.ts";
import { BodyEncoding, OpType, encodeBody, encodeFrame } from "../../agent/sdr/wire.ts";
import { blake3, chunkAndHash } from "../../wasm/index.ts";
import {
  decodeAll, editRandomly, encodeAll, frameBytes, openStore, randomBytes, removeTempDirs, same, tempDir, textBytes, xorshift,
} from "./helpers.ts";

afterAll(removeTempDirs);

async function pair() {
  const decDir = tempDir();
  const encStore = await openStore();
  const decStore = await openStore(decDir);
  const encoder = new SdrEncoder({ store: encStore });
  const decoder = new SdrDecoder({ store: decStore, fetchMissing: async (labels) => encoder.answer(labels) });
  const close = async () => {
    await encoder.close();
    await decoder.close();
    await encStore.close();
    await decStore.close();
  };
  return { encStore, decStore, decDir, encoder, decoder, close };
}

async function rejection(promise: Promise<unknown>): Promise<TandemError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TandemError);
    return err as TandemError;
  }
  throw new Error("expected a rejection");
}

function labelsOf(data: Uint8Array): Uint8Array[] {
  const { lengths, labels } = chunkAndHash(data);
  return Array.from({ length: lengths.length }, (_, i) => labels.slice(i * 32, i * 32 + 32));
}

describe("SDR round trips", () => {
  test("edge cases: empty, 1 byte, short, huge run, incompressible, text", async () => {
    const p = await pair();
    const inputs: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["one byte", new Uint8Array([42])],
      ["short text", textBytes(100, 1)],
      ["huge run of zeros", new Uint8Array(8 * 1024 * 1024)],
      ["incompressible", randomBytes(3 * 1024 * 1024, 2)],
      ["text", textBytes(2 * 1024 * 1024, 3)],
      ["two-byte pattern", new Uint8Array(1024 * 1024).map((_, i) => (i % 2 ? 0x61 : 0x62))],
    ];
    for (const [name, input] of inputs) {
      const frames = await encodeAll(p.encoder, input);
      const output = await decodeAll(p.decoder, frames);
      expect({ name, same: same(output, input) }).toEqual({ name, same: true });
      if (name === "huge run of zeros") expect(frameBytes(frames)).toBeLessThan(input.length / 1000);
      if (name === "incompressible") expect(frameBytes(frames)).toBeLessThan(input.length * 1.01);
    }
    expect(p.decoder.stats.reqSegments).toBe(0);
    await p.close();
  });

  test("random piece sizes, cold then warm (speculative matching across pieces)", async () => {
    const p = await pair();
    const random = xorshift(7);
    const input = Buffer.concat([textBytes(700_000, 8), randomBytes(300_000, 9), textBytes(500_000, 10)]);
    for (let pass = 0; pass < 3; pass++) {
      const frames: Uint8Array[] = [];
      let at = 0;
      while (at < input.length) {
        const piece = random() < 0.3 ? 1 + Math.floor(random() * 100) : 1 + Math.floor(random() * 60_000);
        frames.push(...(await p.encoder.encode(input.subarray(at, at + piece))));
        at += piece;
        if (random() < 0.05) frames.push(...(await p.encoder.flush()));
      }
      frames.push(...(await p.encoder.flush()));
      expect(same(await decodeAll(p.decoder, frames), input)).toBe(true);
    }
    expect(p.encoder.stats.speculatedSegments).toBeGreaterThan(0);
    expect(p.decoder.stats.runMisses).toBe(0);
    await p.close();
  });

  test("random edits (insert, delete, flip) of a base round-trip and cost little", async () => {
    const p = await pair();
    const random = xorshift(21);
    const base = Buffer.concat([textBytes(600_000, 22), randomBytes(400_000, 23)]);
    const coldBytes = frameBytes(await encodeAll(p.encoder, base).then(async (frames) => {
      expect(same(await decodeAll(p.decoder, frames), base)).toBe(true);
      return frames;
    }));
    for (let round = 0; round < 6; round++) {
      const edited = editRandomly(base, random, 1 + Math.floor(random() * 20));
      const frames = await encodeAll(p.encoder, edited, 1 + Math.floor(random() * 200_000));
      expect(same(await decodeAll(p.decoder, frames), edited)).toBe(true);
      expect(frameBytes(frames)).toBeLessThan(coldBytes / 10);
    }
    expect(p.encoder.stats.deltaSegments).toBeGreaterThan(0);
    expect(p.decoder.stats.deltaSegments).toBe(p.encoder.stats.deltaSegments);
    await p.close();
  });

  test("known content in a new order: pieces found by prefix, round trip exact and small", async () => {
    const p = await pair();
    const parts = [0, 1, 2, 3, 4, 5].map((i) => (i % 2 ? randomBytes(300_000, 90 + i) : textBytes(300_000, 90 + i)));
    await decodeAll(p.decoder, await encodeAll(p.encoder, Buffer.concat(parts)));
    const shuffled = Buffer.concat([parts[3]!, parts[0]!, parts[5]!, parts[1]!, parts[4]!, parts[2]!]);
    const frames = await encodeAll(p.encoder, shuffled);
    expect(same(await decodeAll(p.decoder, frames), shuffled)).toBe(true);
    expect(frameBytes(frames)).toBeLessThan(shuffled.length / 20);
    expect(p.encoder.stats.speculatedSegments).toBeGreaterThan(0);
    await p.close();
  });

  test("a store that fails writes costs savings, not the stream", async () => {
    const p = await pair();
    const failures: unknown[] = [];
    const failing = Object.create(p.decStore, {
      putSegments: { value: async () => { throw new TandemError("storeFull", "disk full (test)"); } },
    });
    const decoder = new SdrDecoder({ store: failing, fetchMissing: async (l) => p.encoder.answer(l), onStoreError: (err) => failures.push(err) });
    const input = textBytes(400_000, 95);
    expect(same(await decodeAll(decoder, await encodeAll(p.encoder, input)), input)).toBe(true);
    await decoder.close();
    expect(failures.length).toBeGreaterThan(0);
    expect((failures[0] as TandemError).code).toBe("storeFull");
    // Without a handler the stream still goes on, and close() reports the failure.
    const encoder = new SdrEncoder({ store: p.encStore });
    const strict = new SdrDecoder({ store: failing, fetchMissing: async (l) => encoder.answer(l) });
    const frames = await encodeAll(encoder, textBytes(400_000, 96));
    await encoder.close();
    expect(same(await decodeAll(strict, frames), textBytes(400_000, 96))).toBe(true);
    const err = await rejection(strict.close());
    expect(err.code).toBe("storeFull");
    await p.close();
  });

  test("flush points move no boundary: same segments learned, a warm repeat with other flush points sends nothing new", async () => {
    const p = await pair();
    const random = xorshift(71);
    const input = Buffer.concat([textBytes(500_000, 72), randomBytes(400_000, 73), textBytes(300_000, 74)]);
    const pass = async () => {
      const frames: Uint8Array[] = [];
      let at = 0;
      while (at < input.length) {
        const piece = random() < 0.3 ? 1 + Math.floor(random() * 300) : 1 + Math.floor(random() * 40_000);
        frames.push(...(await p.encoder.encode(input.subarray(at, at + piece))));
        at += piece;
        const r = random();
        if (r < 0.15) frames.push(...(await p.encoder.deliverTail()));
        else if (r < 0.2) frames.push(...(await p.encoder.cutFrame()));
      }
      frames.push(...(await p.encoder.flush()));
      expect(same(await decodeAll(p.decoder, frames), input)).toBe(true);
      return frames;
    };
    await pass();
    expect(p.encoder.stats.literalBytes).toBeGreaterThan(0);
    // Exactly the segments of one uninterrupted cut, on both sides.
    const labels = labelsOf(input);
    const distinct = new Set(labels.map((l) => Buffer.from(l).toString("hex"))).size;
    await p.encoder.close();
    await p.decoder.close();
    for (const store of [p.encStore, p.decStore]) expect(labels.every((l) => store.has(l))).toBe(true);
    expect(p.decStore.count()).toBe(distinct);
    const encoder = new SdrEncoder({ store: p.encStore });
    const decoder = new SdrDecoder({ store: p.decStore, fetchMissing: async (l) => encoder.answer(l) });
    Object.assign(p, { encoder, decoder });
    for (let round = 0; round < 3; round++) {
      const frames = await pass();
      expect(frameBytes(frames)).toBeLessThan(input.length / 200);
    }
    expect(encoder.stats.headBytes).toBeGreaterThan(0);
    expect(encoder.stats.defSegments + encoder.stats.deltaSegments).toBe(0);
    expect(decoder.stats.reqSegments).toBe(0);
    expect(p.decStore.count()).toBe(distinct);
    await p.close();
  });

  test("frames compressed on the thread pool while later ones are encoded leave in wire order, all by the flush", async () => {
    const encStore = await openStore();
    const decStore = await openStore();
    // Small frames (64 KiB bodies, above zstd's synchronous size) so many are in the
    // compression pipeline at once; pieces of varied size between them.
    const encoder = new SdrEncoder({ store: encStore, frameBodyBytesTarget: 64 * 1024 });
    const decoder = new SdrDecoder({ store: decStore, fetchMissing: async (labels) => encoder.answer(labels) });
    const random = xorshift(77);
    const data = new Uint8Array(Buffer.concat([textBytes(3 << 20, 5), randomBytes(1 << 20, 6), textBytes(2 << 20, 7)]));
    const frames: Uint8Array[] = [];
    let returnedEarly = 0;
    for (let at = 0; at < data.length;) {
      const n = 1 + Math.floor(random() * 200_000);
      const out = await encoder.encode(data.subarray(at, at + n));
      returnedEarly += out.length;
      frames.push(...out);
      at += n;
    }
    frames.push(...(await encoder.flush()));
    expect(returnedEarly).toBeGreaterThan(0);
    expect(frames.length).toBe(encoder.stats.frames);
    expect(frameBytes(frames)).toBe(encoder.stats.outputBytes);
    expect(same(await decodeAll(decoder, frames), data)).toBe(true);
    await encoder.close();
    await decoder.close();
    await encStore.close();
    await decStore.close();
  });

  test("warm repeat collapses into runs: >= 500x", async () => {
    const p = await pair();
    const input = randomBytes(4 * 1024 * 1024, 31);
    await decodeAll(p.decoder, await encodeAll(p.encoder, input));
    const frames = await encodeAll(p.encoder, input);
    expect(same(await decodeAll(p.decoder, frames), input)).toBe(true);
    expect(input.length / frameBytes(frames)).toBeGreaterThanOrEqual(500);
    expect(p.encoder.stats.runRefs).toBeGreaterThan(0);
    expect(p.decoder.stats.reqSegments).toBe(0);
    await p.close();
  });
});

describe("SDR REQ/REP and refusals", () => {
  test("a decoder that lacks everything fetches runs and segments from the encoder", async () => {
    const p = await pair();
    // Internal repeats break the successor chain, so the repeat goes as several runs.
    const [x, y, z] = [textBytes(300_000, 41), randomBytes(300_000, 42), textBytes(300_000, 43)];
    const input = Buffer.concat([x, y, x, z, y, x]);
    await decodeAll(p.decoder, await encodeAll(p.encoder, input));
    // A new channel from the same appliance to a fresh peer: runs its records cannot expand.
    const freshStore = await openStore();
    const encoder = new SdrEncoder({ store: p.encStore });
    let reqs = 0;
    const decoder = new SdrDecoder({ store: freshStore, fetchMissing: async (labels) => (reqs++, encoder.answer(labels)) });
    const frames = await encodeAll(encoder, input);
    expect(encoder.stats.runRefs).toBeGreaterThan(1);
    expect(same(await decodeAll(decoder, frames), input)).toBe(true);
    // At most one REQ for the runs and one for the segments of each frame.
    expect(reqs).toBeLessThanOrEqual(2 * frames.length);
    expect(decoder.stats.runMisses).toBeGreaterThan(0);
    expect(decoder.stats.reqSegments).toBeGreaterThan(0);
    await encoder.close();
    await decoder.close();
    expect(freshStore.count()).toBe(new Set(labelsOf(input).map((l) => Buffer.from(l).toString("hex"))).size);
    await freshStore.close();
    await p.close();
  });

  test("a run from a peer whose chain lags ours (it never saw our newer links) expands from the previous successors, without a REQ", async () => {
    // The branch (decoder) learned S1 then S2 from the master; the backup learned S1
    // only. In S2 the pieces x and y are followed by other data, so the branch's links
    // out of x's and y's last segments moved on: two forks in the backup's run for S1.
    const [a, x, b, y, c, d, z, w] = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => randomBytes(60_000, 700 + n));
    const s1 = new Uint8Array(Buffer.concat([a!, x!, b!, y!, c!]));
    const s2 = new Uint8Array(Buffer.concat([d!, x!, z!, y!, w!]));
    const master = await pair();
    for (const input of [s1, s2]) expect(same(await decodeAll(master.decoder, await encodeAll(master.encoder, input)), input)).toBe(true);
    const backupStore = await openStore();
    const learnS1 = new SdrEncoder({ store: backupStore });
    await encodeAll(learnS1, s1);
    await learnS1.close();
    const backup = new SdrEncoder({ store: backupStore });
    let reqs = 0;
    const decoder = new SdrDecoder({ store: master.decStore, fetchMissing: async (labels) => (reqs++, backup.answer(labels)) });
    const frames = await encodeAll(backup, s1);
    expect(backup.stats.runRefs).toBeGreaterThan(0);
    expect(same(await decodeAll(decoder, frames), s1)).toBe(true);
    expect({ reqs, runMisses: decoder.stats.runMisses }).toEqual({ reqs: 0, runMisses: 0 });
    await backup.close();
    await decoder.close();
    await backupStore.close();
    await master.close();
  });

  test("a segment repeated with two successors does not break a warm run: the RUN op lists the fork, the links stay put", async () => {
    // x appears twice, followed by b then by d: the link out of x's last segment has a
    // successor and a previous one. A warm pass steps over that fork inside one run.
    const [a, x, b, c, d, e] = [1, 2, 3, 4, 5, 6].map((n) => randomBytes(60_000, 800 + n));
    const input = new Uint8Array(Buffer.concat([a!, x!, b!, c!, x!, d!, e!]));
    const p = await pair();
    expect(same(await decodeAll(p.decoder, await encodeAll(p.encoder, input)), input)).toBe(true);
    for (let pass = 0; pass < 2; pass++) {
      const encoder = new SdrEncoder({ store: p.encStore });
      let reqs = 0;
      const decoder = new SdrDecoder({ store: p.decStore, fetchMissing: async (labels) => (reqs++, encoder.answer(labels)) });
      const frames = await encodeAll(encoder, input);
      expect(same(await decodeAll(decoder, frames), input)).toBe(true);
      const single = encoder.stats.refSegments - encoder.stats.runSegments;
      expect({ runRefs: encoder.stats.runRefs, single, defs: encoder.stats.defSegments, reqs, runMisses: decoder.stats.runMisses })
        .toEqual({ runRefs: 1, single: 0, defs: 0, reqs: 0, runMisses: 0 });
      await encoder.close();
      await decoder.close();
    }
    await p.close();
  });

  test("answer() serves recently referenced segments after the store evicted them", async () => {
    const p = await pair();
    const input = randomBytes(1_000_000, 51);
    await decodeAll(p.decoder, await encodeAll(p.encoder, input));
    const labels = labelsOf(input);
    await p.encStore.deleteSegments(labels);
    expect(p.encStore.has(labels[0]!)).toBe(false);
    const reply = p.encoder.answer(labels);
    expect(reply.length).toBe(labels.length);
    for (const { label, data } of reply) expect(same(blake3(data), label)).toBe(true);
    await p.close();
  });

  test("with no peer to ask, a missing segment fails naming its labels and count", async () => {
    const p = await pair();
    const input = randomBytes(600_000, 61);
    await decodeAll(p.decoder, await encodeAll(p.encoder, input));
    const labels = labelsOf(input);
    // The decoder side keeps its successor records but loses the segments (and,
    // reopened, its in-memory cache of them).
    await p.decoder.close();
    await p.decStore.deleteSegments(labels);
    await p.decStore.close();
    const decStore = await openStore(p.decDir);
    const encoder = new SdrEncoder({ store: p.encStore });
    const decoder = new SdrDecoder({ store: decStore, fetchMissing: async () => [] });
    const frames = await encodeAll(encoder, input);
    const err = await rejection(decodeAll(decoder, frames));
    expect(err.code).toBe("missingSegment");
    expect(err.message).toContain(`${labels.length} segments missing`);
    expect(err.message).toContain(Buffer.from(labels[0]!).toString("hex"));
    expect((err.detail as { count: number }).count).toBe(labels.length);
    expect(decStore.count()).toBe(0);
    await encoder.close();
    await decoder.close();
    await decStore.close();
    await p.encoder.close();
    await p.encStore.close();
  });

  test("a poisoned DEF is refused and nothing is stored", async () => {
    const store = await openStore();
    const decoder = new SdrDecoder({ store, fetchMissing: async () => [] });
    const good = textBytes(5000, 71);
    const poisoned = good.slice();
    poisoned[100] = poisoned[100]! ^ 1;
    const label = blake3(good);
    const body = encodeBody([
      { type: OpType.def, label: blake3(textBytes(4000, 72)), data: textBytes(4000, 72) },
      { type: OpType.def, label, data: poisoned },
    ]);
    const err = await rejection(decoder.decode(encodeFrame({ encoding: BodyEncoding.raw, bodyBytes: body.length, body })));
    expect(err.code).toBe("corrupt");
    expect(err.message).toContain(Buffer.from(label).toString("hex"));
    expect(store.has(label)).toBe(false);
    expect(store.count()).toBe(0);
    await decoder.close();
    await store.close();
  });

  test("a poisoned REP is refused; labels nobody asked for are ignored", async () => {
    const store = await openStore();
    const wanted = textBytes(5000, 81);
    const label = blake3(wanted);
    const intruder = textBytes(3000, 82);
    const body = encodeBody([{ type: OpType.ref, label }]);
    const frame = () => encodeFrame({ encoding: BodyEncoding.raw, bodyBytes: body.length, body });

    const lying = new SdrDecoder({ store, fetchMissing: async () => [{ label, data: textBytes(5000, 83) }] });
    expect((await rejection(lying.decode(frame()))).code).toBe("corrupt");
    await lying.close();

    const honest = new SdrDecoder({
      store,
      fetchMissing: async () => [{ label: blake3(intruder), data: intruder }, { label, data: wanted }],
    });
    const out = await honest.decode(frame());
    expect(same(new Uint8Array(Buffer.concat(out)), wanted)).toBe(true);
    await honest.close();
    expect(store.has(label)).toBe(true);
    expect(store.has(blake3(intruder))).toBe(false);
    await store.close();
  });

  test("HEAD and DELIVERED ops that overrun their segment are refused as badFrame", async () => {
    const p = await pair();
    const input = randomBytes(100_000, 81);
    await decodeAll(p.decoder, await encodeAll(p.encoder, input));
    const first = labelsOf(input)[0]!;
    const length = chunkAndHash(input).lengths[0]!;
    const frame = (ops: Parameters<typeof encodeBody>[0]) => {
      const body = encodeBody(ops);
      return encodeFrame({ encoding: BodyEncoding.raw, bodyBytes: body.length, body });
    };
    const ok = await p.decoder.decode(frame([{ type: OpType.head, label: first, offset: 10, length: 20 }]));
    expect(same(new Uint8Array(Buffer.concat(ok)), input.subarray(10, 30))).toBe(true);
    const skipped = await p.decoder.decode(frame([{ type: OpType.delivered, bytes: 100 }, { type: OpType.ref, label: first }]));
    expect(same(new Uint8Array(Buffer.concat(skipped)), input.subarray(100, length))).toBe(true);
    const over = await rejection(p.decoder.decode(frame([{ type: OpType.head, label: first, offset: length - 5, length: 6 }])));
    expect(over.code).toBe("badFrame");
    const tooMany = await rejection(p.decoder.decode(frame([{ type: OpType.delivered, bytes: length + 1 }, { type: OpType.ref, label: first }])));
    expect(tooMany.code).toBe("badFrame");
    await p.close();
  });

  test("garbage frames are refused as badFrame", async () => {
    const store = await openStore();
    const decoder = new SdrDecoder({ store, fetchMissing: async () => [] });
    expect((await rejection(decoder.decode(new Uint8Array([1, 2, 3])))).code).toBe("badFrame");
    const body = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9, 9]);
    const err = await rejection(decoder.decode(encodeFrame({ encoding: BodyEncoding.zstdStream, bodyBytes: 100, body })));
    expect(err.code).toBe("badFrame");
    expect(err.message).toMatch(/decompress/);
    await decoder.close();
    await store.close();
  });
});
