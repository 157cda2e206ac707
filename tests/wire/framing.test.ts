// Frame reassembly across arbitrary chunking, and precise refusal of garbage,
// truncated and oversized frames on both the reading and the writing side.
import { describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { connectTcp, listenTcp, type Connection } from "../../agent/wire/connection.ts";
import { BulkMessage, encodeFrame, FrameReader, frameBytesMax, heartbeatFrame } from "../../agent/wire/framing.ts";

const host = "127.0.7.1";

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

  test("bulk frames survive any chunking; head and bulk come back as sent", () => {
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(70000).fill(9), new Uint8Array([4])];
    const stream = concat([encodeFrame(new BulkMessage({ t: "x", n: [3, 0, 70000, 1] }, parts)), encodeFrame({ t: "after" })]);
    for (const step of [1, 5, 9, 4096, stream.length]) {
      const reader = new FrameReader();
      const got: unknown[] = [];
      for (let i = 0; i < stream.length; i += step) for (const e of reader.push(stream.subarray(i, i + step))) if (!e.heartbeat) got.push(e.message);
      expect(got.length).toBe(2);
      const bulk = got[0] as BulkMessage;
      expect(bulk).toBeInstanceOf(BulkMessage);
      expect(bulk.head).toEqual({ t: "x", n: [3, 0, 70000, 1] });
      expect(concat(bulk.bulk)).toEqual(concat(parts));
      // Inside one chunk the bulk is one view of it; across chunks, views of each.
      if (step === stream.length) expect(bulk.bulk.length).toBe(1);
      if (step === 4096) expect(bulk.bulk.every((v) => v.buffer === stream.buffer)).toBe(true);
      expect(got[1]).toEqual({ t: "after" });
    }
    expect(() => encodeFrame(new BulkMessage({ t: "x" }, [new Uint8Array(frameBytesMax)]))).toThrow(/frameBytesMax/);
  });

  test("a frame inside one chunk is a view of it; one spanning chunks is copied once", () => {
    const data = new Uint8Array(1000).fill(7);
    const stream = concat([encodeFrame({ data }), encodeFrame({ data })]);
    const split = stream.length - 10;
    const first = stream.slice(0, split);
    const second = stream.slice(split);
    const reader = new FrameReader();
    const [a] = reader.push(first) as Array<{ message: { data: Uint8Array } }>;
    const [b] = reader.push(second) as Array<{ message: { data: Uint8Array } }>;
    expect(a!.message.data.buffer).toBe(first.buffer);
    expect(b!.message.data.buffer).not.toBe(first.buffer);
    expect(b!.message.data.buffer).not.toBe(second.buffer);
    expect(a!.message.data).toEqual(data);
    expect(b!.message.data).toEqual(data);
  });
});

describe("framing on real sockets", () => {
  test("Bun hands each data callback a buffer of its own and never reuses it (frames are views of them)", async () => {
    const kept: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    const total = 16 * 1024 * 1024;
    let got = 0;
    const done = Promise.withResolvers<void>();
    const server = Bun.listen({
      hostname: host, port: 0,
      socket: {
        data(_s, d) {
          kept.push(d);
          copies.push(d.slice());
          got += d.length;
          if (got >= total) done.resolve();
        },
      },
    });
    const payload = new Uint8Array(total);
    for (let i = 0; i < total; i++) payload[i] = (i * 7919) & 255;
    let off = 0;
    const client = await Bun.connect({
      hostname: host, port: server.port,
      socket: {
        open(s) { off += s.write(payload.subarray(off)); },
        drain(s) { off += s.write(payload.subarray(off)); },
        data() {},
      },
    });
    await done.promise;
    client.end();
    server.stop(true);
    expect(kept.length).toBeGreaterThan(1);
    expect(new Set(kept.map((k) => k.buffer)).size).toBe(kept.length);
    kept.forEach((k, i) => expect(Buffer.compare(k, copies[i]!)).toBe(0));
  });

  test("bulk messages through a connection under backpressure arrive intact and in order", async () => {
    const { promise, resolve } = Promise.withResolvers<Connection>();
    const l = listenTcp(host, 0, resolve);
    const client = await connectTcp(host, l.port);
    const server = await promise;
    const received: BulkMessage[] = [];
    const all = Promise.withResolvers<void>();
    const count = 400;
    let plainGot = 0;
    server.onMessage((m) => {
      if (!(m instanceof BulkMessage)) return void plainGot++;
      received.push(m);
      if (received.length === count) all.resolve();
    });
    const payloadOf = (i: number, k: number) => new Uint8Array(1000 + ((i * 37 + k * 101) % 9000)).fill((i + k) & 255);
    let plain = 0;
    for (let i = 0; i < count; i++) {
      const parts = Array.from({ length: 1 + (i % 40) }, (_, k) => payloadOf(i, k));
      // Awaiting send() is the backpressure: the queue fills past its mark and drains.
      await client.send(new BulkMessage({ i, n: parts.map((p) => p.length) }, parts));
      if (i % 50 === 0) (await client.send({ t: "plain", i }), plain++);
    }
    await all.promise;
    received.forEach((m, i) => {
      const head = m.head as { i: number; n: number[] };
      expect(head.i).toBe(i);
      const bulk = concat(m.bulk);
      let at = 0;
      head.n.forEach((n, k) => {
        expect(bulk.subarray(at, at + n)).toEqual(payloadOf(i, k));
        at += n;
      });
      expect(at).toBe(bulk.length);
    });
    expect(plainGot).toBe(plain);
    client.close("done");
    server.close("done");
    l.stop();
  });
});
