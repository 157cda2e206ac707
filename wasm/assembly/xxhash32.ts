// xxHash32 (Yann Collet's XXH32), one-shot and streaming, for the LZ4 frame format's
// header, block and content checksums. The streaming state lives in caller memory
// (48 bytes, layout below) so any number of frames can be checked at once: the
// TypeScript side keeps each state and lends it to the kernel for one call.

// @ts-ignore: decorator
@inline const prime1: u32 = 2654435761;
// @ts-ignore: decorator
@inline const prime2: u32 = 2246822519;
// @ts-ignore: decorator
@inline const prime3: u32 = 3266489917;
// @ts-ignore: decorator
@inline const prime4: u32 = 668265263;
// @ts-ignore: decorator
@inline const prime5: u32 = 374761393;

/** Bytes of a streaming state: v1..v4, total length (low 32 bits), large flag, buffered count, seed, 16 buffered bytes. */
export const xxh32StateBytes: u32 = 48;

// @ts-ignore: decorator
@inline function round(acc: u32, lane: u32): u32 {
  return rotl<u32>(acc + lane * prime2, 13) * prime1;
}

// @ts-ignore: decorator
@inline function finish(h: u32, ptr: usize, len: usize): u32 {
  const end = ptr + len;
  while (ptr + 4 <= end) {
    h = rotl<u32>(h + load<u32>(ptr) * prime3, 17) * prime4;
    ptr += 4;
  }
  while (ptr < end) {
    h = rotl<u32>(h + <u32>load<u8>(ptr) * prime5, 11) * prime1;
    ptr++;
  }
  h ^= h >> 15;
  h *= prime2;
  h ^= h >> 13;
  h *= prime3;
  h ^= h >> 16;
  return h;
}

/** XXH32 of `len` bytes at `ptr`. */
export function xxh32(ptr: usize, len: usize, seed: u32): u32 {
  let h: u32;
  let p = ptr;
  const end = ptr + len;
  if (len >= 16) {
    let v1 = seed + prime1 + prime2;
    let v2 = seed + prime2;
    let v3 = seed;
    let v4 = seed - prime1;
    const limit = end - 16;
    do {
      v1 = round(v1, load<u32>(p));
      v2 = round(v2, load<u32>(p, 4));
      v3 = round(v3, load<u32>(p, 8));
      v4 = round(v4, load<u32>(p, 12));
      p += 16;
    } while (p <= limit);
    h = rotl<u32>(v1, 1) + rotl<u32>(v2, 7) + rotl<u32>(v3, 12) + rotl<u32>(v4, 18);
  } else {
    h = seed + prime5;
  }
  h += <u32>len;
  return finish(h, p, end - p);
}

/** Starts a streaming state at `state` (xxh32StateBytes bytes). */
export function xxh32StateInit(state: usize, seed: u32): void {
  memory.fill(state, 0, xxh32StateBytes);
  store<u32>(state, seed + prime1 + prime2, 0);
  store<u32>(state, seed + prime2, 4);
  store<u32>(state, seed, 8);
  store<u32>(state, seed - prime1, 12);
  store<u32>(state, seed, 28);
}

/** Feeds `len` bytes at `ptr` into the state at `state`. */
export function xxh32StateUpdate(state: usize, ptr: usize, len: usize): void {
  store<u32>(state, load<u32>(state, 16) + <u32>len, 16);
  if (len >= 16 || load<u32>(state, 16) >= 16) store<u32>(state, 1, 20);
  let p = ptr;
  const end = ptr + len;
  let memSize = <usize>load<u32>(state, 24);
  const mem = state + 32;
  if (memSize + len < 16) {
    memory.copy(mem + memSize, p, len);
    store<u32>(state, <u32>(memSize + len), 24);
    return;
  }
  let v1 = load<u32>(state, 0);
  let v2 = load<u32>(state, 4);
  let v3 = load<u32>(state, 8);
  let v4 = load<u32>(state, 12);
  if (memSize > 0) {
    memory.copy(mem + memSize, p, 16 - memSize);
    p += 16 - memSize;
    v1 = round(v1, load<u32>(mem));
    v2 = round(v2, load<u32>(mem, 4));
    v3 = round(v3, load<u32>(mem, 8));
    v4 = round(v4, load<u32>(mem, 12));
    memSize = 0;
  }
  if (p + 16 <= end) {
    const limit = end - 16;
    do {
      v1 = round(v1, load<u32>(p));
      v2 = round(v2, load<u32>(p, 4));
      v3 = round(v3, load<u32>(p, 8));
      v4 = round(v4, load<u32>(p, 12));
      p += 16;
    } while (p <= limit);
  }
  store<u32>(state, v1, 0);
  store<u32>(state, v2, 4);
  store<u32>(state, v3, 8);
  store<u32>(state, v4, 12);
  if (p < end) memory.copy(mem, p, end - p);
  store<u32>(state, <u32>(end - p), 24);
}

/** The digest of everything fed so far; the state stays usable. */
export function xxh32StateDigest(state: usize): u32 {
  let h: u32;
  if (load<u32>(state, 20) != 0) {
    h = rotl<u32>(load<u32>(state, 0), 1) + rotl<u32>(load<u32>(state, 4), 7)
      + rotl<u32>(load<u32>(state, 8), 12) + rotl<u32>(load<u32>(state, 12), 18);
  } else {
    h = load<u32>(state, 8) + prime5; // v3 holds the seed
  }
  h += load<u32>(state, 16);
  return finish(h, state + 32, <usize>load<u32>(state, 24));
}
