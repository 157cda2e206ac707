// The SDR wire form: every op survives toWire/fromWire, and malformed or oversized
// frames and bodies are refused as TandemError("badFrame") with a reason naming the
// field, never as a crash or a half-decoded frame.
import { describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { TandemError } from "../../agent/errors.ts";
import {
  BodyEncoding, OpType, decodeBody, decodeFrame, encodeBody, encodeFrame, opFromWire, opToWire, opsFrameBytesMax,
  runForksMax, runSegmentsMax, sdrWireVersion, segmentBytesMax, type Op,
} from "../../agent/sdr/wire.ts";

const packr = new Packr({ useRecords: false });
const label = (n: number) => new Uint8Array(32).fill(n);

function badFrame(fn: () => unknown, reason: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TandemError);
  expect((caught as TandemError).code).toBe("badFrame");
  expect((caught as TandemError).message).toMatch(reason);
}

describe("SDR ops wire form", () => {
  const ops: Op[] = [
    { type: OpType.literal, data: new Uint8Array([1, 2, 3]) },
    { type: OpType.def, label: label(1), data: new Uint8Array(100).fill(7) },
    { type: OpType.ref, label: label(2) },
    { type: OpType.run, first: label(3), count: 17, runLabel: label(4) },
    { type: OpType.run, first: label(3), count: 17, runLabel: label(4), forks: [1, 5, 16] },
    { type: OpType.delta, label: label(5), base: label(6), delta: new Uint8Array([8, 1, 2, 3, 4]) },
    { type: OpType.head, label: label(7), offset: 0, length: 4000 },
    { type: OpType.delivered, bytes: 4000 },
    { type: OpType.ref, label: label(8) },
  ];

  test("every op type round-trips through a frame", () => {
    const body = encodeBody(ops);
    const frame = encodeFrame({ encoding: BodyEncoding.raw, bodyBytes: body.length, body });
    const envelope = decodeFrame(frame);
    expect(envelope.encoding).toBe(BodyEncoding.raw);
    const back = decodeBody(envelope.body);
    expect(back.length).toBe(ops.length);
    for (let i = 0; i < ops.length; i++) expect(opToWire(back[i]!)).toEqual(opToWire(ops[i]!));
  });

  test("op fields are checked one by one", () => {
    badFrame(() => opFromWire([OpType.ref, new Uint8Array(31)], 4), /op 4 REF label must be 32 bytes/);
    badFrame(() => opFromWire([OpType.def, label(1), new Uint8Array(0)], 0), /DEF data of 0 bytes is shorter/);
    badFrame(() => opFromWire([OpType.def, label(1), new Uint8Array(segmentBytesMax + 1)], 0), /DEF data of \d+ bytes exceeds/);
    badFrame(() => opFromWire([OpType.run, label(1), runSegmentsMax + 1, label(2)], 2), /RUN count must be an integer from 2/);
    badFrame(() => opFromWire([OpType.run, label(1), 1.5, label(2)], 2), /RUN count/);
    badFrame(() => opFromWire([OpType.delta, label(1), label(2)], 1), /has 3 fields, expected 4/);
    badFrame(() => opFromWire([9, label(1)], 3), /op 3 has unknown type 9/);
    badFrame(() => opFromWire("x", 0), /not a non-empty array/);
    badFrame(() => opFromWire([OpType.literal, "text"], 0), /literal must be binary/);
    badFrame(() => opFromWire([OpType.head, label(1), -1, 10], 0), /HEAD offset must be an integer from 0/);
    badFrame(() => opFromWire([OpType.head, label(1), segmentBytesMax - 10, 11], 0), /HEAD length must be an integer from 1 to 10/);
    badFrame(() => opFromWire([OpType.delivered, 0], 0), /DELIVERED bytes must be an integer from 1/);
    badFrame(() => opFromWire([OpType.delivered, segmentBytesMax + 1], 0), /DELIVERED bytes/);
    badFrame(() => decodeBody(encodeBody([{ type: OpType.delivered, bytes: 5 }, { type: OpType.literal, data: new Uint8Array(1) }])), /op 0 \(DELIVERED\) is not followed by a segment op/);
    badFrame(() => decodeBody(encodeBody([{ type: OpType.delivered, bytes: 5 }])), /not followed by a segment op/);
    badFrame(() => decodeBody(encodeBody([{ type: OpType.head, label: label(1), offset: 0, length: 5 }]), 1), /needs wire version 2, frame has 1/);
    badFrame(() => opFromWire([OpType.run, label(1), 10, label(2), []], 0), /RUN forks must be an array of 1 to/);
    badFrame(() => opFromWire([OpType.run, label(1), 10, label(2), new Array(runForksMax + 1).fill(1)], 0), /RUN forks must be an array of 1 to/);
    badFrame(() => opFromWire([OpType.run, label(1), 10, label(2), [0]], 0), /RUN forks must be increasing positions from 1 to 9/);
    badFrame(() => opFromWire([OpType.run, label(1), 10, label(2), [3, 3]], 0), /RUN forks must be increasing/);
    badFrame(() => opFromWire([OpType.run, label(1), 10, label(2), [10]], 0), /RUN forks must be increasing/);
    badFrame(() => opFromWire([OpType.run, label(1), 10, label(2), [1], 0], 0), /has 6 fields, expected 4 or 5/);
    badFrame(() => decodeBody(encodeBody([{ type: OpType.run, first: label(1), count: 3, runLabel: label(2), forks: [2] }]), 2), /RUN with forks\) needs wire version 3, frame has 2/);
  });

  test("frames are checked: version, encoding, sizes, msgpack", () => {
    const body = encodeBody(ops);
    badFrame(() => decodeFrame(packr.pack([sdrWireVersion + 1, 0, body.length, body])), /version 4, this agent speaks 1 to 3/);
    badFrame(() => decodeFrame(packr.pack([sdrWireVersion, 7, body.length, body])), /unknown body encoding 7/);
    badFrame(() => decodeFrame(packr.pack([sdrWireVersion, 0, body.length + 1, body])), /raw body is \d+ bytes, header says/);
    badFrame(() => decodeFrame(packr.pack([sdrWireVersion, 0, body.length])), /4-field array/);
    badFrame(() => decodeFrame(new Uint8Array([0x94, 0x01])), /not valid msgpack/);
    badFrame(() => decodeFrame(new Uint8Array(opsFrameBytesMax + 1)), /exceeds opsFrameBytesMax/);
    const frame = encodeFrame({ encoding: BodyEncoding.raw, bodyBytes: body.length, body });
    badFrame(() => decodeFrame(frame.subarray(0, frame.length - 3)), /msgpack|array|body/);
    badFrame(() => decodeFrame(Buffer.concat([frame, new Uint8Array([1])])), /holds 2 msgpack values/);
    badFrame(() => decodeBody(packr.pack({ ops: [] })), /not an array of ops/);
  });
});
