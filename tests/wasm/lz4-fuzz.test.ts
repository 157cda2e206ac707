// Seeded fuzzing of the LZ4 decoders with hostile input: thousands of mutated,
// truncated and spliced blocks and frames. Every case must end in a precise error or
// in output within its bound. At kernel level the test also proves that nothing is
// written outside the output window: guard bytes around it, the dictionary and the
// input must come back untouched. Where our decoder accepts a block, lz4_flex (an
// independent implementation) must decode it to the same bytes.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as lz4Flex from "lz4-wasm-nodejs";
import { arena, kernels } from "../../wasm/loader.ts";
import {
  Lz4FrameDecoder, lz4CompressBlock, lz4DecompressBlock, lz4FrameCompress, lz4FrameDecompress,
} from "../../wasm/lz4.ts";
import { TandemError } from "../../agent/errors.ts";
import { packageTar } from "../bench/corpus.ts";

const realTar = readFileSync(packageTar("typescript", "5.7.2"));
const blockCases = 6000;
const frameCases = 2500;
const guardBytes = 64;
/** Generous: the machine is shared; a hang would still be caught. */
const fuzzTimeoutMs = 120_000;

/** mulberry32: small, seeded, good enough to drive mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(random: () => number): Uint8Array {
  const kind = Math.floor(random() * 5);
  const length = Math.floor(random() * 20000);
  if (kind === 0) return Uint8Array.from({ length }, () => Math.floor(random() * 256));
  if (kind === 1) return new Uint8Array(length);
  if (kind === 2) {
    const period = 1 + Math.floor(random() * 9);
    return Uint8Array.from({ length }, (_, i) => (i % period) * 37);
  }
  const offset = Math.floor(random() * (realTar.length - length));
  return realTar.subarray(offset, offset + length);
}

function splice(out: Uint8Array, at: number, deleteCount: number, insert: Uint8Array): Uint8Array {
  const end = Math.min(out.length, at + deleteCount);
  const next = new Uint8Array(at + insert.length + (out.length - end));
  next.set(out.subarray(0, at), 0);
  next.set(insert, at);
  next.set(out.subarray(end), at + insert.length);
  return next;
}

function mutate(block: Uint8Array, random: () => number): Uint8Array {
  let out: Uint8Array = Uint8Array.from(block);
  const rounds = 1 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(random() * Math.max(1, out.length));
    switch (Math.floor(random() * 7)) {
      case 0: // flip a bit
        if (out.length > 0) out[at] = out[at]! ^ (1 << Math.floor(random() * 8));
        break;
      case 1: // an extreme byte: 0 and 255 hit offset-0 and length-varint paths
        if (out.length > 0) out[at] = [0, 0xff, 0xf0, 0x0f, 0x1f][Math.floor(random() * 5)]!;
        break;
      case 2: // truncate
        out = out.subarray(0, at);
        break;
      case 3: // insert random bytes
        out = splice(out, at, 0, Uint8Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 256)));
        break;
      case 4: // delete a range
        out = splice(out, at, 1 + Math.floor(random() * 16), new Uint8Array(0));
        break;
      case 5: // duplicate a range
        out = splice(out, at, 0, out.slice(at, at + 1 + Math.floor(random() * 64)));
        break;
      default: // a run of 0xff: huge length varints
        out = splice(out, at, 0, new Uint8Array(1 + Math.floor(random() * 300)).fill(0xff));
    }
  }
  return out;
}

/**
 * Runs the kernel on `src` with guard bytes around [dictionary | output] and checks
 * that input, dictionary and guards survive. Returns the kernel's result.
 */
function guardedDecode(src: Uint8Array, rawBytesMax: number, dict: Uint8Array): number {
  arena.reset();
  const srcPtr = arena.reserve(src.length + 2 * guardBytes) + guardBytes;
  const regionPtr = arena.reserve(guardBytes + dict.length + rawBytesMax + guardBytes);
  const memory = arena.bytes();
  memory.fill(0x5a, srcPtr - guardBytes, srcPtr + src.length + guardBytes);
  memory.set(src, srcPtr);
  memory.fill(0xa5, regionPtr, regionPtr + guardBytes + dict.length + rawBytesMax + guardBytes);
  memory.set(dict, regionPtr + guardBytes);
  const outPtr = regionPtr + guardBytes + dict.length;
  const result = kernels.lz4DecompressSafe(srcPtr, src.length, outPtr, rawBytesMax, dict.length) as number;
  const after = arena.bytes();
  const intact = (from: number, length: number, value: number) => after.subarray(from, from + length).every((b) => b === value);
  if (!intact(regionPtr, guardBytes, 0xa5) || !intact(outPtr + rawBytesMax, guardBytes, 0xa5)) throw new Error("write outside the output window");
  if (Buffer.compare(after.subarray(regionPtr + guardBytes, outPtr), dict) !== 0) throw new Error("dictionary overwritten");
  if (Buffer.compare(after.subarray(srcPtr, srcPtr + src.length), src) !== 0) throw new Error("input overwritten");
  if (!intact(srcPtr - guardBytes, guardBytes, 0x5a) || !intact(srcPtr + src.length, guardBytes, 0x5a)) throw new Error("input guards overwritten");
  if (result > rawBytesMax || (result < 0 && result < -9)) throw new Error(`kernel returned ${result} for rawBytesMax ${rawBytesMax}`);
  return result;
}

describe("LZ4 block compressors on seeded random inputs", () => {
  test("every (data, dictionary, mode) combination round-trips within the bound", () => {
    const random = rng(4711);
    for (let i = 0; i < 1500; i++) {
      const data = sample(random).slice(); // a copy: samples may be views of the corpus
      const dict = random() < 0.5 ? sample(random) : new Uint8Array(0);
      // Splice dictionary bytes into the data so matches into the dictionary occur.
      if (dict.length > 100 && data.length > 100) {
        const from = Math.floor(random() * (dict.length - 50));
        data.set(dict.subarray(from, from + 50), Math.floor(random() * (data.length - 50)));
      }
      const highCompression = random() < 0.25;
      const packed = lz4CompressBlock(data, { dictionary: dict, highCompression });
      expect(packed.length).toBeLessThanOrEqual(data.length + Math.floor(data.length / 255) + 16);
      const unpacked = lz4DecompressBlock(packed, data.length, dict);
      expect(Buffer.compare(Buffer.from(unpacked), Buffer.from(data))).toBe(0);
    }
  }, fuzzTimeoutMs);
});

describe("LZ4 block decoder under hostile input", () => {
  test(`${blockCases} mutated, truncated and random blocks: error or bounded output, no stray writes`, () => {
    const random = rng(20261122);
    let accepted = 0, rejected = 0, flexChecked = 0;
    for (let i = 0; i < blockCases; i++) {
      const data = sample(random);
      const useDict = random() < 0.3;
      const dict = useDict ? sample(random).subarray(0, 65536) : new Uint8Array(0);
      let block: Uint8Array;
      if (random() < 0.05) block = Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256));
      else block = mutate(lz4CompressBlock(data, { dictionary: dict, highCompression: random() < 0.2 }), random);
      const rawBytesMax = random() < 0.2 ? Math.floor(random() * (data.length + 1)) : data.length + Math.floor(random() * 64);

      const result = guardedDecode(block, rawBytesMax, dict);
      // The public wrapper agrees with the kernel.
      let wrapped: Uint8Array | TandemError;
      try {
        wrapped = lz4DecompressBlock(block, rawBytesMax, dict);
      } catch (err) {
        if (!(err instanceof TandemError) || err.code !== "corrupt") throw err;
        wrapped = err;
      }
      if (result < 0) {
        rejected++;
        expect(wrapped).toBeInstanceOf(TandemError);
        continue;
      }
      accepted++;
      expect(wrapped).toBeInstanceOf(Uint8Array);
      expect((wrapped as Uint8Array).length).toBe(result);
      if (!useDict && result > 0 && flexChecked < 1500) {
        const prefixed = new Uint8Array(4 + block.length);
        new DataView(prefixed.buffer).setUint32(0, result, true);
        prefixed.set(block, 4);
        let theirs: Uint8Array | undefined;
        try {
          theirs = lz4Flex.decompress(prefixed);
        } catch {
          theirs = undefined; // lz4_flex is stricter about some end conditions; only agreement on success counts
        }
        if (theirs && theirs.length === result) {
          flexChecked++;
          expect(Buffer.compare(Buffer.from(theirs), Buffer.from(wrapped as Uint8Array))).toBe(0);
        }
      }
    }
    // Both outcomes must actually occur, or the fuzzer is not exercising the decoder.
    expect(rejected).toBeGreaterThan(blockCases / 4);
    expect(accepted).toBeGreaterThan(blockCases / 20);
    expect(flexChecked).toBeGreaterThan(50);
  }, fuzzTimeoutMs);

  test("every truncation of a real block is an error, never a partial success past the bound", () => {
    const data = realTar.subarray(400000, 416384);
    const block = lz4CompressBlock(data);
    for (let length = 0; length < block.length; length++) {
      const result = guardedDecode(block.subarray(0, length), data.length, new Uint8Array(0));
      // A prefix can only decode if it ends exactly after a literal run; then it is shorter.
      if (result >= 0) expect(result).toBeLessThan(data.length);
    }
    expect(guardedDecode(block, data.length, new Uint8Array(0))).toBe(data.length);
  });
});

describe("LZ4 frame decoder under hostile input", () => {
  test(`${frameCases} mutated and truncated frames: error or bounded output`, () => {
    const random = rng(777);
    const frames: { frame: Uint8Array; raw: Uint8Array }[] = [];
    const optionSets = [
      {}, { blockBytes: 65536, blockChecksum: true }, { blockBytes: 65536, linkedBlocks: true },
      { contentChecksum: false, blockBytes: 65536 }, { highCompression: true, blockBytes: 65536, linkedBlocks: true },
    ];
    for (let i = 0; i < 12; i++) {
      const length = 1000 + Math.floor(random() * 150000);
      const offset = Math.floor(random() * (realTar.length - length));
      const raw = i % 6 === 5 ? Uint8Array.from({ length: 70000 }, () => Math.floor(random() * 256)) : realTar.subarray(offset, offset + length);
      frames.push({ frame: lz4FrameCompress(raw, optionSets[i % optionSets.length]), raw });
    }
    const outcomes = new Map<string, number>();
    for (let i = 0; i < frameCases; i++) {
      const { frame, raw } = frames[i % frames.length]!;
      const hostile = mutate(frame, random);
      const rawBytesMax = random() < 0.1 ? Math.floor(random() * raw.length) : raw.length * 2;
      let outcome: string;
      try {
        const decoder = new Lz4FrameDecoder({ rawBytesMax });
        let produced = 0;
        // Feed in random pieces: the streaming state machine must hold up at every split.
        for (let at = 0; at < hostile.length;) {
          const size = 1 + Math.floor(random() * 20000);
          for (const part of decoder.push(hostile.subarray(at, at + size))) produced += part.length;
          at += size;
        }
        decoder.finish();
        expect(produced).toBeLessThanOrEqual(rawBytesMax);
        outcome = "ok";
      } catch (err) {
        if (!(err instanceof TandemError)) throw err;
        expect(["corrupt", "limitExceeded"]).toContain(err.code);
        outcome = err.code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(outcomes.get("corrupt") ?? 0).toBeGreaterThan(frameCases / 2);
    expect(outcomes.get("limitExceeded") ?? 0).toBeGreaterThan(0);
  }, fuzzTimeoutMs);

  test("every strict prefix of a frame fails at finish, whatever the split", () => {
    const raw = realTar.subarray(100000, 300000);
    const frame = lz4FrameCompress(raw, { blockBytes: 65536, blockChecksum: true });
    const random = rng(5);
    for (let i = 0; i < 300; i++) {
      const length = 1 + Math.floor(random() * (frame.length - 1));
      let caught: unknown;
      try {
        lz4FrameDecompress(frame.subarray(0, length), raw.length);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TandemError);
      expect((caught as TandemError).message).toMatch(/truncated/);
    }
  });
});
