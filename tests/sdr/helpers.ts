// Shared pieces of the SDR tests: seeded data generators (text-like, random, edited
// copies), temporary data directories with real LMDB segment stores, and a helper
// that pushes a whole input through an encoder/decoder pair in pieces.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSegmentStore, type OpenedStore } from "../../agent/store/index.ts";
import type { SdrDecoder, SdrEncoder } from "../../agent/sdr/index.ts";

export const repoRoot = join(import.meta.dir, "..", "..");

export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export function randomBytes(length: number, seed: number): Uint8Array {
  const random = xorshift(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

const words = ["const", "function", "return", "typescript", "export", "interface", "number", "string", "=>", "{", "}", ";\n", "if", "else"];

/** Compressible, text-like bytes. */
export function textBytes(length: number, seed: number): Uint8Array {
  const random = xorshift(seed);
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const word = words[Math.floor(random() * words.length)]! + (random() < 0.3 ? String(Math.floor(random() * 1000)) : "") + " ";
    for (let i = 0; i < word.length && at < length; i++) out[at++] = word.charCodeAt(i);
  }
  return out;
}

/** A copy of `base` with `edits` random inserts, deletes and byte flips. */
export function editRandomly(base: Uint8Array, random: () => number, edits: number): Uint8Array {
  let out = base.slice();
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (out.length + 1));
    const kind = Math.floor(random() * 3);
    if (kind === 0) {
      const insert = randomBytes(1 + Math.floor(random() * 64), Math.floor(random() * 1e9));
      out = Buffer.concat([out.subarray(0, at), insert, out.subarray(at)]);
    } else if (kind === 1 && out.length > 0) {
      const len = Math.min(out.length - at, 1 + Math.floor(random() * 64));
      out = Buffer.concat([out.subarray(0, at), out.subarray(at + len)]);
    } else if (out.length > 0) {
      const i = Math.min(at, out.length - 1);
      out[i] = out[i]! ^ (1 + Math.floor(random() * 255));
    }
  }
  return new Uint8Array(out);
}

const made: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-sdr-test-"));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function openStore(dir = tempDir()): Promise<OpenedStore> {
  return openSegmentStore({ dir, model: "TDM-TEST", softwareVersion: "0.0.0" });
}

/** Encodes `data` in pieces of `pieceBytes` (then flushes) and returns the frames. */
export async function encodeAll(encoder: SdrEncoder, data: Uint8Array, pieceBytes = 64 * 1024): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += pieceBytes) frames.push(...(await encoder.encode(data.subarray(at, at + pieceBytes))));
  frames.push(...(await encoder.flush()));
  return frames;
}

export async function decodeAll(decoder: SdrDecoder, frames: Uint8Array[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (const frame of frames) parts.push(...(await decoder.decode(frame)));
  return new Uint8Array(Buffer.concat(parts));
}

export function frameBytes(frames: Uint8Array[]): number {
  return frames.reduce((n, f) => n + f.length, 0);
}

export function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}
