// Interactive traffic for the tests and the benchmark of small-message latency: a
// server that speaks first (a 20-byte banner, SMTP/FTP/SSH style) and then answers
// length-prefixed requests with length-prefixed replies (a Redis/SSH-like ping-pong),
// a client that runs such a conversation and times each step, and a plain TCP relay
// (the floor any proxy pays: one extra hop each way). Sizes come from a seeded
// schedule, so server and client agree on every message without a protocol of their own.
import net from "node:net";
import { generated } from "./fixture.ts";

/** What the server says before the client says anything (20 bytes). */
export const banner = new TextEncoder().encode("220 tandem ESMTP ok\n");

/** Size of message `i` of a conversation (requests and replies alike): 50-500 bytes. */
export function messageBytes(seed: number, i: number): number {
  let x = (seed * 2654435761 + i * 40503 + 1) >>> 0;
  x ^= x << 13; x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5; x >>>= 0;
  return 50 + (x % 451);
}

/** Body of message `i` (distinct bytes per message, so nothing is served from a cache). */
export function messageBody(seed: number, i: number): Uint8Array {
  return generated(messageBytes(seed, i), seed * 100_003 + i + 1);
}

function framed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 2);
  out[0] = body.length >>> 8;
  out[1] = body.length & 0xff;
  out.set(body, 2);
  return out;
}

/** Splits a byte stream into 2-byte-length-prefixed messages. */
class MessageReader {
  private buf = new Uint8Array(0);
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let at = 0;
    while (joined.length - at >= 2) {
      const n = (joined[at]! << 8) | joined[at + 1]!;
      if (joined.length - at - 2 < n) break;
      out.push(joined.slice(at + 2, at + 2 + n));
      at += 2 + n;
    }
    this.buf = joined.slice(at);
    return out;
  }
}

export interface PingPongServer {
  host: string;
  port: number;
  /** Requests that arrived different from the schedule (must stay 0). */
  mismatches: number;
  stop(): void;
}

/** Sends the banner on accept; answers request i (checked against the schedule of
 *  `seed`) with reply i, i.e. message i of the schedule of `seed + 1`. */
export function startPingPongServer(host: string, seed: number): Promise<PingPongServer> {
  const state = { mismatches: 0 };
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    socket.write(banner);
    const reader = new MessageReader();
    let i = 0;
    socket.on("data", (chunk: Buffer) => {
      for (const msg of reader.push(chunk)) {
        if (Buffer.compare(msg, messageBody(seed, i)) !== 0) state.mismatches++;
        socket.write(framed(messageBody(seed + 1, i)));
        i++;
      }
    });
    socket.on("end", () => socket.end());
    socket.on("error", () => socket.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      resolve({
        host, port: (server.address() as net.AddressInfo).port,
        get mismatches() { return state.mismatches; },
        stop: () => server.close(),
      } as PingPongServer);
    });
  });
}

export interface Conversation {
  /** Connect to banner, ms. */
  bannerMs: number;
  /** Each round trip (request written to whole reply read), ms. */
  roundTripsMs: number[];
}

/** Connects, waits for the banner, runs `rounds` request/reply exchanges (each reply
 *  checked byte for byte), closes. Rejects on any mismatch, early close or error. */
export function converse(host: string, port: number, seed: number, rounds: number): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ host, port, noDelay: true });
    const reader = new MessageReader();
    let gotBanner = false;
    let pending = new Uint8Array(0);
    let bannerMs = 0;
    const roundTripsMs: number[] = [];
    let i = 0;
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      socket.write(framed(messageBody(seed, i)));
    };
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`${why} (after ${i} of ${rounds} round trips)`));
    };
    socket.on("data", (chunk: Buffer) => {
      let data: Uint8Array = chunk;
      if (!gotBanner) {
        const joined = new Uint8Array(pending.length + data.length);
        joined.set(pending);
        joined.set(data, pending.length);
        if (joined.length < banner.length) {
          pending = joined;
          return;
        }
        if (Buffer.compare(joined.subarray(0, banner.length), banner) !== 0) return fail("wrong banner");
        gotBanner = true;
        bannerMs = performance.now() - started;
        data = joined.subarray(banner.length);
        if (rounds === 0) {
          socket.end();
          return resolve({ bannerMs, roundTripsMs });
        }
        send();
      }
      for (const msg of reader.push(data)) {
        if (Buffer.compare(msg, messageBody(seed + 1, i)) !== 0) return fail(`reply ${i} differs`);
        roundTripsMs.push(performance.now() - sentAt);
        i++;
        if (i === rounds) {
          socket.end();
          return resolve({ bannerMs, roundTripsMs });
        }
        send();
      }
    });
    socket.on("error", (e) => fail(`socket error: ${e.message}`));
    socket.on("end", () => { if (i < rounds || !gotBanner) fail("server closed early"); });
  });
}

/** A plain TCP relay (no optimization): what one extra hop each way costs. */
export function startRelay(host: string, dst: { host: string; port: number }): Promise<{ port: number; stop(): void }> {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: dst.host, port: dst.port, noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => resolve({ port: (server.address() as net.AddressInfo).port, stop: () => server.close() }));
  });
}

/** As a process: `bun tests/optimize/interactive.ts relay HOST DSTHOST DSTPORT` runs a
 *  relay and prints `relay listening PORT` (a relay in its own process costs what a
 *  proxy on another box costs: a process wake-up per hop). */
if (import.meta.main && process.argv[2] === "relay") {
  const [host, dstHost, dstPort] = process.argv.slice(3);
  const relay = await startRelay(host!, { host: dstHost!, port: Number(dstPort) });
  console.log(`relay listening ${relay.port}`);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}
