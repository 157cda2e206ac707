// LZ4 block codec kernels: a fast greedy compressor (lz4 -1 style, one hash table),
// a higher-ratio hash-chain compressor with lazy matching, and a safe decompressor.
//
// Memory contract (see wasm/loader.ts): the caller lays out an optional dictionary
// immediately before the data, so the window (dictionary + data) is one contiguous
// range and matches may reach back into the dictionary without special cases. The
// compressors may read up to 8 bytes past the end of their input (the caller
// reserves that slack) and need `dstCap >= lz4BlockBound(srcLen)`. The decompressor
// reads and writes nothing outside [src, src+srcLen) and [dst-dictLen, dst+dstCap),
// whatever the input: every length, offset and position is checked before use.
//
// The fast compressor's main hash table lives in static memory and is not cleared
// between calls: each call numbers its window positions from a fresh epoch, so entries
// left by earlier calls fall below the epoch and are ignored. Inputs under 64 KiB
// without dictionary (the store's segments) use a small 16-bit table instead, cleared
// per call, which needs no epoch checks. The hash-chain tables are caller scratch,
// cleared per call. Either way output depends only on (dictionary, data).

// @ts-ignore: decorator
@inline const minMatch: usize = 4;
// @ts-ignore: decorator
@inline const lastLiterals: usize = 5; // the format's last 5 bytes are always literals
// @ts-ignore: decorator
@inline const mfLimit: usize = 12; // the last match starts at least 12 bytes before the end
// @ts-ignore: decorator
@inline const distanceMax: u32 = 65535;
// @ts-ignore: decorator
@inline const skipTrigger: u32 = 6;
// @ts-ignore: decorator
@inline const epochLimit: u32 = 0x7000_0000;

// @ts-ignore: decorator
@inline const fastHashLog: u32 = 13;
const fastTable = memory.data(4 << fastHashLog, 16);
let fastEpoch: u32 = 1;

// @ts-ignore: decorator
@inline const smallHashLog: u32 = 13;
// @ts-ignore: decorator
@inline const smallInputBytesMax: usize = 65535; // positions fit 16 bits
const smallTable = memory.data(2 << smallHashLog, 16);

// @ts-ignore: decorator
@inline const hcHashLog: u32 = 15;
// @ts-ignore: decorator
@inline const hcChainMask: u32 = 0xffff;
/** Scratch the caller lends lz4CompressHigh (head table, then chain table): too big for static data. */
export const lz4HighScratchBytes: u32 = (4 << hcHashLog) + (2 << 16);
let hcTable: usize = 0;
let hcChain: usize = 0;

/** Error codes of lz4DecompressSafe (negative); lz4LastErrorOffset() says where in the input. */
export const lz4ErrEmpty: i32 = -1;
export const lz4ErrTruncatedToken: i32 = -2;
export const lz4ErrLiteralPastInput: i32 = -3;
export const lz4ErrLiteralPastOutput: i32 = -4;
export const lz4ErrTruncatedOffset: i32 = -5;
export const lz4ErrOffsetZero: i32 = -6;
export const lz4ErrOffsetBeforeStart: i32 = -7;
export const lz4ErrMatchPastOutput: i32 = -8;
export const lz4ErrTruncatedLength: i32 = -9;
/** Compressor: destination smaller than lz4BlockBound. */
export const lz4ErrDstTooSmall: i32 = -20;

let lastErrorOffset: u32 = 0;

/** Input offset at which the last failed decompression stopped. */
export function lz4LastErrorOffset(): u32 {
  return lastErrorOffset;
}

/** Largest compressed size of `n` raw bytes. */
export function lz4BlockBound(n: u32): u32 {
  return n + n / 255 + 16;
}

// @ts-ignore: decorator
@inline function hash5(sequence: u64, hashLog: u32): u32 {
  return <u32>(((sequence << 24) * 889523592379) >> (64 - hashLog));
}

// @ts-ignore: decorator
@inline function hash4(sequence: u32, hashLog: u32): u32 {
  return (sequence * 2654435761) >> (32 - hashLog);
}

/**
 * Length of the common prefix of `a` and `b`, not reading `a` at or beyond `aLimit`.
 * 16 bytes per step (SIMD compare, bitmask, count trailing zeros): most matches end
 * within the first 16, so the loop's exit branch is rarely mispredicted, where 8-byte
 * steps mispredicted for the ~30% of matches longer than 12.
 */
// @ts-ignore: decorator
@inline function commonLength(a: usize, b: usize, aLimit: usize): usize {
  const start = a;
  while (a + 16 <= aLimit) {
    const equal = i8x16.bitmask(i8x16.eq(v128.load(a), v128.load(b)));
    if (equal != 0xffff) return a - start + <usize>ctz<u32>(~equal);
    a += 16;
    b += 16;
  }
  if (a + 8 <= aLimit) {
    const diff = load<u64>(a) ^ load<u64>(b);
    if (diff != 0) return a + (<usize>ctz<u64>(diff) >> 3) - start;
    a += 8;
    b += 8;
  }
  if (a + 4 <= aLimit && load<u32>(a) == load<u32>(b)) {
    a += 4;
    b += 4;
  }
  if (a + 2 <= aLimit && load<u16>(a) == load<u16>(b)) {
    a += 2;
    b += 2;
  }
  if (a < aLimit && load<u8>(a) == load<u8>(b)) a++;
  return a - start;
}

/** Copies `n` bytes, in 16-byte strides when `dst`/`src` have 16 bytes of room past the end. */
// @ts-ignore: decorator
@inline function copyLiterals(dst: usize, src: usize, n: usize, dstEnd: usize, srcEnd: usize): void {
  if (dst + n + 16 <= dstEnd && src + n + 16 <= srcEnd) {
    const end = dst + n;
    do {
      v128.store(dst, v128.load(src));
      dst += 16;
      src += 16;
    } while (dst < end);
  } else {
    memory.copy(dst, src, n);
  }
}

// @ts-ignore: decorator
@inline function writeLength(op: usize, len: usize): usize {
  while (len >= 255) {
    store<u8>(op, 255);
    op++;
    len -= 255;
  }
  store<u8>(op, <u8>len);
  return op + 1;
}

/** Writes the trailing literal run and returns the new output position. */
function emitLastLiterals(op: usize, anchor: usize, iend: usize): usize {
  const run = iend - anchor;
  if (run >= 15) {
    store<u8>(op, 15 << 4);
    op = writeLength(op + 1, run - 15);
  } else {
    store<u8>(op, <u8>(run << 4));
    op++;
  }
  memory.copy(op, anchor, run);
  return op + run;
}

/** Writes token + literals [anchor, ip); returns the token's address (the match part is filled in later). */
// @ts-ignore: decorator
@inline function emitLiterals(op: usize, anchor: usize, ip: usize, dstEnd: usize, srcEnd: usize): usize {
  const litLen = ip - anchor;
  const token = op;
  op++;
  if (litLen >= 15) {
    store<u8>(token, 15 << 4);
    op = writeLength(op, litLen - 15);
  } else {
    store<u8>(token, <u8>(litLen << 4));
  }
  copyLiterals(op, anchor, litLen, dstEnd, srcEnd);
  return op + litLen;
}

/** Writes offset + match length for a match of `matchLen` (>= 4) bytes; returns the new output position. */
// @ts-ignore: decorator
@inline function emitMatch(op: usize, token: usize, offset: usize, matchLen: usize): usize {
  store<u16>(op, <u16>offset);
  op += 2;
  const code = matchLen - minMatch;
  if (code >= 15) {
    store<u8>(token, load<u8>(token) | 15);
    op = writeLength(op, code - 15);
  } else {
    store<u8>(token, load<u8>(token) | <u8>code);
  }
  return op;
}

/**
 * lz4CompressFast for inputs under 64 KiB without dictionary (segments): 16-bit
 * positions in a small table cleared per call, so every candidate lies in the input
 * and within reach, and only its bytes need checking.
 */
function compressSmall(src: usize, srcLen: usize, dst: usize, dstCap: usize): i32 {
  memory.fill(smallTable, 0, 2 << smallHashLog);

  const iend = src + srcLen;
  const dstEnd = dst + dstCap;
  let op = dst;
  let anchor = src;
  if (srcLen < mfLimit + 1) return <i32>(emitLastLiterals(op, anchor, iend) - dst);

  const mflimitPlusOne = iend - mfLimit + 1;
  const matchLimit = iend - lastLiterals;
  let ip = src;
  store<u16>(smallTable + (<usize>hash5(load<u64>(ip), smallHashLog) << 1), <u16>(ip - src));
  ip++;
  let forwardH = hash5(load<u64>(ip), smallHashLog);

  while (true) {
    // Find a match, stepping faster the longer nothing matches.
    let forwardIp = ip;
    let step: usize = 1;
    let searchMatchNb: u32 = 1 << skipTrigger;
    let match: usize = 0;
    let found = false;
    while (true) {
      const h = forwardH;
      ip = forwardIp;
      forwardIp += step;
      step = <usize>(searchMatchNb++ >> skipTrigger);
      if (forwardIp > mflimitPlusOne) break;
      const slot = smallTable + (<usize>h << 1);
      match = src + <usize>load<u16>(slot);
      forwardH = hash5(load<u64>(forwardIp), smallHashLog);
      store<u16>(slot, <u16>(ip - src));
      if (load<u32>(match) == load<u32>(ip)) {
        found = true;
        break;
      }
    }
    if (!found) break;

    while (ip > anchor && match > src && load<u8>(ip - 1) == load<u8>(match - 1)) {
      ip--;
      match--;
    }
    let token = op;
    op = emitLiterals(op, anchor, ip, dstEnd, iend + 8);

    let finished = false;
    while (true) {
      const matchLen = minMatch + commonLength(ip + minMatch, match + minMatch, matchLimit);
      op = emitMatch(op, token, ip - match, matchLen);
      ip += matchLen;
      anchor = ip;
      if (ip >= mflimitPlusOne) {
        finished = true;
        break;
      }
      const back = ip - 2;
      store<u16>(smallTable + (<usize>hash5(load<u64>(back), smallHashLog) << 1), <u16>(back - src));
      // An immediate match at the next position needs no literals.
      const slot = smallTable + (<usize>hash5(load<u64>(ip), smallHashLog) << 1);
      match = src + <usize>load<u16>(slot);
      store<u16>(slot, <u16>(ip - src));
      if (load<u32>(match) == load<u32>(ip)) {
        token = op;
        store<u8>(token, 0);
        op++;
        continue;
      }
      break;
    }
    if (finished) break;
    ip++;
    forwardH = hash5(load<u64>(ip), smallHashLog);
  }
  return <i32>(emitLastLiterals(op, anchor, iend) - dst);
}

/**
 * Fast compression of [src, src+srcLen) with the `dictLen` bytes before `src` as
 * dictionary. Returns the compressed size, or lz4ErrDstTooSmall.
 */
export function lz4CompressFast(src: usize, srcLen: usize, dictLen: usize, dst: usize, dstCap: usize): i32 {
  if (dstCap < <usize>lz4BlockBound(<u32>srcLen)) return lz4ErrDstTooSmall;
  if (dictLen == 0 && srcLen <= smallInputBytesMax) return compressSmall(src, srcLen, dst, dstCap);
  const windowStart = src - dictLen;
  const windowBytes = <u32>(srcLen + dictLen);
  if (fastEpoch > epochLimit - windowBytes) {
    memory.fill(fastTable, 0, 4 << fastHashLog);
    fastEpoch = 1;
  }
  const epoch = fastEpoch;
  const shift = windowStart - <usize>epoch; // position p is stored as p - shift
  fastEpoch += windowBytes + 1;

  const iend = src + srcLen;
  const dstEnd = dst + dstCap;
  let op = dst;
  let anchor = src;
  if (srcLen < mfLimit + 1) return <i32>(emitLastLiterals(op, anchor, iend) - dst);

  // Index the dictionary sparsely (every third position), as the reference does.
  if (dictLen >= minMatch) {
    let p = windowStart;
    const pEnd = src - minMatch;
    while (p <= pEnd) {
      store<u32>(fastTable + (<usize>hash5(load<u64>(p), fastHashLog) << 2), <u32>(p - shift));
      p += 3;
    }
  }

  const mflimitPlusOne = iend - mfLimit + 1;
  const matchLimit = iend - lastLiterals;
  let ip = src;
  store<u32>(fastTable + (<usize>hash5(load<u64>(ip), fastHashLog) << 2), <u32>(ip - shift));
  ip++;
  let forwardH = hash5(load<u64>(ip), fastHashLog);

  while (true) {
    // Find a match, stepping faster the longer nothing matches.
    let forwardIp = ip;
    let step: usize = 1;
    let searchMatchNb: u32 = 1 << skipTrigger;
    let match: usize = 0;
    let found = false;
    while (true) {
      const h = forwardH;
      ip = forwardIp;
      forwardIp += step;
      step = <usize>(searchMatchNb++ >> skipTrigger);
      if (forwardIp > mflimitPlusOne) break;
      const slot = fastTable + (<usize>h << 2);
      const entry = load<u32>(slot);
      forwardH = hash5(load<u64>(forwardIp), fastHashLog);
      const ipIndex = <u32>(ip - shift);
      store<u32>(slot, ipIndex);
      if (entry >= epoch && ipIndex - entry <= distanceMax) {
        match = <usize>entry + shift;
        if (load<u32>(match) == load<u32>(ip)) {
          found = true;
          break;
        }
      }
    }
    if (!found) break;

    while (ip > anchor && match > windowStart && load<u8>(ip - 1) == load<u8>(match - 1)) {
      ip--;
      match--;
    }
    let token = op;
    op = emitLiterals(op, anchor, ip, dstEnd, iend + 8);

    let finished = false;
    while (true) {
      const matchLen = minMatch + commonLength(ip + minMatch, match + minMatch, matchLimit);
      op = emitMatch(op, token, ip - match, matchLen);
      ip += matchLen;
      anchor = ip;
      if (ip >= mflimitPlusOne) {
        finished = true;
        break;
      }
      const back = ip - 2;
      store<u32>(fastTable + (<usize>hash5(load<u64>(back), fastHashLog) << 2), <u32>(back - shift));
      // An immediate match at the next position needs no literals.
      const slot = fastTable + (<usize>hash5(load<u64>(ip), fastHashLog) << 2);
      const entry = load<u32>(slot);
      const ipIndex = <u32>(ip - shift);
      store<u32>(slot, ipIndex);
      if (entry >= epoch && ipIndex - entry <= distanceMax) {
        match = <usize>entry + shift;
        if (load<u32>(match) == load<u32>(ip)) {
          token = op;
          store<u8>(token, 0);
          op++;
          continue;
        }
      }
      break;
    }
    if (finished) break;
    ip++;
    forwardH = hash5(load<u64>(ip), fastHashLog);
  }
  return <i32>(emitLastLiterals(op, anchor, iend) - dst);
}

// ---- high-compression mode: hash chains, lazy matching ----

// @ts-ignore: decorator
@inline function hcInsert(p: usize, shift: usize, epoch: u32): void {
  const index = <u32>(p - shift);
  const slot = hcTable + (<usize>hash4(load<u32>(p), hcHashLog) << 2);
  const head = load<u32>(slot);
  let delta = index - head;
  if (head < epoch || delta > distanceMax) delta = 0; // 0 ends the chain
  store<u16>(hcChain + (<usize>(index & hcChainMask) << 1), <u16>delta);
  store<u32>(slot, index);
}

let hcBestMatch: usize = 0;

/** Longest match for `ip` in the chains (all positions before ip inserted); sets hcBestMatch, returns its length (0: none). */
function hcFind(ip: usize, matchLimit: usize, shift: usize, epoch: u32, attemptsMax: u32, lowIndex: u32): usize {
  const ipIndex = <u32>(ip - shift);
  let index = load<u32>(hcTable + (<usize>hash4(load<u32>(ip), hcHashLog) << 2));
  let bestLen: usize = 0;
  const first = load<u32>(ip);
  let attempts = attemptsMax;
  while (attempts > 0 && index >= lowIndex && index < ipIndex && ipIndex - index <= distanceMax) {
    attempts--;
    const candidate = <usize>index + shift;
    // Only a candidate that beats the best so far at its last byte can be longer.
    if (load<u8>(candidate + bestLen) == load<u8>(ip + bestLen) && load<u32>(candidate) == first) {
      const len = minMatch + commonLength(ip + minMatch, candidate + minMatch, matchLimit);
      if (len > bestLen) {
        bestLen = len;
        hcBestMatch = candidate;
        if (ip + len >= matchLimit) break;
      }
    }
    const delta = <u32>load<u16>(hcChain + (<usize>(index & hcChainMask) << 1));
    if (delta == 0) break;
    index -= delta;
  }
  return bestLen;
}

/**
 * Higher-ratio compression (hash chains, up to `attemptsMax` candidates per position,
 * lazy matching). Same contract as lz4CompressFast, plus `scratch`: lz4HighScratchBytes
 * of caller memory (16-byte aligned).
 */
export function lz4CompressHigh(src: usize, srcLen: usize, dictLen: usize, dst: usize, dstCap: usize, attemptsMax: u32, scratch: usize): i32 {
  if (dstCap < <usize>lz4BlockBound(<u32>srcLen)) return lz4ErrDstTooSmall;
  // The scratch holds whatever the arena held before, so the head table is cleared;
  // chain entries are only followed from heads written by this call.
  hcTable = scratch;
  hcChain = scratch + (4 << hcHashLog);
  memory.fill(hcTable, 0, 4 << hcHashLog);
  const windowStart = src - dictLen;
  const epoch: u32 = 1;
  const shift = windowStart - <usize>epoch;

  const iend = src + srcLen;
  const dstEnd = dst + dstCap;
  let op = dst;
  let anchor = src;
  if (srcLen < mfLimit + 1) return <i32>(emitLastLiterals(op, anchor, iend) - dst);

  let nextInsert = windowStart; // every position below this is in the chains
  const mflimit = iend - mfLimit;
  const matchLimit = iend - lastLiterals;
  let ip = src;
  while (ip < mflimit) {
    while (nextInsert < ip) hcInsert(nextInsert++, shift, epoch);
    let len = hcFind(ip, matchLimit, shift, epoch, attemptsMax, epoch);
    if (len == 0) {
      ip++;
      continue;
    }
    let match = hcBestMatch;
    // Lazy: a longer match one byte later is worth a literal.
    while (ip + 1 < mflimit) {
      hcInsert(nextInsert++, shift, epoch);
      const len2 = hcFind(ip + 1, matchLimit, shift, epoch, attemptsMax, epoch);
      if (len2 <= len) break;
      len = len2;
      match = hcBestMatch;
      ip++;
    }
    while (ip > anchor && match > windowStart && load<u8>(ip - 1) == load<u8>(match - 1)) {
      ip--;
      match--;
      len++;
    }
    const token = op;
    op = emitLiterals(op, anchor, ip, dstEnd, iend + 8);
    op = emitMatch(op, token, ip - match, len);
    ip += len;
    anchor = ip;
  }
  return <i32>(emitLastLiterals(op, anchor, iend) - dst);
}

// ---- safe decompression ----

// @ts-ignore: decorator
@inline function fail(code: i32, ip: usize, src: usize): i32 {
  lastErrorOffset = <u32>(ip - src);
  return code;
}

/**
 * Decompresses the block [src, src+srcLen) into [dst, dst+dstCap); matches may reach
 * `dictLen` bytes before `dst` (the dictionary, laid out there by the caller).
 * Returns the decompressed size, or a negative lz4Err* code.
 */
export function lz4DecompressSafe(src: usize, srcLen: usize, dst: usize, dstCap: usize, dictLen: usize): i32 {
  if (srcLen == 0) return fail(lz4ErrEmpty, src, src);
  let ip = src;
  const iend = src + srcLen;
  let op = dst;
  const oend = dst + dstCap;
  const lowest = dst - dictLen;
  while (true) {
    if (ip >= iend) return fail(lz4ErrTruncatedToken, ip, src);
    const token = <u32>load<u8>(ip);
    ip++;
    let litLen = <usize>(token >> 4);
    if (litLen != 15 && ip + 16 <= iend && op + 16 <= oend) {
      v128.store(op, v128.load(ip));
    } else {
      if (litLen == 15) {
        let b: u32;
        do {
          if (ip >= iend) return fail(lz4ErrTruncatedLength, ip, src);
          b = <u32>load<u8>(ip);
          ip++;
          litLen += b;
          // Checked as it grows, so a long run of 255s cannot overflow the count.
          if (litLen > iend - ip) return fail(lz4ErrLiteralPastInput, ip, src);
        } while (b == 255);
      }
      if (litLen > iend - ip) return fail(lz4ErrLiteralPastInput, ip, src);
      if (litLen > oend - op) return fail(lz4ErrLiteralPastOutput, ip, src);
      copyLiterals(op, ip, litLen, oend, iend);
    }
    ip += litLen;
    op += litLen;
    if (ip == iend) return <i32>(op - dst);

    if (iend - ip < 2) return fail(lz4ErrTruncatedOffset, ip, src);
    const offset = <usize>load<u16>(ip);
    if (offset == 0) return fail(lz4ErrOffsetZero, ip, src);
    if (offset > op - lowest) return fail(lz4ErrOffsetBeforeStart, ip, src);
    ip += 2;
    let matchLen = <usize>(token & 15);
    if (matchLen == 15) {
      let b: u32;
      do {
        if (ip >= iend) return fail(lz4ErrTruncatedLength, ip, src);
        b = <u32>load<u8>(ip);
        ip++;
        matchLen += b;
        if (matchLen > oend - op) return fail(lz4ErrMatchPastOutput, ip, src);
      } while (b == 255);
    }
    matchLen += minMatch;
    if (matchLen > oend - op) return fail(lz4ErrMatchPastOutput, ip, src);

    let match = op - offset;
    const end = op + matchLen;
    if (offset >= 16 && end + 32 <= oend) {
      // Most matches are under 32 bytes: two fixed copies, a loop only for the rest.
      v128.store(op, v128.load(match));
      v128.store(op, v128.load(match, 16), 16);
      if (matchLen > 32) {
        op += 32;
        match += 32;
        do {
          v128.store(op, v128.load(match));
          op += 16;
          match += 16;
        } while (op < end);
      }
    } else if (offset >= 16 && end + 16 <= oend) {
      do {
        v128.store(op, v128.load(match));
        op += 16;
        match += 16;
      } while (op < end);
    } else if (offset >= 8 && end + 8 <= oend) {
      do {
        store<u64>(op, load<u64>(match));
        op += 8;
        match += 8;
      } while (op < end);
    } else if (offset >= matchLen) {
      memory.copy(op, match, matchLen);
    } else if (offset == 1) {
      memory.fill(op, load<u8>(match), matchLen);
    } else {
      while (op < end) {
        store<u8>(op, load<u8>(match));
        op++;
        match++;
      }
    }
    op = end;
  }
}
