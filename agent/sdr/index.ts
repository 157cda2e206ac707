// The SDR stream codec: SdrEncoder turns a byte stream into ops frames (DEF, REF,
// RUN, DELTA, literals) against a segment store, SdrDecoder turns them back. See
// encoder.ts / decoder.ts for the data path and wire.ts for the frame format.
export { SdrEncoder, type SdrEncoderOptions } from "./encoder.ts";
export { SdrDecoder, type SdrDecoderOptions, type FetchMissing } from "./decoder.ts";
export { type SdrStats, emptyStats } from "./stats.ts";
export {
  sdrWireVersion, opsFrameBytesMax, opsBodyBytesMax, opsPerFrameMax, segmentBytesMax, runSegmentsMax, frameOutputBytesMax,
} from "./wire.ts";
export type { ChunkParams } from "../../wasm/index.ts";
