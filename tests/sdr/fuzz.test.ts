// Mutated frames: flipping, truncating or extending a valid ops frame must end in a
// TandemError (badFrame, corrupt, missingSegment) or a correct decode, never in
// another exception, and never in a stored segment that does not hash to its label.
import { afterAll, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { SdrDecoder, SdrEncoder } from "../../agent/sdr/index.ts";
import { blake3 } from "../../wasm/index.ts";
import { encodeAll, openStore, removeTempDirs, same, textBytes, xorshift } from "./helpers.ts";

afterAll(removeTempDirs);

test("mutated frames are refused with a TandemError and poison nothing", async () => {
  const source = await openStore();
  const encoder = new SdrEncoder({ store: source, zstdLevel: 0 });
  // Known base, then an edited copy: frames carry DEF, DELTA, REF/RUN and literals.
  const base = textBytes(120_000, 1);
  const edited = new Uint8Array(Buffer.concat([base.subarray(0, 50_000), textBytes(3_000, 2), base.subarray(50_000), textBytes(50, 3)]));
  const baseFrames = await encodeAll(encoder, base);
  const frames = await encodeAll(encoder, edited);
  const target = await openStore();
  const random = xorshift(99);
  const outcomes = new Map<string, number>();
  for (let round = 0; round < 150; round++) {
    const decoder = new SdrDecoder({ store: target, fetchMissing: async (labels) => encoder.answer(labels), onStoreError: () => undefined });
    for (const frame of baseFrames) await decoder.decode(frame);
    const original = frames[Math.floor(random() * frames.length)]!;
    let mutated = original.slice();
    const kind = Math.floor(random() * 3);
    if (kind === 0) {
      for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
        const i = Math.floor(random() * mutated.length);
        mutated[i] = mutated[i]! ^ (1 + Math.floor(random() * 255));
      }
    } else if (kind === 1) {
      mutated = mutated.subarray(0, Math.floor(random() * mutated.length));
    } else {
      mutated = new Uint8Array(Buffer.concat([mutated, new Uint8Array([Math.floor(random() * 256)])]));
    }
    let outcome: string;
    try {
      await decoder.decode(mutated);
      outcome = "decoded";
    } catch (err) {
      if (!(err instanceof TandemError)) throw new Error(`round ${round}: ${String(err)}`);
      outcome = err.code;
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    await decoder.close();
  }
  expect([...outcomes.keys()].every((k) => ["decoded", "badFrame", "corrupt", "missingSegment"].includes(k))).toBe(true);
  expect(outcomes.get("badFrame") ?? 0).toBeGreaterThan(0);
  // Whatever got stored hashes to its label.
  for (const label of target.labelsInRange(null, null, 100_000)) {
    expect(same(blake3(target.get(label)!), label)).toBe(true);
  }
  await encoder.close();
  await source.close();
  await target.close();
}, 60_000);
