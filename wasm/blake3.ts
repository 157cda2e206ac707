// Typed BLAKE3 entry points over the WASM kernels: plain, keyed and derive-key
// hashing with extended output, and a batch call that hashes consecutive pieces of
// one buffer in a single crossing into WASM. Inputs are copied into the loader's
// arena once; digests are copied out, so results stay valid after later calls.
import { TandemError } from "../agent/errors.ts";
import { arena, arenaBytesMax, kernels } from "./loader.ts";

/** Largest extended output one call produces. */
export const blake3OutBytesMax = 1024 * 1024;
/** Largest input one call hashes (it must fit in the arena next to its outputs). */
export const blake3InputBytesMax = arenaBytesMax / 2;
/** Largest number of pieces in one blake3Many call. */
export const blake3ManyPiecesMax = 1 << 22;

const keyedHashFlag = 16;
const deriveKeyContextFlag = 32;
const deriveKeyMaterialFlag = 64;
export const blake3KeyBytes = 32;

function checkOutBytes(outBytes: number): void {
  if (!Number.isInteger(outBytes) || outBytes < 1 || outBytes > blake3OutBytesMax) {
    throw new TandemError("badInput", `BLAKE3 output length must be an integer from 1 to ${blake3OutBytesMax}, got ${outBytes}`);
  }
}

function checkInput(data: Uint8Array): void {
  if (!(data instanceof Uint8Array)) throw new TandemError("badInput", "BLAKE3 input must be a Uint8Array");
  if (data.length > blake3InputBytesMax) {
    throw new TandemError("limitExceeded", `BLAKE3 input of ${data.length} bytes exceeds blake3InputBytesMax (${blake3InputBytesMax})`);
  }
}

function hashWith(keyBytes: Uint8Array | null, flags: number, data: Uint8Array, outBytes: number): Uint8Array {
  checkOutBytes(outBytes);
  checkInput(data);
  arena.reset();
  const inPtr = arena.put(data);
  const keyPtr = keyBytes ? arena.put(keyBytes) : 0;
  const outPtr = arena.reserve(outBytes);
  kernels.blake3Hash(inPtr, data.length, keyPtr, flags, outPtr, outBytes);
  return arena.copyOut(outPtr, outBytes);
}

/** BLAKE3 hash of `data`; `outBytes` > 32 gives the extended output (XOF). */
export function blake3(data: Uint8Array, outBytes = 32): Uint8Array {
  return hashWith(null, 0, data, outBytes);
}

/** BLAKE3 keyed hash (MAC) with a 32-byte key. */
export function blake3Keyed(key: Uint8Array, data: Uint8Array, outBytes = 32): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== blake3KeyBytes) {
    throw new TandemError("badInput", `BLAKE3 key must be ${blake3KeyBytes} bytes, got ${key?.length}`);
  }
  return hashWith(key, keyedHashFlag, data, outBytes);
}

/** BLAKE3 derive-key mode: a key for `context` (a hard-coded, unique string) from `material`. */
export function blake3DeriveKey(context: string, material: Uint8Array, outBytes = 32): Uint8Array {
  const contextKey = hashWith(null, deriveKeyContextFlag, new TextEncoder().encode(context), blake3KeyBytes);
  return hashWith(contextKey, deriveKeyMaterialFlag, material, outBytes);
}

/** Hashes consecutive pieces of `data` with the given lengths in one call; 32 bytes per piece. */
export function blake3Many(data: Uint8Array, lengths: ArrayLike<number>): Uint8Array {
  checkInput(data);
  const n = lengths.length;
  if (n > blake3ManyPiecesMax) throw new TandemError("limitExceeded", `${n} pieces exceed blake3ManyPiecesMax (${blake3ManyPiecesMax})`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = lengths[i]!;
    if (!Number.isInteger(len) || len < 0) throw new TandemError("badInput", `piece ${i} has an invalid length ${len}`);
    total += len;
  }
  if (total > data.length) throw new TandemError("badInput", `piece lengths add up to ${total} bytes, more than the ${data.length} given`);
  arena.reset();
  const inPtr = arena.put(total === data.length ? data : data.subarray(0, total));
  const lensPtr = arena.reserve(n * 4);
  new Uint32Array(arena.bytes().buffer, lensPtr, n).set(lengths);
  const outPtr = arena.reserve(n * 32);
  kernels.blake3Many(inPtr, lensPtr, n, outPtr);
  return arena.copyOut(outPtr, n * 32);
}
