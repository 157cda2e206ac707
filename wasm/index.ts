// Public TypeScript API of the hot-path WASM module: content-defined chunking
// (FastCDC 2020), BLAKE3 hashing and LZ4 compression. Everything else in the agent
// imports the hot path from here, never from wasm/loader.ts or the kernels directly.
export { blake3, blake3Keyed, blake3DeriveKey, blake3Many, blake3OutBytesMax, blake3InputBytesMax, blake3ManyPiecesMax } from "./blake3.ts";
export { defaultChunkParams, validateChunkParams, chunkAndHash, fastcdcCut, StreamChunker, StreamCutter, chunkWindowBytesMin } from "./chunking.ts";
export type { ChunkParams, Segment } from "./chunking.ts";
export * from "./lz4.ts";
