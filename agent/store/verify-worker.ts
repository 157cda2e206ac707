// Worker thread of bulk.ts: verifies batches of stored segments (decode + BLAKE3 must
// match the label) and posts their at-rest values back, transferring the buffers.
import { verifyValues, type VerifyInput } from "./bulk.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ id: number; input: VerifyInput }>) => {
  const { id, input } = event.data;
  try {
    const output = verifyValues(input);
    const transfer = "values" in output ? [output.values.buffer as ArrayBuffer, output.valueLengths.buffer as ArrayBuffer] : [];
    self.postMessage({ id, output }, transfer);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
