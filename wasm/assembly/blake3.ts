// BLAKE3 in AssemblyScript: hash, keyed hash and derive-key, with extended output,
// over whole buffers that the loader placed in the arena. The chunk tree is built
// left to right with a stack of chaining values (the spec's "lazy merge"), kept in
// static scratch so that a call allocates nothing. Every full chunk that cannot be
// the root goes through a 4-lane v128 compressor (four chunks side by side, state
// transposed: lane i of every vector belongs to chunk i), also across input
// boundaries in batch calls; a partial last chunk, parents and the root output use
// the scalar compressor. Rounds are loops that permute the message words in place: Bun's JSC
// ran the fully unrolled forms (scalar and SIMD) markedly slower than these small
// functions, while V8 prefers unrolled; we tune for the runtime we ship on.

// Flags of the BLAKE3 spec (section 2.1).
const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const PARENT: u32 = 4;
const ROOT: u32 = 8;
// KEYED_HASH (16), DERIVE_KEY_CONTEXT (32) and DERIVE_KEY_MATERIAL (64) come from the
// loader as `flags`.

const CHUNK_BYTES: usize = 1024;
const BLOCK_BYTES: usize = 64;

const IV0: u32 = 0x6a09e667;
const IV1: u32 = 0xbb67ae85;
const IV2: u32 = 0x3c6ef372;
const IV3: u32 = 0xa54ff53a;
const IV4: u32 = 0x510e527f;
const IV5: u32 = 0x9b05688c;
const IV6: u32 = 0x1f83d9ab;
const IV7: u32 = 0x5be0cd19;

/** Depth of the chaining-value stack: log2 of the largest input in chunks, plus room. */
const STACK_DEPTH_MAX: usize = 56;
const cvStack: usize = memory.data(<i32>(STACK_DEPTH_MAX * 32), 16);
const blockBuf: usize = memory.data(64, 16);
const chunkCv: usize = memory.data(32, 16);
const keyWords: usize = memory.data(32, 16);
const xofBuf: usize = memory.data(64, 16);
/** Four full chunks' chaining values from the SIMD path, lane by lane (4 x 32 bytes). */
const laneCvs: usize = memory.data(128, 16);

// The pending "output" of the spec: what the next compression would be, kept
// uncompressed so that it can become either a chaining value or the root.
let outCvPtr: usize = 0;
let outBlockPtr: usize = 0;
let outBlockLen: u32 = 0;
let outCounter: u64 = 0;
let outFlags: u32 = 0;

/**
 * One compression. Reads all of cv (8 words at cvPtr) and the block (16 words at
 * blockPtr) before writing, so outPtr may alias either. Writes 8 words (the new
 * chaining value) or, with `full`, 16 words (extended output).
 */
function compress(cvPtr: usize, blockPtr: usize, blockLen: u32, counter: u64, flags: u32, outPtr: usize, full: bool): void {
  const c0 = load<u32>(cvPtr, 0), c1 = load<u32>(cvPtr, 4), c2 = load<u32>(cvPtr, 8), c3 = load<u32>(cvPtr, 12);
  const c4 = load<u32>(cvPtr, 16), c5 = load<u32>(cvPtr, 20), c6 = load<u32>(cvPtr, 24), c7 = load<u32>(cvPtr, 28);
  let m0 = load<u32>(blockPtr, 0), m1 = load<u32>(blockPtr, 4), m2 = load<u32>(blockPtr, 8), m3 = load<u32>(blockPtr, 12);
  let m4 = load<u32>(blockPtr, 16), m5 = load<u32>(blockPtr, 20), m6 = load<u32>(blockPtr, 24), m7 = load<u32>(blockPtr, 28);
  let m8 = load<u32>(blockPtr, 32), m9 = load<u32>(blockPtr, 36), m10 = load<u32>(blockPtr, 40), m11 = load<u32>(blockPtr, 44);
  let m12 = load<u32>(blockPtr, 48), m13 = load<u32>(blockPtr, 52), m14 = load<u32>(blockPtr, 56), m15 = load<u32>(blockPtr, 60);
  let v0 = c0, v1 = c1, v2 = c2, v3 = c3, v4 = c4, v5 = c5, v6 = c6, v7 = c7;
  let v8 = IV0, v9 = IV1, v10 = IV2, v11 = IV3;
  let v12 = <u32>counter, v13 = <u32>(counter >>> 32), v14 = blockLen, v15 = flags;
  // Rounds as a loop with the message permuted in place: a small function that JSC's
  // optimizing tier takes (the fully unrolled form ran markedly slower in Bun).
  for (let r = 0; r < 7; r++) {
    v0 = v0 + v4 + m0; v12 = rotr<u32>(v12 ^ v0, 16); v8 = v8 + v12; v4 = rotr<u32>(v4 ^ v8, 12);
    v0 = v0 + v4 + m1; v12 = rotr<u32>(v12 ^ v0, 8); v8 = v8 + v12; v4 = rotr<u32>(v4 ^ v8, 7);
    v1 = v1 + v5 + m2; v13 = rotr<u32>(v13 ^ v1, 16); v9 = v9 + v13; v5 = rotr<u32>(v5 ^ v9, 12);
    v1 = v1 + v5 + m3; v13 = rotr<u32>(v13 ^ v1, 8); v9 = v9 + v13; v5 = rotr<u32>(v5 ^ v9, 7);
    v2 = v2 + v6 + m4; v14 = rotr<u32>(v14 ^ v2, 16); v10 = v10 + v14; v6 = rotr<u32>(v6 ^ v10, 12);
    v2 = v2 + v6 + m5; v14 = rotr<u32>(v14 ^ v2, 8); v10 = v10 + v14; v6 = rotr<u32>(v6 ^ v10, 7);
    v3 = v3 + v7 + m6; v15 = rotr<u32>(v15 ^ v3, 16); v11 = v11 + v15; v7 = rotr<u32>(v7 ^ v11, 12);
    v3 = v3 + v7 + m7; v15 = rotr<u32>(v15 ^ v3, 8); v11 = v11 + v15; v7 = rotr<u32>(v7 ^ v11, 7);
    v0 = v0 + v5 + m8; v15 = rotr<u32>(v15 ^ v0, 16); v10 = v10 + v15; v5 = rotr<u32>(v5 ^ v10, 12);
    v0 = v0 + v5 + m9; v15 = rotr<u32>(v15 ^ v0, 8); v10 = v10 + v15; v5 = rotr<u32>(v5 ^ v10, 7);
    v1 = v1 + v6 + m10; v12 = rotr<u32>(v12 ^ v1, 16); v11 = v11 + v12; v6 = rotr<u32>(v6 ^ v11, 12);
    v1 = v1 + v6 + m11; v12 = rotr<u32>(v12 ^ v1, 8); v11 = v11 + v12; v6 = rotr<u32>(v6 ^ v11, 7);
    v2 = v2 + v7 + m12; v13 = rotr<u32>(v13 ^ v2, 16); v8 = v8 + v13; v7 = rotr<u32>(v7 ^ v8, 12);
    v2 = v2 + v7 + m13; v13 = rotr<u32>(v13 ^ v2, 8); v8 = v8 + v13; v7 = rotr<u32>(v7 ^ v8, 7);
    v3 = v3 + v4 + m14; v14 = rotr<u32>(v14 ^ v3, 16); v9 = v9 + v14; v4 = rotr<u32>(v4 ^ v9, 12);
    v3 = v3 + v4 + m15; v14 = rotr<u32>(v14 ^ v3, 8); v9 = v9 + v14; v4 = rotr<u32>(v4 ^ v9, 7);
    if (r == 6) break;
    const q0 = m0, q1 = m1, q2 = m2, q3 = m3, q4 = m4, q5 = m5, q6 = m6, q7 = m7, q8 = m8, q9 = m9, q10 = m10, q11 = m11, q12 = m12, q13 = m13, q14 = m14, q15 = m15;
    m0 = q2; m1 = q6; m2 = q3; m3 = q10; m4 = q7; m5 = q0; m6 = q4; m7 = q13; m8 = q1; m9 = q11; m10 = q12; m11 = q5; m12 = q9; m13 = q14; m14 = q15; m15 = q8;
  }
  store<u32>(outPtr, v0 ^ v8, 0); store<u32>(outPtr, v1 ^ v9, 4); store<u32>(outPtr, v2 ^ v10, 8); store<u32>(outPtr, v3 ^ v11, 12);
  store<u32>(outPtr, v4 ^ v12, 16); store<u32>(outPtr, v5 ^ v13, 20); store<u32>(outPtr, v6 ^ v14, 24); store<u32>(outPtr, v7 ^ v15, 28);
  if (full) {
    store<u32>(outPtr, v8 ^ c0, 32); store<u32>(outPtr, v9 ^ c1, 36); store<u32>(outPtr, v10 ^ c2, 40); store<u32>(outPtr, v11 ^ c3, 44);
    store<u32>(outPtr, v12 ^ c4, 48); store<u32>(outPtr, v13 ^ c5, 52); store<u32>(outPtr, v14 ^ c6, 56); store<u32>(outPtr, v15 ^ c7, 60);
  }
}

/** Chaining value of a full 1024-byte chunk that is not the root, into outPtr. */
function fullChunkCv(keyPtr: usize, inPtr: usize, counter: u64, baseFlags: u32, outPtr: usize): void {
  compress(keyPtr, inPtr, 64, counter, baseFlags | CHUNK_START, outPtr, false);
  for (let b: usize = 1; b < 15; b++) compress(outPtr, inPtr + b * BLOCK_BYTES, 64, counter, baseFlags, outPtr, false);
  compress(outPtr, inPtr + 15 * BLOCK_BYTES, 64, counter, baseFlags | CHUNK_END, outPtr, false);
}

/** Makes the last (possibly partial, possibly empty) chunk of an input the pending output. */
function setChunkOutput(keyPtr: usize, inPtr: usize, len: usize, counter: u64, baseFlags: u32): void {
  const blocks: usize = len == 0 ? 1 : (len + BLOCK_BYTES - 1) / BLOCK_BYTES;
  let cvPtr = keyPtr;
  for (let b: usize = 0; b + 1 < blocks; b++) {
    compress(cvPtr, inPtr + b * BLOCK_BYTES, 64, counter, baseFlags | (b == 0 ? CHUNK_START : 0), chunkCv, false);
    cvPtr = chunkCv;
  }
  const lastLen = len - (blocks - 1) * BLOCK_BYTES;
  memory.fill(blockBuf, 0, BLOCK_BYTES);
  memory.copy(blockBuf, inPtr + (blocks - 1) * BLOCK_BYTES, lastLen);
  outCvPtr = cvPtr;
  outBlockPtr = blockBuf;
  outBlockLen = <u32>lastLen;
  outCounter = counter;
  outFlags = baseFlags | CHUNK_END | (blocks == 1 ? CHUNK_START : 0);
}

/** Pushes a chunk's chaining value (already at the stack top slot) and merges completed subtrees. */
@inline
function pushChunkCv(keyPtr: usize, depth: usize, totalChunks: u64, baseFlags: u32): usize {
  depth++;
  while ((totalChunks & 1) == 0) {
    const left = cvStack + (depth - 2) * 32;
    compress(keyPtr, left, 64, 0, baseFlags | PARENT, left, false);
    depth--;
    totalChunks >>= 1;
  }
  return depth;
}

/**
 * Folds the stack into the pending output, then writes `outLen` bytes of root output.
 * `depth` chaining values are on the stack; the pending output is the rightmost node.
 */
function finishRoot(keyPtr: usize, depth: usize, baseFlags: u32, outPtr: usize, outLen: usize): void {
  while (depth > 0) {
    const right = cvStack + depth * 32;
    compress(outCvPtr, outBlockPtr, outBlockLen, outCounter, outFlags, right, false);
    depth--;
    outCvPtr = keyPtr;
    outBlockPtr = cvStack + depth * 32;
    outBlockLen = 64;
    outCounter = 0;
    outFlags = baseFlags | PARENT;
  }
  let written: usize = 0;
  let blockIndex: u64 = 0;
  while (written < outLen) {
    const take = min<usize>(64, outLen - written);
    if (take == 64) {
      compress(outCvPtr, outBlockPtr, outBlockLen, blockIndex, outFlags | ROOT, outPtr + written, true);
    } else {
      compress(outCvPtr, outBlockPtr, outBlockLen, blockIndex, outFlags | ROOT, xofBuf, true);
      memory.copy(outPtr + written, xofBuf, take);
    }
    written += take;
    blockIndex++;
  }
}

/**
 * finishRoot when the rightmost chunk's chaining value is already known (a full last
 * chunk that ran in the SIMD path): it becomes the right child of the first parent.
 * Needs depth >= 1, which holds whenever the input has more than one chunk.
 */
function finishRootFromCv(keyPtr: usize, depth: usize, cvPtr: usize, baseFlags: u32, outPtr: usize, outLen: usize): void {
  memory.copy(cvStack + depth * 32, cvPtr, 32);
  depth--;
  outCvPtr = keyPtr;
  outBlockPtr = cvStack + depth * 32;
  outBlockLen = 64;
  outCounter = 0;
  outFlags = baseFlags | PARENT;
  finishRoot(keyPtr, depth, baseFlags, outPtr, outLen);
}

/** Scalar hash of one input (the reference path, also used for the tails of SIMD batches). */
function hashScalar(inPtr: usize, len: usize, keyPtr: usize, baseFlags: u32, outPtr: usize, outLen: usize): void {
  const chunks: usize = len == 0 ? 1 : (len + CHUNK_BYTES - 1) / CHUNK_BYTES;
  let depth: usize = 0;
  for (let i: usize = 0; i + 1 < chunks; i++) {
    fullChunkCv(keyPtr, inPtr + i * CHUNK_BYTES, <u64>i, baseFlags, cvStack + depth * 32);
    depth = pushChunkCv(keyPtr, depth, <u64>(i + 1), baseFlags);
  }
  const lastStart = (chunks - 1) * CHUNK_BYTES;
  setChunkOutput(keyPtr, inPtr + lastStart, len - lastStart, <u64>(chunks - 1), baseFlags);
  finishRoot(keyPtr, depth, baseFlags, outPtr, outLen);
}

function setKey(keyPtr: usize): usize {
  if (keyPtr == 0) {
    store<u32>(keyWords, IV0, 0); store<u32>(keyWords, IV1, 4); store<u32>(keyWords, IV2, 8); store<u32>(keyWords, IV3, 12);
    store<u32>(keyWords, IV4, 16); store<u32>(keyWords, IV5, 20); store<u32>(keyWords, IV6, 24); store<u32>(keyWords, IV7, 28);
  } else {
    memory.copy(keyWords, keyPtr, 32);
  }
  return keyWords;
}

/**
 * Hashes `len` bytes at inPtr into `outLen` bytes at outPtr. keyPtr 0 = plain hash
 * (key = IV); otherwise 32 key bytes at keyPtr, used with `flags` (KEYED_HASH,
 * DERIVE_KEY_CONTEXT or DERIVE_KEY_MATERIAL).
 */
export function blake3Hash(inPtr: usize, len: usize, keyPtr: usize, flags: u32, outPtr: usize, outLen: usize): void {
  hashInput(inPtr, len, setKey(keyPtr), flags, outPtr, outLen);
}

/** Hashes `n` consecutive pieces (u32 lengths at lensPtr) into n 32-byte digests at outPtr. */
export function blake3Many(inPtr: usize, lensPtr: usize, n: u32, outPtr: usize): void {
  hashPieces(inPtr, lensPtr, n, outPtr, setKey(0));
}

/** The scalar reference for blake3Many (kept for tests and benchmarks of the SIMD path). */
export function blake3ManyScalar(inPtr: usize, lensPtr: usize, n: u32, outPtr: usize): void {
  const key = setKey(0);
  let p = inPtr;
  for (let i: u32 = 0; i < n; i++) {
    const len = <usize>load<u32>(lensPtr + (<usize>i << 2));
    hashScalar(p, len, key, 0, outPtr + (<usize>i << 5), 32);
    p += len;
  }
}

/** The hash of one input (plain, keyed or derive-key per keyPtr and baseFlags); used by the chunker too. */
function hashInput(inPtr: usize, len: usize, keyPtr: usize, baseFlags: u32, outPtr: usize, outLen: usize): void {
  hashOne(inPtr, len, keyPtr, baseFlags, outPtr, outLen);
}

// ---- 4-lane SIMD path ------------------------------------------------------------

@inline function rot16(x: v128): v128 { return i8x16.shuffle(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13); }
@inline function rot8(x: v128): v128 { return i8x16.shuffle(x, x, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12); }
// JSC lowers every v128 shift to four instructions (it does not fold the constant count),
// a multiply to one: the left halves of rot12/rot7 are multiplies by 2^20 and 2^25.
@inline function rot12(x: v128): v128 { return v128.or(i32x4.shr_u(x, 12), i32x4.mul(x, i32x4.splat(1 << 20))); }
// rotr 7 = rotr 8 after rotl 1, and rotl 1 = x + x, plus 1 where the top bit was set
// (i32x4.lt_s gives -1 there): no shift at all.
@inline function rot7(x: v128): v128 { return rot8(i32x4.sub(i32x4.add(x, x), i32x4.lt_s(x, i32x4.splat(0)))); }

/** Chunk pointers, counters and output pointers of one 4-lane call. */
const lanePtrs: usize = memory.data(16, 16);
const laneCounters: usize = memory.data(16, 16);
const laneOuts: usize = memory.data(16, 16);

/**
 * Chaining values of four full, non-root chunks at once: lane j hashes the 1024 bytes
 * at lanePtrs[j] with chunk counter laneCounters[j] and writes 32 bytes at laneOuts[j].
 */
function compress4(keyPtr: usize, baseFlags: u32): void {
  const p0 = <usize>load<u32>(lanePtrs, 0), p1 = <usize>load<u32>(lanePtrs, 4);
  const p2 = <usize>load<u32>(lanePtrs, 8), p3 = <usize>load<u32>(lanePtrs, 12);
  let h0 = i32x4.splat(load<u32>(keyPtr, 0)), h1 = i32x4.splat(load<u32>(keyPtr, 4));
  let h2 = i32x4.splat(load<u32>(keyPtr, 8)), h3 = i32x4.splat(load<u32>(keyPtr, 12));
  let h4 = i32x4.splat(load<u32>(keyPtr, 16)), h5 = i32x4.splat(load<u32>(keyPtr, 20));
  let h6 = i32x4.splat(load<u32>(keyPtr, 24)), h7 = i32x4.splat(load<u32>(keyPtr, 28));
  const counterLo = v128.load(laneCounters);
  const counterHi = i32x4.splat(0);
  const blockLen = i32x4.splat(64);
  for (let b: usize = 0; b < CHUNK_BYTES; b += BLOCK_BYTES) {
    const flags = baseFlags | (b == 0 ? CHUNK_START : 0) | (b == CHUNK_BYTES - BLOCK_BYTES ? CHUNK_END : 0);
    // Load the block of each lane and transpose: m_i holds word i of all four lanes.
    let r0 = v128.load(p0 + b), r1 = v128.load(p1 + b), r2 = v128.load(p2 + b), r3 = v128.load(p3 + b);
    let t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    let t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    let m0 = i64x2.shuffle(t0, t2, 0, 2), m1 = i64x2.shuffle(t0, t2, 1, 3), m2 = i64x2.shuffle(t1, t3, 0, 2), m3 = i64x2.shuffle(t1, t3, 1, 3);
    r0 = v128.load(p0 + b + 16); r1 = v128.load(p1 + b + 16); r2 = v128.load(p2 + b + 16); r3 = v128.load(p3 + b + 16);
    t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5); t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5); t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    let m4 = i64x2.shuffle(t0, t2, 0, 2), m5 = i64x2.shuffle(t0, t2, 1, 3), m6 = i64x2.shuffle(t1, t3, 0, 2), m7 = i64x2.shuffle(t1, t3, 1, 3);
    r0 = v128.load(p0 + b + 32); r1 = v128.load(p1 + b + 32); r2 = v128.load(p2 + b + 32); r3 = v128.load(p3 + b + 32);
    t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5); t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5); t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    let m8 = i64x2.shuffle(t0, t2, 0, 2), m9 = i64x2.shuffle(t0, t2, 1, 3), m10 = i64x2.shuffle(t1, t3, 0, 2), m11 = i64x2.shuffle(t1, t3, 1, 3);
    r0 = v128.load(p0 + b + 48); r1 = v128.load(p1 + b + 48); r2 = v128.load(p2 + b + 48); r3 = v128.load(p3 + b + 48);
    t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5); t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5); t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    let m12 = i64x2.shuffle(t0, t2, 0, 2), m13 = i64x2.shuffle(t0, t2, 1, 3), m14 = i64x2.shuffle(t1, t3, 0, 2), m15 = i64x2.shuffle(t1, t3, 1, 3);
    let v0 = h0, v1 = h1, v2 = h2, v3 = h3, v4 = h4, v5 = h5, v6 = h6, v7 = h7;
    let v8 = i32x4.splat(IV0), v9 = i32x4.splat(IV1), v10 = i32x4.splat(IV2), v11 = i32x4.splat(IV3);
    let v12 = counterLo, v13 = counterHi, v14 = blockLen, v15 = i32x4.splat(flags);
    for (let r = 0; r < 7; r++) {
      v0 = i32x4.add(i32x4.add(v0, v4), m0); v1 = i32x4.add(i32x4.add(v1, v5), m2); v2 = i32x4.add(i32x4.add(v2, v6), m4); v3 = i32x4.add(i32x4.add(v3, v7), m6);
      v12 = rot16(v128.xor(v12, v0)); v13 = rot16(v128.xor(v13, v1)); v14 = rot16(v128.xor(v14, v2)); v15 = rot16(v128.xor(v15, v3));
      v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
      v4 = rot12(v128.xor(v4, v8)); v5 = rot12(v128.xor(v5, v9)); v6 = rot12(v128.xor(v6, v10)); v7 = rot12(v128.xor(v7, v11));
      v0 = i32x4.add(i32x4.add(v0, v4), m1); v1 = i32x4.add(i32x4.add(v1, v5), m3); v2 = i32x4.add(i32x4.add(v2, v6), m5); v3 = i32x4.add(i32x4.add(v3, v7), m7);
      v12 = rot8(v128.xor(v12, v0)); v13 = rot8(v128.xor(v13, v1)); v14 = rot8(v128.xor(v14, v2)); v15 = rot8(v128.xor(v15, v3));
      v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
      v4 = rot7(v128.xor(v4, v8)); v5 = rot7(v128.xor(v5, v9)); v6 = rot7(v128.xor(v6, v10)); v7 = rot7(v128.xor(v7, v11));
      v0 = i32x4.add(i32x4.add(v0, v5), m8); v1 = i32x4.add(i32x4.add(v1, v6), m10); v2 = i32x4.add(i32x4.add(v2, v7), m12); v3 = i32x4.add(i32x4.add(v3, v4), m14);
      v15 = rot16(v128.xor(v15, v0)); v12 = rot16(v128.xor(v12, v1)); v13 = rot16(v128.xor(v13, v2)); v14 = rot16(v128.xor(v14, v3));
      v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
      v5 = rot12(v128.xor(v5, v10)); v6 = rot12(v128.xor(v6, v11)); v7 = rot12(v128.xor(v7, v8)); v4 = rot12(v128.xor(v4, v9));
      v0 = i32x4.add(i32x4.add(v0, v5), m9); v1 = i32x4.add(i32x4.add(v1, v6), m11); v2 = i32x4.add(i32x4.add(v2, v7), m13); v3 = i32x4.add(i32x4.add(v3, v4), m15);
      v15 = rot8(v128.xor(v15, v0)); v12 = rot8(v128.xor(v12, v1)); v13 = rot8(v128.xor(v13, v2)); v14 = rot8(v128.xor(v14, v3));
      v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
      v5 = rot7(v128.xor(v5, v10)); v6 = rot7(v128.xor(v6, v11)); v7 = rot7(v128.xor(v7, v8)); v4 = rot7(v128.xor(v4, v9));
      if (r == 6) break;
      const q0 = m0, q1 = m1, q2 = m2, q3 = m3, q4 = m4, q5 = m5, q6 = m6, q7 = m7, q8 = m8, q9 = m9, q10 = m10, q11 = m11, q12 = m12, q13 = m13, q14 = m14, q15 = m15;
      m0 = q2; m1 = q6; m2 = q3; m3 = q10; m4 = q7; m5 = q0; m6 = q4; m7 = q13; m8 = q1; m9 = q11; m10 = q12; m11 = q5; m12 = q9; m13 = q14; m14 = q15; m15 = q8;
    }
    h0 = v128.xor(v0, v8); h1 = v128.xor(v1, v9); h2 = v128.xor(v2, v10); h3 = v128.xor(v3, v11);
    h4 = v128.xor(v4, v12); h5 = v128.xor(v5, v13); h6 = v128.xor(v6, v14); h7 = v128.xor(v7, v15);
  }
  // Transpose back: lane j's eight words go to laneOuts[j].
  const o0 = <usize>load<u32>(laneOuts, 0), o1 = <usize>load<u32>(laneOuts, 4);
  const o2 = <usize>load<u32>(laneOuts, 8), o3 = <usize>load<u32>(laneOuts, 12);
  let t0 = i32x4.shuffle(h0, h1, 0, 4, 1, 5), t1 = i32x4.shuffle(h0, h1, 2, 6, 3, 7);
  let t2 = i32x4.shuffle(h2, h3, 0, 4, 1, 5), t3 = i32x4.shuffle(h2, h3, 2, 6, 3, 7);
  v128.store(o0, i64x2.shuffle(t0, t2, 0, 2)); v128.store(o1, i64x2.shuffle(t0, t2, 1, 3));
  v128.store(o2, i64x2.shuffle(t1, t3, 0, 2)); v128.store(o3, i64x2.shuffle(t1, t3, 1, 3));
  t0 = i32x4.shuffle(h4, h5, 0, 4, 1, 5); t1 = i32x4.shuffle(h4, h5, 2, 6, 3, 7);
  t2 = i32x4.shuffle(h6, h7, 0, 4, 1, 5); t3 = i32x4.shuffle(h6, h7, 2, 6, 3, 7);
  v128.store(o0 + 16, i64x2.shuffle(t0, t2, 0, 2)); v128.store(o1 + 16, i64x2.shuffle(t0, t2, 1, 3));
  v128.store(o2 + 16, i64x2.shuffle(t1, t3, 0, 2)); v128.store(o3 + 16, i64x2.shuffle(t1, t3, 1, 3));
}

/** Chunk jobs gathered across the pieces of a batch call, and their chaining values. */
const JOBS_MAX: usize = 1024;
const jobPtrs: usize = memory.data(<i32>(JOBS_MAX * 4), 16);
const jobCounters: usize = memory.data(<i32>(JOBS_MAX * 4), 16);
const jobCvs: usize = memory.data(<i32>((JOBS_MAX + 4) * 32), 16);
/** Where lanes without a job write (a call with fewer than four jobs left). */
const spareCv: usize = memory.data(32, 16);

/** Runs jobs [0, count) four at a time; job k's chaining value lands at jobCvs + 32k. */
function runJobs(keyPtr: usize, baseFlags: u32, count: usize): void {
  // One or two jobs left over cost less in the scalar compressor than a 4-lane call
  // that is mostly padding (a 4-lane call costs about as much as two scalar chunks).
  const leftover = count & 3;
  const simdCount = leftover <= 2 ? count - leftover : count;
  for (let k: usize = simdCount; k < count; k++) {
    fullChunkCv(keyPtr, <usize>load<u32>(jobPtrs + (k << 2)), <u64>load<u32>(jobCounters + (k << 2)), baseFlags, jobCvs + (k << 5));
  }
  count = simdCount;
  for (let k: usize = 0; k < count; k += 4) {
    for (let lane: usize = 0; lane < 4; lane++) {
      const job = k + lane < count ? k + lane : count - 1;
      store<u32>(lanePtrs + (lane << 2), load<u32>(jobPtrs + (job << 2)));
      store<u32>(laneCounters + (lane << 2), load<u32>(jobCounters + (job << 2)));
      store<u32>(laneOuts + (lane << 2), <u32>(k + lane < count ? jobCvs + ((k + lane) << 5) : spareCv));
    }
    compress4(keyPtr, baseFlags);
  }
}

/**
 * Hashes one input: its full non-last chunks go through the SIMD compressor in slices
 * of JOBS_MAX chunks, merged into the tree as they come; the last chunk and the
 * parents are scalar.
 */
function hashOne(inPtr: usize, len: usize, keyPtr: usize, baseFlags: u32, outPtr: usize, outLen: usize): void {
  const chunks: usize = len == 0 ? 1 : (len + CHUNK_BYTES - 1) / CHUNK_BYTES;
  const jobsTotal = simdChunks(len);
  let depth: usize = 0;
  for (let first: usize = 0; first < jobsTotal; first += JOBS_MAX) {
    const count = min<usize>(JOBS_MAX, jobsTotal - first);
    for (let k: usize = 0; k < count; k++) {
      store<u32>(jobPtrs + (k << 2), <u32>(inPtr + (first + k) * CHUNK_BYTES));
      store<u32>(jobCounters + (k << 2), <u32>(first + k));
    }
    runJobs(keyPtr, baseFlags, count);
    for (let k: usize = 0; k < count; k++) {
      if (first + k + 1 == chunks) {
        finishRootFromCv(keyPtr, depth, jobCvs + (k << 5), baseFlags, outPtr, outLen);
        return;
      }
      memory.copy(cvStack + depth * 32, jobCvs + (k << 5), 32);
      depth = pushChunkCv(keyPtr, depth, <u64>(first + k + 1), baseFlags);
    }
  }
  const lastStart = (chunks - 1) * CHUNK_BYTES;
  setChunkOutput(keyPtr, inPtr + lastStart, len - lastStart, <u64>(chunks - 1), baseFlags);
  finishRoot(keyPtr, depth, baseFlags, outPtr, outLen);
}

/**
 * Chunks of an input that go through the SIMD path: every full chunk that cannot be
 * the root, i.e. all full chunks when there are several chunks, but never the last
 * chunk when it is partial.
 */
@inline
function simdChunks(len: usize): usize {
  return len <= CHUNK_BYTES ? 0 : len / CHUNK_BYTES;
}

/**
 * 32-byte hashes of n consecutive pieces. Small pieces are gathered into groups whose
 * full non-last chunks (at most JOBS_MAX) run four lanes wide across piece
 * boundaries; then each piece's tree is finished from those chaining values.
 */
function hashPieces(inPtr: usize, lensPtr: usize, n: u32, outPtr: usize, keyPtr: usize): void {
  let i: u32 = 0;
  let p = inPtr;
  while (i < n) {
    // Gather pieces [i, j) while their jobs fit.
    let jobs: usize = 0;
    let j = i;
    let q = p;
    while (j < n) {
      const len = <usize>load<u32>(lensPtr + (<usize>j << 2));
      const full = simdChunks(len);
      if (jobs + full > JOBS_MAX) break;
      for (let c: usize = 0; c < full; c++) {
        store<u32>(jobPtrs + ((jobs + c) << 2), <u32>(q + c * CHUNK_BYTES));
        store<u32>(jobCounters + ((jobs + c) << 2), <u32>c);
      }
      jobs += full;
      q += len;
      j++;
    }
    if (j == i) {
      // One piece larger than a whole group: hash it on its own.
      const len = <usize>load<u32>(lensPtr + (<usize>i << 2));
      hashOne(p, len, keyPtr, 0, outPtr + (<usize>i << 5), 32);
      p += len;
      i++;
      continue;
    }
    runJobs(keyPtr, 0, jobs);
    let job: usize = 0;
    for (; i < j; i++) {
      const len = <usize>load<u32>(lensPtr + (<usize>i << 2));
      const chunks: usize = len == 0 ? 1 : (len + CHUNK_BYTES - 1) / CHUNK_BYTES;
      const full = simdChunks(len);
      const out = outPtr + (<usize>i << 5);
      let depth: usize = 0;
      const pushed = full == chunks ? full - 1 : full;
      for (let c: usize = 0; c < pushed; c++) {
        memory.copy(cvStack + depth * 32, jobCvs + ((job + c) << 5), 32);
        depth = pushChunkCv(keyPtr, depth, <u64>(c + 1), 0);
      }
      if (full == chunks) {
        finishRootFromCv(keyPtr, depth, jobCvs + ((job + full - 1) << 5), 0, out, 32);
      } else {
        const lastStart = full * CHUNK_BYTES;
        setChunkOutput(keyPtr, p + lastStart, len - lastStart, <u64>full, 0);
        finishRoot(keyPtr, depth, 0, out, 32);
      }
      job += full;
      p += len;
    }
  }
}
