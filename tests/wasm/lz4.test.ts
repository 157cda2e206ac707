// LZ4 block and frame codec: round trips (random, zeros, real data, empty, tiny),
// dictionaries, xxHash32, hand-made malicious blocks, frame options and corruption,
// and interop with the real `lz4` command and lz4_flex (lz4-wasm-nodejs) through
// real processes and real bytes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import * as lz4Flex from "lz4-wasm-nodejs";
import {
  Lz4FrameDecoder, Lz4FrameEncoder, lz4BlocksGroupBytesMax, lz4CompressBlock, lz4CompressBlocks, lz4CompressBound,
  lz4DecompressBlock, lz4FrameCompress, lz4FrameDecompress, xxh32, Xxh32Stream,
} from "../../wasm/lz4.ts";
import { TandemError } from "../../agent/errors.ts";
import { packageTar } from "../bench/corpus.ts";

const repoRoot = join(import.meta.dir, "..", "..");
const realTar = readFileSync(packageTar("typescript", "5.6.3"));

/** xorshift32, so every run sees the same "random" bytes. */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

function expectCorrupt(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TandemError);
  expect((caught as TandemError).code).toBe("corrupt");
  expect((caught as TandemError).message).toMatch(pattern);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("LZ4 block round trips", () => {
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["1 byte", new Uint8Array([42])],
    ["12 bytes (below the minimum match input)", seededBytes(12, 7)],
    ["13 bytes of zeros", new Uint8Array(13)],
    ["zeros 1 MiB", new Uint8Array(1 << 20)],
    ["random 100 KiB", seededBytes(100 * 1024, 99)],
    ["repeating 3-byte pattern", Uint8Array.from({ length: 70000 }, (_, i) => [1, 2, 3][i % 3]!)],
    ["real 8 KiB piece", realTar.subarray(1 << 20, (1 << 20) + 8192)],
    ["real 4 MiB", realTar.subarray(0, 4 << 20)],
    // The fast compressor has a 16-bit-position path for inputs under 64 KiB.
    ["real 65535 bytes (largest small input)", realTar.subarray(5 << 20, (5 << 20) + 65535)],
    ["real 65536 bytes (smallest large input)", realTar.subarray(5 << 20, (5 << 20) + 65536)],
    ["zeros 65535 bytes", new Uint8Array(65535)],
  ];
  for (const [name, data] of cases) {
    for (const highCompression of [false, true]) {
      test(`${name}${highCompression ? " (high)" : ""}`, () => {
        const packed = lz4CompressBlock(data, { highCompression });
        expect(packed.length).toBeLessThanOrEqual(lz4CompressBound(data.length));
        const unpacked = lz4DecompressBlock(packed, data.length);
        expect(unpacked.length).toBe(data.length);
        expect(same(unpacked, data)).toBe(true);
        // lz4_flex (a separate implementation) reads our blocks: it takes a 4-byte size prefix.
        const prefixed = new Uint8Array(4 + packed.length);
        new DataView(prefixed.buffer).setUint32(0, data.length, true);
        prefixed.set(packed, 4);
        expect(same(lz4Flex.decompress(prefixed), data)).toBe(true);
      });
    }
  }

  test("real data compresses, high mode better than fast, and every 8 KiB piece round-trips", () => {
    let raw = 0, fast = 0, high = 0;
    for (let offset = 0; offset + 8192 <= 4 << 20; offset += 8192 * 16) {
      const piece = realTar.subarray(offset, offset + 8192);
      const packed = lz4CompressBlock(piece);
      const packedHigh = lz4CompressBlock(piece, { highCompression: true });
      expect(same(lz4DecompressBlock(packed, 8192), piece)).toBe(true);
      expect(same(lz4DecompressBlock(packedHigh, 8192), piece)).toBe(true);
      raw += piece.length; fast += packed.length; high += packedHigh.length;
    }
    expect(raw / fast).toBeGreaterThan(1.5);
    expect(high).toBeLessThan(fast);
  });

  test("many blocks in one pass: the same blocks as one at a time, raw where they do not pay, across groups", () => {
    // 9 MiB of pieces: more than one group of lz4BlocksGroupBytesMax; real, random and tiny pieces.
    const pieces: Uint8Array[] = [];
    for (let offset = 0, i = 0; offset + 65536 <= realTar.length && pieces.length < 150; offset += 65536, i++) {
      pieces.push(i % 5 === 3 ? seededBytes(65536, i + 1) : realTar.subarray(offset, offset + 65536));
    }
    pieces.push(new Uint8Array(1), realTar.subarray(7, 20));
    expect(pieces.reduce((n, p) => n + p.length, 0)).toBeGreaterThan(lz4BlocksGroupBytesMax);
    const { values, compressed } = lz4CompressBlocks(pieces, { headerBytes: 16, savingShift: 4 });
    expect(new Set(values.map((v) => v.buffer)).size).toBeGreaterThan(1);
    pieces.forEach((piece, i) => {
      const value = values[i]!;
      expect(same(value.subarray(0, 16), new Uint8Array(16))).toBe(true);
      const one = lz4CompressBlock(piece);
      const pays = one.length + (piece.length >>> 4) <= piece.length;
      expect(compressed[i]).toBe(pays ? 1 : 0);
      expect(same(value.subarray(16), pays ? one : piece)).toBe(true);
    });
    expect(compressed.filter((c) => c === 1).length).toBeGreaterThan(100);
    expect(compressed[3]).toBe(0);
  });

  test("we decode lz4_flex's blocks", () => {
    for (const data of [realTar.subarray(5000, 5000 + 65536), seededBytes(5000, 3), new Uint8Array(9000)]) {
      const theirs = lz4Flex.compress(data).subarray(4);
      expect(same(lz4DecompressBlock(theirs, data.length), data)).toBe(true);
    }
  });

  test("output depends only on the input, not on earlier calls", () => {
    const piece = realTar.subarray(300000, 300000 + 8192);
    const first = lz4CompressBlock(piece);
    lz4CompressBlock(realTar.subarray(0, 1 << 20));
    lz4CompressBlock(piece, { dictionary: realTar.subarray(0, 65536) });
    expect(same(lz4CompressBlock(piece), first)).toBe(true);
    const firstHigh = lz4CompressBlock(piece, { highCompression: true });
    lz4CompressBlock(realTar.subarray(0, 1 << 20), { highCompression: true });
    expect(same(lz4CompressBlock(piece, { highCompression: true }), firstHigh)).toBe(true);
  });

  test("decompression never yields more than rawBytesMax", () => {
    const data = realTar.subarray(0, 20000);
    const packed = lz4CompressBlock(data);
    expectCorrupt(() => lz4DecompressBlock(packed, 19999), /exceeds the output limit/);
    expect(lz4DecompressBlock(packed, 30000).length).toBe(20000);
  });

  test("bad arguments are refused precisely", () => {
    expect(() => lz4DecompressBlock(new Uint8Array([0]), -1)).toThrow(/rawBytesMax/);
    expect(() => lz4CompressBound(1e12)).toThrow(/lz4BlockRawBytesMax/);
    expect(() => lz4CompressBlock("text" as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });
});

describe("LZ4 dictionaries", () => {
  // Two consecutive 8 KiB segments of the same file: the second compressed with the
  // preceding window as dictionary, as the SDR codec does.
  const window = realTar.subarray(2 << 20, (2 << 20) + 65536);
  const segment = realTar.subarray((2 << 20) + 65536, (2 << 20) + 65536 + 8192);

  for (const highCompression of [false, true]) {
    test(`round trip with the preceding 64 KiB${highCompression ? " (high)" : ""}`, () => {
      const plain = lz4CompressBlock(segment, { highCompression });
      const withDict = lz4CompressBlock(segment, { dictionary: window, highCompression });
      expect(withDict.length).toBeLessThan(plain.length);
      expect(same(lz4DecompressBlock(withDict, segment.length, window), segment)).toBe(true);
    });
  }

  test("a segment that repeats its dictionary becomes tiny; without the dictionary it does not decode", () => {
    const dict = seededBytes(40000, 5);
    const data = dict.subarray(1000, 30000);
    const packed = lz4CompressBlock(data, { dictionary: dict });
    expect(packed.length).toBeLessThan(200);
    expect(same(lz4DecompressBlock(packed, data.length, dict), data)).toBe(true);
    expectCorrupt(() => lz4DecompressBlock(packed, data.length), /before the start/);
  });

  test("only the last 64 KiB of a longer dictionary count, on both sides", () => {
    const dict = seededBytes(200000, 11);
    const data = new Uint8Array([...dict.subarray(199000, 199800), ...dict.subarray(150000, 150500)]);
    const packed = lz4CompressBlock(data, { dictionary: dict });
    expect(same(lz4DecompressBlock(packed, data.length, dict), data)).toBe(true);
    expect(same(lz4DecompressBlock(packed, data.length, dict.subarray(200000 - 65536)), data)).toBe(true);
  });

  test("tiny data and tiny dictionaries", () => {
    for (const [dictLen, dataLen] of [[1, 1], [3, 20], [100, 0], [5, 13], [65536, 5]] as const) {
      const dict = seededBytes(dictLen, dictLen + 1);
      const data = new Uint8Array([...dict.subarray(0, Math.min(dictLen, dataLen)), ...seededBytes(Math.max(0, dataLen - dictLen), 9)]);
      const packed = lz4CompressBlock(data, { dictionary: dict });
      expect(same(lz4DecompressBlock(packed, dataLen, dict), data)).toBe(true);
    }
  });
});

describe("xxHash32", () => {
  // A plain reference implementation, written from the specification.
  function referenceXxh32(data: Uint8Array, seed: number): number {
    const p1 = 2654435761, p2 = 2246822519, p3 = 3266489917, p4 = 668265263, p5 = 374761393;
    const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
    const u32 = (i: number) => (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    const round = (acc: number, lane: number) => Math.imul(rotl((acc + Math.imul(lane, p2)) >>> 0, 13), p1) >>> 0;
    let i = 0;
    let h: number;
    if (data.length >= 16) {
      let v = [(seed + p1 + p2) >>> 0, (seed + p2) >>> 0, seed >>> 0, (seed - p1) >>> 0];
      for (; i + 16 <= data.length; i += 16) v = v.map((acc, lane) => round(acc, u32(i + lane * 4)));
      h = (rotl(v[0]!, 1) + rotl(v[1]!, 7) + rotl(v[2]!, 12) + rotl(v[3]!, 18)) >>> 0;
    } else h = (seed + p5) >>> 0;
    h = (h + data.length) >>> 0;
    for (; i + 4 <= data.length; i += 4) h = Math.imul(rotl((h + Math.imul(u32(i), p3)) >>> 0, 17), p4) >>> 0;
    for (; i < data.length; i++) h = Math.imul(rotl((h + Math.imul(data[i]!, p5)) >>> 0, 11), p1) >>> 0;
    h = Math.imul(h ^ (h >>> 15), p2) >>> 0;
    h = Math.imul(h ^ (h >>> 13), p3) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  }

  test("published values", () => {
    const enc = new TextEncoder();
    expect(xxh32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxh32(enc.encode("abc"))).toBe(0x32d153ff);
    expect(xxh32(enc.encode("Nobody inspects the spammish repetition"))).toBe(0xe2293b2f);
  });

  test("equals the reference for every length up to 300 and several seeds", () => {
    const data = seededBytes(300, 77);
    for (let length = 0; length <= 300; length++) {
      for (const seed of [0, 1, 0x9747b28c, 0xffffffff]) {
        expect(xxh32(data.subarray(0, length), seed)).toBe(referenceXxh32(data.subarray(0, length), seed));
      }
    }
  });

  test("streaming in uneven pieces equals one shot", () => {
    const data = seededBytes(100000, 4242);
    for (const seed of [0, 12345]) {
      const stream = new Xxh32Stream(seed);
      const sizes = [0, 1, 15, 16, 17, 3, 4096, 33, 7];
      for (let offset = 0, i = 0; offset < data.length; i++) {
        const size = Math.min(sizes[i % sizes.length]!, data.length - offset);
        stream.update(data.subarray(offset, offset + size));
        offset += size;
        if (i % 50 === 0) expect(stream.digest()).toBe(xxh32(data.subarray(0, offset), seed));
      }
      expect(stream.digest()).toBe(xxh32(data, seed));
    }
    for (const length of [0, 5, 15, 16]) {
      const stream = new Xxh32Stream();
      stream.update(data.subarray(0, length));
      expect(stream.digest()).toBe(referenceXxh32(data.subarray(0, length), 0));
    }
  });
});

describe("hand-made malicious blocks", () => {
  const cases: [string, number[], number, RegExp][] = [
    ["empty block", [], 100, /empty block/],
    ["match offset 0", [0x10, 0x61, 0x00, 0x00, 0x00], 100, /offset 0/],
    ["offset beyond the start", [0x10, 0x61, 0x05, 0x00, 0x00], 100, /before the start/],
    ["match length overflowing the output", [0x1f, 0x61, 0x01, 0x00, 0xff, 0xff, 0x10, 0x00], 300, /exceeds the output limit/],
    ["literal length past the input end", [0xf0, 0x20, 0x61, 0x62], 1000, /past the end of the input/],
    ["huge literal length varint", [0xf0, ...Array(5000).fill(0xff), 0x01], 1 << 20, /past the end of the input/],
    ["huge match length varint", [0x1f, 0x61, 0x01, 0x00, ...Array(5000).fill(0xff), 0x01, 0x00], 1 << 20, /exceeds the output limit/],
    ["literal run longer than the output", [0x50, 1, 2, 3, 4, 5], 3, /output limit/],
    ["truncated inside an offset", [0x10, 0x61, 0x01], 100, /inside a match offset/],
    ["ends after a match", [0x10, 0x61, 0x01, 0x00], 100, /missing final literals/],
    ["truncated inside a length", [0xf0], 100, /inside a length/],
  ];
  for (const [name, bytes, rawBytesMax, reason] of cases) {
    test(name, () => expectCorrupt(() => lz4DecompressBlock(Uint8Array.from(bytes), rawBytesMax), reason));
  }

  test("a valid overlapping match (run-length) decodes", () => {
    // literal 'a', then offset 1 length 4+15+10 -> 30 'a's, then one literal.
    const block = Uint8Array.from([0x1f, 0x61, 0x01, 0x00, 10, 0x10, 0x62]);
    const out = lz4DecompressBlock(block, 100);
    expect(new TextDecoder().decode(out)).toBe("a".repeat(30) + "b");
  });
});

describe("LZ4 frames in process", () => {
  const data = realTar.subarray(0, 600000);

  const variants: [string, ConstructorParameters<typeof Lz4FrameEncoder>[0]][] = [
    ["defaults", {}],
    ["64 KiB blocks with block checksums", { blockBytes: 65536, blockChecksum: true }],
    ["linked 64 KiB blocks", { blockBytes: 65536, linkedBlocks: true }],
    ["high compression, no content checksum", { highCompression: true, contentChecksum: false, blockBytes: 262144 }],
  ];
  for (const [name, options] of variants) {
    test(`round trip: ${name}, fed in uneven pieces`, () => {
      const encoder = new Lz4FrameEncoder(options);
      const parts: Uint8Array[] = [];
      const sizes = [1, 7, 70000, 3, 131072, 65536];
      let offset = 0;
      for (let i = 0; offset < data.length; i++) {
        const size = Math.min(sizes[i % sizes.length]!, data.length - offset);
        parts.push(...encoder.push(data.subarray(offset, offset + size)));
        offset += size;
      }
      parts.push(...encoder.finish());
      const frame = Buffer.concat(parts);
      const decoder = new Lz4FrameDecoder();
      const out: Uint8Array[] = [];
      for (let i = 0; i < frame.length; i += 777) out.push(...decoder.push(frame.subarray(i, i + 777)));
      decoder.finish();
      expect(same(Buffer.concat(out), data)).toBe(true);
    });
  }

  test("linked blocks beat independent 64 KiB blocks on real data", () => {
    const independent = lz4FrameCompress(data, { blockBytes: 65536 });
    const linked = lz4FrameCompress(data, { blockBytes: 65536, linkedBlocks: true });
    expect(linked.length).toBeLessThan(independent.length);
  });

  test("incompressible data is stored in uncompressed blocks", () => {
    const random = seededBytes(200000, 1234);
    const frame = lz4FrameCompress(random, { blockBytes: 65536 });
    expect(frame.length).toBeLessThan(random.length + 100);
    expect(same(lz4FrameDecompress(frame, random.length), random)).toBe(true);
  });

  test("empty input, concatenated frames and skippable frames", () => {
    const empty = lz4FrameCompress(new Uint8Array(0));
    expect(lz4FrameDecompress(empty, 0).length).toBe(0);
    expect(lz4FrameDecompress(new Uint8Array(0), 0).length).toBe(0);
    const skippable = Uint8Array.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const a = lz4FrameCompress(data.subarray(0, 1000));
    const b = lz4FrameCompress(data.subarray(1000, 5000));
    const all = Buffer.concat([a, skippable, empty, b, skippable]);
    expect(same(lz4FrameDecompress(all, 5000), data.subarray(0, 5000))).toBe(true);
  });

  test("rawBytesMax is a hard limit", () => {
    const frame = lz4FrameCompress(data);
    let caught: unknown;
    try {
      lz4FrameDecompress(frame, data.length - 1);
    } catch (err) {
      caught = err;
    }
    expect((caught as TandemError).code).toBe("limitExceeded");
  });

  test("corruptions are reported precisely", () => {
    const frame = lz4FrameCompress(data.subarray(0, 100000), { blockChecksum: true, blockBytes: 65536 });
    const flip = (index: number) => {
      const copy = Uint8Array.from(frame);
      copy[index] = copy[index]! ^ 0x01;
      return copy;
    };
    expectCorrupt(() => lz4FrameDecompress(flip(0), 1e6), /unknown frame magic/);
    expectCorrupt(() => lz4FrameDecompress(flip(14), 1e6), /header checksum/);
    expectCorrupt(() => lz4FrameDecompress(flip(100), 1e6), /block 0 checksum/);
    expectCorrupt(() => lz4FrameDecompress(flip(frame.length - 1), 1e6), /content checksum/);
    expectCorrupt(() => lz4FrameDecompress(frame.subarray(0, frame.length - 3), 1e6), /truncated/);
    expectCorrupt(() => lz4FrameDecompress(frame.subarray(0, 30), 1e6), /truncated in block 0/);
    const withSize = lz4FrameCompress(data.subarray(0, 1000));
    const wrongSize = Uint8Array.from(withSize);
    wrongSize[6] = 0xe7; // declares 999 bytes; fix the header checksum so only the size is wrong
    wrongSize[14] = (xxh32(wrongSize.subarray(4, 14)) >>> 8) & 0xff;
    expectCorrupt(() => lz4FrameDecompress(wrongSize, 1e6), /declared size|declares/);
    const dictIdFrame = Uint8Array.from([0x04, 0x22, 0x4d, 0x18, 0x61, 0x40, 1, 0, 0, 0, 0]);
    dictIdFrame[10] = (xxh32(dictIdFrame.subarray(4, 10)) >>> 8) & 0xff;
    expectCorrupt(() => lz4FrameDecompress(dictIdFrame, 1e6), /dictionary id 1/);
  });

  test("encoder refuses a wrong declared content size and bad block sizes", () => {
    const encoder = new Lz4FrameEncoder({ contentSize: 10 });
    encoder.push(new Uint8Array(9));
    expect(() => encoder.finish()).toThrow(/declared 10/);
    expect(() => new Lz4FrameEncoder({ blockBytes: 1000 })).toThrow(/block size/);
  });
});

describe("interop with the real lz4 command through processes", () => {
  const dir = mkdtempSync(join(tmpdir(), "tandem-lz4-"));
  const bigPath = packageTar("typescript", "5.6.3");
  const bigSha = sha256(realTar);
  const smallPath = join(dir, "small.bin");
  const small = realTar.subarray(3 << 20, (3 << 20) + 3_000_000);
  writeFileSync(smallPath, small);
  const smallSha = sha256(small);
  const tandem = `'${process.execPath}' '${join(repoRoot, "agent", "main.ts")}'`;

  function sh(script: string): { code: number; stdout: string; stderr: string } {
    const proc = Bun.spawnSync(["bash", "-o", "pipefail", "-c", script], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    return { code: proc.exitCode ?? -1, stdout: proc.stdout.toString().trim(), stderr: proc.stderr.toString() };
  }

  test("tandem compress | lz4 -d, on the 22 MB typescript tar", () => {
    const result = sh(`${tandem} compress < '${bigPath}' | lz4 -d -c | sha256sum`);
    expect(result.code).toBe(0);
    expect(result.stdout.split(" ")[0]).toBe(bigSha);
  });

  for (const flags of ["--high --linked --block-bytes 65536 --block-checksum", "--no-content-checksum --block-bytes 262144"]) {
    test(`tandem compress ${flags} | lz4 -d`, () => {
      const result = sh(`${tandem} compress ${flags} < '${smallPath}' | lz4 -d -c | sha256sum`);
      expect(result.code).toBe(0);
      expect(result.stdout.split(" ")[0]).toBe(smallSha);
    });
  }

  test("lz4 -1 | tandem decompress, on the 22 MB typescript tar", () => {
    const result = sh(`lz4 -1 -c < '${bigPath}' | ${tandem} decompress | sha256sum`);
    expect(result.code).toBe(0);
    expect(result.stdout.split(" ")[0]).toBe(bigSha);
  });

  const lz4Variants = ["-9", "--content-size", "-B4", "-B5", "-B6", "-B7", "-BD", "-BD -B4 -9", "-BX", "--no-frame-crc", "-l", "--favor-decSpeed -12"];
  for (const flags of lz4Variants) {
    test(`lz4 ${flags} | tandem decompress`, () => {
      const result = sh(`lz4 ${flags} -c < '${smallPath}' | ${tandem} decompress | sha256sum`);
      expect(result.code).toBe(0);
      expect(result.stdout.split(" ")[0]).toBe(smallSha);
    });
  }

  test("concatenated lz4 outputs (and an empty one) decode as one stream", () => {
    const result = sh(`(head -c 1000000 '${smallPath}' | lz4 -1 -c; printf '' | lz4 -c; tail -c +1000001 '${smallPath}' | lz4 -9 -BD -c) | ${tandem} decompress | sha256sum`);
    expect(result.code).toBe(0);
    expect(result.stdout.split(" ")[0]).toBe(smallSha);
  });

  test("corrupt and truncated input: message and exit code 1", () => {
    const truncated = sh(`lz4 -1 -c < '${smallPath}' | head -c 500000 | ${tandem} decompress > /dev/null`);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/tandem decompress: LZ4 frame corrupt .*truncated/);
    const garbage = sh(`head -c 5000 '${smallPath}' | ${tandem} decompress > /dev/null`);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/unknown frame magic/);
    const closedReader = sh(`lz4 -1 -c < '${bigPath}' | ${tandem} decompress | head -c 100 > /dev/null; echo "\${PIPESTATUS[1]}"`);
    expect(closedReader.stdout).toBe("1");
    expect(closedReader.stderr).toMatch(/tandem decompress: output closed/);
    expect(closedReader.stderr).not.toMatch(/at /); // a message, not a stack trace
    const overLimit = sh(`lz4 -1 -c < '${smallPath}' | ${tandem} decompress --raw-bytes-max 100000 | wc -c`);
    expect(overLimit.code).toBe(1);
    expect(overLimit.stderr).toMatch(/exceeds rawBytesMax \(100000 bytes\)/);
    expect(Number(overLimit.stdout)).toBeLessThanOrEqual(100000);
    const badOption = sh(`${tandem} compress --block-bytes 12 < /dev/null`);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/block-bytes/);
  });

  test("streams in bounded memory: 768 MiB through tandem compress | tandem decompress", async () => {
    const streamBytes = 768 * 1024 * 1024;
    const rssBytesMax = 160 * 1024 * 1024; // both sides measure ~50 MiB; far below the stream either way
    const main = join(repoRoot, "agent", "main.ts");
    const source = Bun.spawn(["head", "-c", String(streamBytes), "/dev/zero"], { stdout: "pipe" });
    const compress = Bun.spawn([process.execPath, main, "compress"], { stdin: source.stdout, stdout: "pipe", stderr: "pipe" });
    const decompress = Bun.spawn([process.execPath, main, "decompress"], { stdin: compress.stdout, stdout: "pipe", stderr: "pipe" });
    const peakRss = new Map<number, number>();
    const poll = setInterval(() => {
      for (const pid of [compress.pid, decompress.pid]) {
        try {
          const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
          if (hwm) peakRss.set(pid, Number(hwm[1]) * 1024);
        } catch {
          // exited
        }
      }
    }, 20);
    let total = 0;
    let nonZero = 0;
    for await (const chunk of decompress.stdout) {
      total += chunk.length;
      for (let i = 0; i < chunk.length; i += 4096) nonZero |= chunk[i]!;
    }
    clearInterval(poll);
    expect(await compress.exited).toBe(0);
    expect(await decompress.exited).toBe(0);
    expect(total).toBe(streamBytes);
    expect(nonZero).toBe(0);
    expect(peakRss.size).toBe(2);
    for (const rss of peakRss.values()) expect(rss).toBeLessThan(rssBytesMax);
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});
