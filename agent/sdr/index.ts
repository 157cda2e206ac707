// The SDR stream codec: SdrEncoder turns a byte stream into ops frames against a
// segment store, SdrDecoder turns them back against another.
//
// Data path (encoder): FastCDC cut + BLAKE3 label (wasm) -> a segment the store knows
// goes as REF, and consecutive known segments that follow the learned successor chain
// collapse into one RUN (first label, count, BLAKE3 of the label list); a new segment
// goes as DELTA against the predicted successor or a super-feature match when that is
// at most half its size, else as DEF; short flushed tails go as literals. Known data is
// recognized by comparing bytes with the expected successor (or a segment found by its
// first 32 bytes) instead of cutting and hashing it. Op bodies (msgpack, wire.ts) pass
// through one zstd stream per channel (level 3, 2 MiB window, flushed per frame).
// Decoder: verifies every DEF/REP/delta result against its label, fetches what it lacks
// in one REQ per frame (run labels stand for their label lists), replays the successor
// links exactly as the encoder learned them, and writes what it learned behind.
export { SdrEncoder, type SdrEncoderOptions } from "./encoder.ts";
export { SdrDecoder, type SdrDecoderOptions, type FetchMissing } from "./decoder.ts";
export { type SdrStats, emptyStats } from "./stats.ts";
export {
  sdrWireVersion, opsFrameBytesMax, opsBodyBytesMax, opsPerFrameMax, segmentBytesMax, runSegmentsMax, frameOutputBytesMax,
  frameSegmentsMax,
} from "./wire.ts";
export type { ChunkParams } from "../../wasm/index.ts";
