// Counters of one SDR encoder or decoder. Input/output are the bytes given to and
// returned by encode/decode (for an encoder: LAN bytes in, ops-frame bytes out; for a
// decoder the reverse), so outputBytes/inputBytes of an encoder is its reduction.

export interface SdrStats {
  inputBytes: number;
  outputBytes: number;
  frames: number;
  /** Segments sent (encoder) or received (decoder) whole. */
  defSegments: number;
  /** Segments stood for by a reference: single REFs plus members of runs. */
  refSegments: number;
  /** RUN ops (each stands for several consecutive known segments). */
  runRefs: number;
  /** Segments covered by RUN ops. */
  runSegments: number;
  /** Labels asked for (decoder: REQs sent; encoder: REQs answered). */
  reqSegments: number;
  /** Labels a REQ could not be answered for (encoder) or that stayed missing (decoder). */
  reqMisses: number;
  /** Runs the decoder could not expand from its own successor records (fetched instead). */
  runMisses: number;
  literalBytes: number;
  /** Bytes delivered at a flush as a range of a known segment (HEAD ops). */
  headBytes: number;
  /** Encoder: known segments recognized by comparing bytes (not cut and hashed). */
  speculatedSegments: number;
  deltaSegments: number;
  /** Raw bytes of the segments sent as deltas, and the bytes of their instructions. */
  deltaRawBytes: number;
  deltaBytes: number;
  /** Frame body bytes before and after the stream compressor. */
  bodyBytes: number;
  compressedBodyBytes: number;
}

export function emptyStats(): SdrStats {
  return {
    inputBytes: 0, outputBytes: 0, frames: 0, defSegments: 0, refSegments: 0, runRefs: 0, runSegments: 0,
    reqSegments: 0, reqMisses: 0, runMisses: 0, literalBytes: 0, headBytes: 0, speculatedSegments: 0, deltaSegments: 0, deltaRawBytes: 0, deltaBytes: 0,
    bodyBytes: 0, compressedBodyBytes: 0,
  };
}
