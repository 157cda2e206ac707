// FastCDC 2020 against every parameter block of the fastcdc-rs reference vectors
// (cut points, gear hashes, and for the Sekien image the BLAKE3 of each segment),
// streaming against whole-buffer cutting on random piece sizes, bounds, and the
// `tandem segment` command run as a real process.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chunkAndHash, defaultChunkParams, fastcdcCut, StreamChunker, StreamCutter, type ChunkParams } from "../../wasm/index.ts";
import { TandemError } from "../../agent/errors.ts";

// The shared reference vectors: TANDEM_VECTORS_DIR, else a vendored tests/vectors/,
// else the ../shared/vectors next to the checkout.
const vectorsDir = process.env.TANDEM_VECTORS_DIR
  ?? [join(import.meta.dir, "..", "vectors"), join(import.meta.dir, "..", "..", "..", "shared", "vectors")].find((dir) => existsSync(join(dir, "blake3_test_vectors.json")))
  ?? join(import.meta.dir, "..", "..", "..", "shared", "vectors");
const repoRoot = join(import.meta.dir, "..", "..");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

interface VectorBlock { params: ChunkParams; chunks: { offset: number; length: number; hash: bigint; blake3?: string }[] }

function parseVectors(file: string): VectorBlock[] {
  const blocks: VectorBlock[] = [];
  for (const line of readFileSync(join(vectorsDir, file), "utf8").split("\n")) {
    const header = /^# min=(\d+) avg=(\d+) max=(\d+) level=(\d+) seed=(\d+)/.exec(line);
    if (header) {
      const [minBytes, avgBytes, maxBytes, level, seed] = header.slice(1).map(Number) as [number, number, number, number, number];
      blocks.push({ params: { minBytes, avgBytes, maxBytes, level, seed }, chunks: [] });
    } else if (/^\d/.test(line)) {
      const [offset, length, hash, blake3] = line.trim().split(/\s+/);
      blocks.at(-1)!.chunks.push({ offset: Number(offset), length: Number(length), hash: BigInt(hash!), blake3 });
    }
  }
  return blocks;
}

const inputs: [string, string][] = [
  ["fastcdc_v2020_sekien.txt", "SekienAkashita.jpg"],
  ["fastcdc_v2020_prng_xorshift32_1MiB.txt", "prng_xorshift32_1MiB.bin"],
  ["fastcdc_v2020_zeros_50000.txt", "zeros_50000.bin"],
];

const paramsName = (p: ChunkParams) => `min=${p.minBytes} avg=${p.avgBytes} max=${p.maxBytes} level=${p.level} seed=${p.seed}`;

for (const [vectorFile, dataFile] of inputs) {
  describe(`FastCDC 2020 vectors: ${dataFile}`, () => {
    const data = new Uint8Array(readFileSync(join(vectorsDir, dataFile)));
    const blocks = parseVectors(vectorFile);
    test("has parameter blocks", () => expect(blocks.length).toBeGreaterThanOrEqual(12));
    for (const block of blocks) {
      test(paramsName(block.params), () => {
        const { lengths, hashes } = fastcdcCut(data, block.params);
        expect(Array.from(lengths)).toEqual(block.chunks.map((c) => c.length));
        expect(Array.from(hashes)).toEqual(block.chunks.map((c) => c.hash));
        let offset = 0;
        block.chunks.forEach((c, i) => { expect(c.offset).toBe(offset); offset += lengths[i]!; });
        expect(offset).toBe(data.length);
        if (block.chunks[0]?.blake3) {
          const { lengths: hashedLengths, labels } = chunkAndHash(data, block.params);
          expect(Array.from(hashedLengths)).toEqual(Array.from(lengths));
          block.chunks.forEach((c, i) => expect(hex(labels.subarray(32 * i, 32 * i + 32))).toBe(c.blake3!));
        }
      });
    }
  });
}

// Seeded piece sizes so a failure reproduces.
function pieceSizes(total: number, seed: number, maxPiece: number): number[] {
  const sizes: number[] = [];
  let x = seed;
  let left = total;
  while (left > 0) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const size = Math.min(left, x % (maxPiece + 1));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

function streamAll(data: Uint8Array, sizes: number[], params: ChunkParams) {
  const chunker = new StreamChunker(params);
  const segments = [];
  let at = 0;
  for (const size of sizes) {
    segments.push(...chunker.push(data.subarray(at, at + size)));
    at += size;
    expect(chunker.pendingBytes).toBeLessThan(params.maxBytes);
  }
  segments.push(...chunker.finish());
  expect(chunker.pendingBytes).toBe(0);
  return segments;
}

describe("streaming equals whole-buffer cutting", () => {
  const prng = new Uint8Array(readFileSync(join(vectorsDir, "prng_xorshift32_1MiB.bin")));
  const sekien = new Uint8Array(readFileSync(join(vectorsDir, "SekienAkashita.jpg")));
  const cases: [string, Uint8Array, ChunkParams, number][] = [
    ["prng default params, pieces up to 3000", prng, defaultChunkParams, 3000],
    ["prng default params, pieces up to 40000", prng, defaultChunkParams, 40000],
    ["prng min64/avg256/max1024, pieces up to 700", prng, { minBytes: 64, avgBytes: 256, maxBytes: 1024, level: 1, seed: 0 }, 700],
    ["sekien seed 666, pieces up to 100", sekien, { minBytes: 4096, avgBytes: 16384, maxBytes: 65535, level: 1, seed: 666 }, 100],
    ["sekien level 3, pieces up to 20000", sekien, { minBytes: 8192, avgBytes: 16384, maxBytes: 32768, level: 3, seed: 0 }, 20000],
  ];
  for (const [name, data, params, maxPiece] of cases) {
    test(name, () => {
      const whole = chunkAndHash(data, params);
      for (const seed of [1, 2, 3]) {
        const segments = streamAll(data, pieceSizes(data.length, seed * 7919, maxPiece), params);
        expect(segments.map((s) => s.length)).toEqual(Array.from(whole.lengths));
        let offset = 0;
        segments.forEach((s, i) => {
          expect(s.offset).toBe(offset);
          expect(hex(s.label)).toBe(hex(whole.labels.subarray(32 * i, 32 * i + 32)));
          expect(hex(s.data)).toBe(hex(data.subarray(offset, offset + s.length)));
          offset += s.length;
        });
      }
    });
  }

  test("StreamCutter gives the whole-buffer lengths for every vector block", () => {
    for (const block of parseVectors("fastcdc_v2020_prng_xorshift32_1MiB.txt")) {
      const cutter = new StreamCutter(block.params);
      const lengths: number[] = [];
      let at = 0;
      for (const size of pieceSizes(prng.length, block.params.maxBytes, 2 * block.params.maxBytes)) {
        lengths.push(...cutter.push(prng.subarray(at, at + size)));
        at += size;
      }
      lengths.push(...cutter.finish());
      expect(lengths).toEqual(block.chunks.map((c) => c.length));
    }
  });

  test("one piece at a time of one byte keeps the tail bounded and still matches", () => {
    const data = prng.subarray(0, 40000);
    const segments = streamAll(data, new Array(data.length).fill(1), defaultChunkParams);
    expect(segments.map((s) => s.length)).toEqual(Array.from(chunkAndHash(data).lengths));
  });

  test("segment data stays valid after later calls", () => {
    const chunker = new StreamChunker();
    const first = chunker.push(prng.subarray(0, 100000));
    const copy = first.map((s) => hex(s.data));
    chunker.push(prng.subarray(100000, 300000));
    chunker.finish();
    chunkAndHash(new Uint8Array(500000));
    expect(first.map((s) => hex(s.data))).toEqual(copy);
  });

  test("inputs larger than one window cut like the reference", () => {
    // 20 MiB crosses several kernel windows; compare with small-window streaming.
    const big = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < big.length; i += prng.length) big.set(prng.subarray(0, Math.min(prng.length, big.length - i)), i);
    big[5_000_000] = big[5_000_000]! ^ 1; // break the period so windows differ
    const whole = chunkAndHash(big);
    const streamed = streamAll(big, pieceSizes(big.length, 4242, 1 << 20), defaultChunkParams);
    expect(streamed.map((s) => s.length)).toEqual(Array.from(whole.lengths));
  });
});

describe("bounds and errors", () => {
  test("empty input gives no segments", () => {
    expect(chunkAndHash(new Uint8Array(0)).lengths.length).toBe(0);
    const chunker = new StreamChunker();
    expect(chunker.push(new Uint8Array(0))).toEqual([]);
    expect(chunker.finish()).toEqual([]);
  });

  test("out-of-range parameters are refused with TandemError", () => {
    const bad: ChunkParams[] = [
      { ...defaultChunkParams, minBytes: 32 },
      { ...defaultChunkParams, avgBytes: 100 },
      { ...defaultChunkParams, maxBytes: 1 << 25 },
      { ...defaultChunkParams, level: 4 },
      { ...defaultChunkParams, seed: -1 },
      { ...defaultChunkParams, minBytes: 9000 },
      { ...defaultChunkParams, avgBytes: 2.5 },
    ];
    for (const params of bad) {
      expect(() => chunkAndHash(new Uint8Array(10), params)).toThrow(TandemError);
      expect(() => new StreamChunker(params)).toThrow(TandemError);
    }
  });

  test("push after finish is refused", () => {
    const chunker = new StreamChunker();
    chunker.finish();
    expect(() => chunker.push(new Uint8Array(1))).toThrow(TandemError);
  });
});

describe("tandem segment (real process)", () => {
  const sekienVectors = parseVectors("fastcdc_v2020_sekien.txt");
  const run = (args: string[]) => Bun.spawnSync([process.execPath, join(repoRoot, "agent", "main.ts"), "segment", ...args], { stdout: "pipe", stderr: "pipe" });

  for (const p of [defaultChunkParams, { minBytes: 4096, avgBytes: 16384, maxBytes: 65535, level: 1, seed: 666 }, { minBytes: 8192, avgBytes: 16384, maxBytes: 32768, level: 3, seed: 0 }]) {
    test(`matches the Sekien vector for ${paramsName(p)}`, () => {
      const expected = sekienVectors.find((b) => paramsName(b.params) === paramsName(p))!;
      const proc = run([join(vectorsDir, "SekienAkashita.jpg"), "--min", String(p.minBytes), "--avg", String(p.avgBytes), "--max", String(p.maxBytes), "--level", String(p.level), "--seed", String(p.seed)]);
      expect(proc.stderr.toString()).toBe("");
      expect(proc.exitCode).toBe(0);
      expect(proc.stdout.toString()).toBe(expected.chunks.map((c) => `${c.offset} ${c.length} ${c.blake3}\n`).join(""));
    });
  }

  test("streams a file larger than one read and matches in-process chunkAndHash", () => {
    const prng = new Uint8Array(readFileSync(join(vectorsDir, "prng_xorshift32_1MiB.bin")));
    const big = new Uint8Array(3 * prng.length + 12345);
    for (let i = 0; i < big.length; i += prng.length) big.set(prng.subarray(0, Math.min(prng.length, big.length - i)), i);
    for (let i = 0; i < big.length; i += 100_003) big[i] = i & 0xff; // vary the repeats
    const dir = mkdtempSync(join(tmpdir(), "tandem-segment-"));
    try {
      const file = join(dir, "big.bin");
      writeFileSync(file, big);
      const proc = run([file]);
      expect(proc.exitCode).toBe(0);
      const { lengths, labels } = chunkAndHash(big);
      let offset = 0;
      const expected = Array.from(lengths, (len, i) => {
        const line = `${offset} ${len} ${hex(labels.subarray(32 * i, 32 * i + 32))}\n`;
        offset += len;
        return line;
      }).join("");
      expect(proc.stdout.toString()).toBe(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("reads stdin when FILE is -", () => {
    const expected = sekienVectors.find((b) => paramsName(b.params) === paramsName(defaultChunkParams))!;
    const proc = Bun.spawnSync([process.execPath, join(repoRoot, "agent", "main.ts"), "segment", "-"], {
      stdin: Bun.file(join(vectorsDir, "SekienAkashita.jpg")), stdout: "pipe", stderr: "pipe",
    });
    expect(proc.exitCode).toBe(0);
    expect(proc.stdout.toString()).toBe(expected.chunks.map((c) => `${c.offset} ${c.length} ${c.blake3}\n`).join(""));
  });

  test("bad option and missing file fail with a message", () => {
    const badOpt = run([join(vectorsDir, "SekienAkashita.jpg"), "--min", "5"]);
    expect(badOpt.exitCode).not.toBe(0);
    expect(badOpt.stderr.toString()).toContain("min");
    const missing = run([join(vectorsDir, "no-such-file")]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr.toString()).toContain("no-such-file");
  });
});
