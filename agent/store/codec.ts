// Segment bytes in and out of their at-rest form: BLAKE3 labels (batched, one
// crossing into WASM for many segments) and LZ4 block compression from the hot-path
// WASM module. A segment is kept raw when LZ4 does not save at least 1/16 of it,
// because then the decompression on every read costs more than the bytes saved.
import { blake3, blake3Many } from "../../wasm/index.ts";
import { lz4CompressBlock, lz4CompressBlocks, lz4DecompressBlock } from "../../wasm/lz4.ts";
import { TandemError } from "../errors.ts";
import { valueHeaderBytes } from "./format.ts";
import { labelBytes, type Label } from "./types.ts";

/** Pieces hashed per WASM call when checking many segments (bounds the arena copy). */
export const hashBatchBytesMax = 8 * 1024 * 1024;

export function hashOne(data: Uint8Array): Label {
  return blake3(data);
}

/** Labels of many segments, 32 bytes each, concatenated in input order. */
export function hashMany(datas: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(datas.length * labelBytes);
  let start = 0;
  while (start < datas.length) {
    let end = start;
    let bytes = 0;
    while (end < datas.length && (end === start || bytes + datas[end]!.length <= hashBatchBytesMax)) bytes += datas[end++]!.length;
    const lengths = new Uint32Array(end - start);
    for (let i = start; i < end; i++) lengths[i - start] = datas[i]!.length;
    out.set(blake3Many(contiguous(datas, start, end, bytes) ?? joinPieces(datas, start, end, bytes), lengths), start * labelBytes);
    start = end;
  }
  return out;
}

/** datas[start..end) as one view when they lie back to back in one buffer (a batch
 *  packed for the prep worker, or segments cut from one stream): no copy needed. */
function contiguous(datas: Uint8Array[], start: number, end: number, bytes: number): Uint8Array | null {
  const first = datas[start]!;
  let next = first.byteOffset + first.length;
  for (let i = start + 1; i < end; i++) {
    const piece = datas[i]!;
    if (piece.buffer !== first.buffer || piece.byteOffset !== next) return null;
    next += piece.length;
  }
  return new Uint8Array(first.buffer, first.byteOffset, bytes);
}

function joinPieces(datas: Uint8Array[], start: number, end: number, bytes: number): Uint8Array {
  const joined = new Uint8Array(bytes);
  let offset = 0;
  for (let i = start; i < end; i++) {
    joined.set(datas[i]!, offset);
    offset += datas[i]!.length;
  }
  return joined;
}

/** Compression pays when it saves at least 1/2**savingShift of a segment. */
const savingShift = 4;

/** The LZ4 block of `data`, or null when compression does not pay. */
export function compressSegment(data: Uint8Array): Uint8Array | null {
  const block = lz4CompressBlock(data);
  return block.length + (data.length >>> savingShift) <= data.length ? block : null;
}

/** At-rest values of many segments: valueHeaderBytes left for the header, then the LZ4
 *  block, or the raw bytes when compression does not pay (`compressed[i]` is 0). */
export function compressSegments(datas: Uint8Array[]): { values: Uint8Array[]; compressed: Uint8Array } {
  return lz4CompressBlocks(datas, { headerBytes: valueHeaderBytes, savingShift });
}

/** Raw bytes of an LZ4 block that must decode to exactly `rawBytes`; `corrupt` otherwise. */
export function decompressSegment(block: Uint8Array, rawBytes: number): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = lz4DecompressBlock(block, rawBytes);
  } catch (err) {
    throw new TandemError("corrupt", `LZ4 block does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (raw.length !== rawBytes) throw new TandemError("corrupt", `LZ4 block decodes to ${raw.length} bytes, expected ${rawBytes}`);
  return raw;
}
