// Delta encoding and resemblance: random edits of a base give small deltas that
// rebuild the target exactly; malformed instruction streams are refused with a
// reason; similar segments share a super-feature and unrelated ones do not.
import { describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { applyDelta, encodeDelta } from "../../agent/sdr/delta.ts";
import { superFeatures } from "../../agent/sdr/features.ts";
import { editRandomly, randomBytes, textBytes, xorshift } from "./helpers.ts";

describe("delta", () => {
  test("random edits of a base round-trip and cost far less than the target", () => {
    const random = xorshift(11);
    for (let round = 0; round < 40; round++) {
      const base = round % 2 === 0 ? textBytes(4000 + Math.floor(random() * 12000), round) : randomBytes(4000 + Math.floor(random() * 12000), round);
      const target = editRandomly(base, random, 1 + Math.floor(random() * 4));
      const delta = encodeDelta(base, target)!;
      expect(delta).toBeDefined();
      expect(Buffer.from(applyDelta(base, delta, 1 << 20)).equals(Buffer.from(target))).toBe(true);
      expect(delta.length).toBeLessThan(target.length / 4);
    }
  });

  test("unrelated data exceeds the budget and gives no delta", () => {
    expect(encodeDelta(randomBytes(8192, 1), randomBytes(8192, 2), 4096)).toBeUndefined();
  });

  test("empty and tiny targets", () => {
    const base = textBytes(1000, 3);
    for (const target of [new Uint8Array(0), new Uint8Array([5]), base.subarray(0, 7)]) {
      const delta = encodeDelta(base, target, 1000)!;
      expect(Buffer.from(applyDelta(base, delta, 100)).equals(Buffer.from(target))).toBe(true);
    }
  });

  test("malformed instructions are refused with a reason", () => {
    const base = textBytes(100, 4);
    const cases: [number[], RegExp][] = [
      [[0x80], /ends inside a number/],
      [[0x00], /zero-length instruction/],
      [[(50 << 1) | 1, 60], /runs past the 100-byte base/],
      [[10 << 1, 1, 2], /insert of 10 bytes runs past/],
      [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /longer than 8 bytes/],
    ];
    for (const [bytes, reason] of cases) {
      let caught: unknown;
      try {
        applyDelta(base, new Uint8Array(bytes), 1000);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TandemError);
      expect((caught as TandemError).code).toBe("badFrame");
      expect((caught as TandemError).message).toMatch(reason);
    }
    expect(() => applyDelta(base, new Uint8Array([0xc9, 0x01, 0x00]), 50)).toThrow(/exceeds 50 bytes/);
  });
});

describe("super-features", () => {
  test("a lightly edited segment shares a super-feature with its original", () => {
    const random = xorshift(5);
    let shared = 0;
    for (let i = 0; i < 20; i++) {
      const a = textBytes(8192, 100 + i);
      const b = editRandomly(a, random, 1);
      const fa = superFeatures(a)!;
      const fb = superFeatures(b)!;
      if ([...fa].some((f, j) => fb[j] === f)) shared++;
    }
    expect(shared).toBeGreaterThanOrEqual(17);
  });

  test("unrelated segments share none", () => {
    let shared = 0;
    for (let i = 0; i < 20; i++) {
      const fa = superFeatures(randomBytes(8192, 200 + i))!;
      const fb = superFeatures(randomBytes(8192, 300 + i))!;
      if ([...fa].some((f, j) => fb[j] === f)) shared++;
    }
    expect(shared).toBe(0);
  });

  test("short segments have none", () => {
    expect(superFeatures(new Uint8Array(100))).toBeUndefined();
  });
});
