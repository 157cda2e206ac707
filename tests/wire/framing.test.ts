// Frame reassembly across arbitrary chunking, and precise refusal of garbage,
// truncated and oversized frames on both the reading and the writing side.
import { describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { encodeFrame, FrameReader, frameBytesMax, heartbeatFrame } from "../../agent/wire/framing.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

describe("framing", () => {
  test("frames survive any chunking, heartbeats are flagged", () => {
    const messages = [{ t: "a", n: 1 }, { t: "b", data: new Uint8Array([1, 2, 3]) }, "x".repeat(70000), [1, 2, 3]];
    const stream = concat([encodeFrame(messages[0]), heartbeatFrame, ...messages.slice(1).map((m) => encodeFrame(m))]);
    for (const step of [1, 3, 7, 4096, stream.length]) {
      const reader = new FrameReader();
      const got: unknown[] = [];
      let beats = 0;
      for (let i = 0; i < stream.length; i += step) {
        for (const e of reader.push(stream.subarray(i, i + step))) {
          if (e.heartbeat) beats++;
          else got.push(e.message);
        }
      }
      expect(beats).toBe(1);
      expect(got.length).toBe(4);
      expect(got[0]).toEqual(messages[0]);
      expect(new Uint8Array((got[1] as { data: Uint8Array }).data)).toEqual(new Uint8Array([1, 2, 3]));
      expect(got[2]).toBe(messages[2]);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  test("truncated frame stays pending, nothing delivered", () => {
    const frame = encodeFrame({ t: "x", v: "hello" });
    const reader = new FrameReader();
    expect(reader.push(frame.subarray(0, frame.length - 1))).toEqual([]);
    expect(reader.pendingBytes).toBe(frame.length - 1);
  });

  test("oversized length is refused before buffering", () => {
    const reader = new FrameReader();
    const header = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
    expect(() => reader.push(header)).toThrow(TandemError);
    try {
      reader.push(new Uint8Array(1));
    } catch (err) {
      expect((err as TandemError).code).toBe("badFrame");
    }
  });

  test("oversized message is refused on write", () => {
    let err: unknown;
    try {
      encodeFrame({ blob: new Uint8Array(frameBytesMax + 1) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TandemError);
    expect((err as TandemError).code).toBe("badFrame");
  });

  test("garbage body and trailing values are badFrame", () => {
    const garbage = new Uint8Array([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]); // 0xc1 is never valid msgpack
    expect(() => new FrameReader().push(garbage)).toThrow(/badFrame|undecodable|frame/);
    const two = new Uint8Array([0, 0, 0, 2, 0x01, 0x02]); // two positive fixints
    let err: unknown;
    try {
      new FrameReader().push(two);
    } catch (e) {
      err = e;
    }
    expect((err as TandemError).code).toBe("badFrame");
    const truncatedBody = new Uint8Array([0, 0, 0, 2, 0xa5, 0x61]); // str of 5 with 1 byte
    err = undefined;
    try {
      new FrameReader().push(truncatedBody);
    } catch (e) {
      err = e;
    }
    expect((err as TandemError).code).toBe("badFrame");
  });
});
