// Entry of the hot-path WASM module: re-exports every kernel so that one module,
// one memory, carries chunking, hashing and compression. Memory above __heap_base
// belongs to the TypeScript loader (wasm/loader.ts); kernels keep their own scratch
// space in static data (memory.data), so nothing here allocates at run time.
export * from "./arena";
export * from "./blake3";
export * from "./fastcdc";
export * from "./lz4";
export * from "./xxhash32";
