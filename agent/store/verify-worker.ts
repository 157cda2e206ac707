// Worker thread of bulk.ts: verifies batches of stored segments (decode + BLAKE3 must
// match the label) and posts each batch back with the verdict, transferring its buffers.
import { verifyValues, type VerifyInput } from "./bulk.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ id: number; input: VerifyInput }>) => {
  const { id, input } = event.data;
  let failure;
  try {
    failure = verifyValues(input);
  } catch (err) {
    // Answered without a verdict: the caller verifies inline.
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
    return;
  }
  const buffers = [input.values, input.valueLengths, input.rawLengths, input.lz4, input.labels].map((a) => a.buffer as ArrayBuffer);
  self.postMessage({ id, input, failure }, buffers);
};

// Loaded (imports, WASM included): worker-path.ts reports the worker running.
self.postMessage({ ready: true });
