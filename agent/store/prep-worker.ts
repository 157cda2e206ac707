// Worker thread of the prep pool: runs prepareValues (hash check + LZ4) on batches
// posted by prep-pool.ts and posts the values back, transferring their buffers.
import { prepareValues, type PrepInput } from "./prepare.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ id: number; input: PrepInput }>) => {
  const { id, input } = event.data;
  try {
    const output = prepareValues(input);
    // Values share a buffer per group of segments: each buffer is transferred once.
    const transfer = "values" in output ? [...new Set(output.values.map((v) => v.buffer as ArrayBuffer))] : [];
    self.postMessage({ id, output }, transfer);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};

// Loaded (imports, WASM included): worker-path.ts reports the worker running.
self.postMessage({ ready: true });
