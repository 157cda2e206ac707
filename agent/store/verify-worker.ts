// Worker thread of bulk.ts: verifies batches of stored segments (decode + BLAKE3 must
// match the label) in the shared buffer they were laid out in, and posts back the verdict.
import { verifyValues, viewsOf, type SharedVerifyInput } from "./bulk.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<SharedVerifyInput & { id: number }>) => {
  const { id, ...where } = event.data;
  let failure;
  try {
    failure = verifyValues(viewsOf(where));
  } catch (err) {
    // Answered without a verdict: the caller verifies inline.
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
    return;
  }
  // The values are shared memory the caller still holds: the verdict is the whole answer.
  self.postMessage({ id, failure });
};

// Loaded (imports, WASM included): worker-path.ts reports the worker running.
self.postMessage({ ready: true });
