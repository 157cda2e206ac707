// BLAKE3 against the official test vectors (hash, keyed hash, derive-key, all with
// extended output), and the batch call against one-at-a-time hashing and hash-wasm.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createBLAKE3 } from "hash-wasm";
import { blake3, blake3DeriveKey, blake3Keyed, blake3Many } from "../../wasm/index.ts";
import { TandemError } from "../../agent/errors.ts";
import { arena, kernels } from "../../wasm/loader.ts";

// The shared reference vectors: TANDEM_VECTORS_DIR, else a vendored tests/vectors/,
// else the ../shared/vectors next to the checkout.
const vectorsDir = process.env.TANDEM_VECTORS_DIR
  ?? [join(import.meta.dir, "..", "vectors"), join(import.meta.dir, "..", "..", "..", "shared", "vectors")].find((dir) => existsSync(join(dir, "blake3_test_vectors.json")))
  ?? join(import.meta.dir, "..", "..", "..", "shared", "vectors");
const vectors = JSON.parse(readFileSync(join(vectorsDir, "blake3_test_vectors.json"), "utf8")) as {
  key: string; context_string: string; cases: { input_len: number; hash: string; keyed_hash: string; derive_key: string }[];
};
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const vectorInput = (len: number) => Uint8Array.from({ length: len }, (_, i) => i % 251);

describe("BLAKE3 official vectors", () => {
  const key = new TextEncoder().encode(vectors.key);
  for (const c of vectors.cases) {
    test(`input_len ${c.input_len}`, () => {
      const input = vectorInput(c.input_len);
      const outBytes = c.hash.length / 2;
      expect(hex(blake3(input, outBytes))).toBe(c.hash);
      expect(hex(blake3(input))).toBe(c.hash.slice(0, 64));
      expect(hex(blake3Keyed(key, input, outBytes))).toBe(c.keyed_hash);
      expect(hex(blake3DeriveKey(vectors.context_string, input, outBytes))).toBe(c.derive_key);
    });
  }
});

// A small seeded generator so failures reproduce.
function xorshiftBytes(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe("BLAKE3 batch and large inputs", () => {
  test("blake3Many equals one-at-a-time hashing over lengths around chunk and block edges", () => {
    const lengths = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 3000, 4096, 4097, 8191, 8192, 16384, 20000, 0, 5];
    const total = lengths.reduce((a, b) => a + b, 0);
    const data = xorshiftBytes(total, 7);
    const many = blake3Many(data, lengths);
    expect(many.length).toBe(32 * lengths.length);
    let offset = 0;
    lengths.forEach((len, i) => {
      expect(hex(many.subarray(32 * i, 32 * i + 32))).toBe(hex(blake3(data.subarray(offset, offset + len))));
      offset += len;
    });
  });

  test("blake3Many over more chunks than one SIMD group, with a large piece inside, agrees with hash-wasm", async () => {
    const lengths: number[] = [];
    for (let i = 0; i < 300; i++) lengths.push(i % 7 === 0 ? 8192 : 1000 + ((i * 7919) % 15000));
    lengths.splice(150, 0, 1024 * 1024 + 3072, 1024 * 1024 * 2);
    const data = xorshiftBytes(lengths.reduce((a, b) => a + b, 0), 11);
    const many = blake3Many(data, lengths);
    const peer = await createBLAKE3();
    let offset = 0;
    lengths.forEach((len, i) => {
      peer.init();
      peer.update(data.subarray(offset, offset + len));
      expect(hex(many.subarray(32 * i, 32 * i + 32))).toBe(peer.digest("hex"));
      offset += len;
    });
  });

  test("the SIMD batch path equals the scalar reference path on random lengths", () => {
    let x = 12345;
    const lengths: number[] = [];
    for (let i = 0; i < 400; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      lengths.push(x % 3 === 0 ? (x % 20) * 1024 : x % 20000);
    }
    const data = xorshiftBytes(lengths.reduce((a, b) => a + b, 0), 5);
    arena.reset();
    const inPtr = arena.put(data);
    const lensPtr = arena.reserve(lengths.length * 4);
    new Uint32Array(arena.bytes().buffer, lensPtr, lengths.length).set(lengths);
    const simdPtr = arena.reserve(lengths.length * 32);
    const scalarPtr = arena.reserve(lengths.length * 32);
    kernels.blake3Many(inPtr, lensPtr, lengths.length, simdPtr);
    kernels.blake3ManyScalar(inPtr, lensPtr, lengths.length, scalarPtr);
    expect(hex(arena.copyOut(simdPtr, lengths.length * 32))).toBe(hex(arena.copyOut(scalarPtr, lengths.length * 32)));
  });

  test("multi-megabyte input agrees with hash-wasm", async () => {
    const data = xorshiftBytes(3 * 1024 * 1024 + 777, 99);
    const peer = await createBLAKE3();
    peer.init();
    peer.update(data);
    expect(hex(blake3(data))).toBe(peer.digest("hex"));
  });

  test("bad arguments give TandemErrors", () => {
    expect(() => blake3(new Uint8Array(1), 0)).toThrow(TandemError);
    expect(() => blake3Keyed(new Uint8Array(31), new Uint8Array(1))).toThrow(TandemError);
    expect(() => blake3Many(new Uint8Array(10), [5, 6])).toThrow(TandemError);
    expect(() => blake3Many(new Uint8Array(10), [5, -1])).toThrow(TandemError);
  });
});
