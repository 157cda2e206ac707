// Real clients and protocols through a real appliance pair (`tandem start` each, real
// LMDB stores), beyond bulk downloads: a server that speaks first and a ping-pong of
// small messages (every reply must arrive without more data behind it), keep-alive
// HTTP with curl reusing one connection and a pipelining client, resets in the middle
// of a transfer in both directions (the other end must see a failure, never a clean
// end that looks complete), TLS, full duplex, idle and empty connections, and mixed
// real and synthetic data on one connection.
// Everything binds inside 127.0.12.0/24.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import net from "node:net";
import { packageTar } from "../bench/corpus.ts";
import { waitFor, type Agent } from "../helpers/agents.ts";
import { clientAppliance, curl, generated, serverAppliance, sha256, startFileServer, tempDir, type FileServer } from "./fixture.ts";
import { ensureSelfSignedCert } from "../../web/tls.ts";
import { converse, messageBody, startPingPongServer, type PingPongServer } from "./interactive.ts";

const net12 = "127.0.12";
const branchAddr = `${net12}.1`;
const dcAddr = `${net12}.2`;
const httpAddr = `${net12}.100`;
const tcpAddr = `${net12}.101`;

let tmp: ReturnType<typeof tempDir>;
let http: FileServer;
let pingPong: PingPongServer;
let dc: Agent;
let branch: Agent;
let tar: Uint8Array;
let nextPort = 8100;

/** Adds an in-path rule on the branch to `dst` and returns the port clients connect to. */
async function ruleTo(dst: { host: string; port: number }): Promise<number> {
  const port = nextPort++;
  const control = await branch.control();
  await control.configure([
    `in-path rule fixed-target listen-port ${port} dstaddr ${dst.host} dstport ${dst.port} target-addr ${dcAddr} target-port 7800`,
  ]);
  return port;
}

/** A raw TCP server on `tcpAddr` that hands each accepted socket to `onSocket`. */
function tcpServer(onSocket: (s: net.Socket) => void): Promise<{ host: string; port: number; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  return new Promise((resolve) => server.listen(0, tcpAddr, () => resolve({
    host: tcpAddr, port: (server.address() as net.AddressInfo).port, close: () => server.close(),
  })));
}

/** How a socket ended: "end" (clean FIN), "error: CODE" or "close". */
function endingOf(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on("end", () => resolve("end"));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(`error: ${e.code ?? e.message}`));
    s.on("close", () => resolve("close"));
  });
}

beforeAll(async () => {
  tmp = tempDir("clients");
  tar = readFileSync(packageTar("typescript", "5.6.3"));
  http = startFileServer(httpAddr, new Map([
    ["/a", generated(700_000, 41)],
    ["/b", tar.subarray(0, 3_000_000)],
    ["/c", new TextEncoder().encode("small body\n")],
  ]));
  pingPong = await startPingPongServer(`${net12}.102`, 11);
  dc = await serverAppliance(tmp.dir, "dc", dcAddr);
  branch = await clientAppliance(tmp.dir, "branch", branchAddr, []);
}, 60_000);

afterAll(async () => {
  for (const a of [branch, dc]) await a?.stop().catch(() => 0);
  http?.stop();
  pingPong?.stop();
  tmp?.remove();
});

describe("real clients through the pair", () => {
  test("server speaks first, then 200 small round trips: every message arrives on its own", async () => {
    const port = await ruleTo(pingPong);
    // converse() sends nothing before the banner and each request only after the whole
    // previous reply: a message held back for more data would stall it (test timeout).
    for (let c = 0; c < 3; c++) {
      const conversation = await converse(branchAddr, port, 11, 200);
      expect(conversation.roundTripsMs.length).toBe(200);
    }
    expect(pingPong.mismatches).toBe(0);
    const stats = await (await branch.control()).stats();
    expect(stats.connectionsPassThrough).toBe(0);
  }, 60_000);

  test("20 interactive conversations at once: every reply of every one arrives", async () => {
    const port = await ruleTo(pingPong);
    const all = await Promise.all(Array.from({ length: 20 }, () => converse(branchAddr, port, 11, 100)));
    for (const conversation of all) expect(conversation.roundTripsMs.length).toBe(100);
    expect(pingPong.mismatches).toBe(0);
  }, 60_000);

  test("TLS end to end (HTTPS with curl, keep-alive): the encrypted stream passes intact", async () => {
    const tls = ensureSelfSignedCert(`${tmp.dir}/tls`, `${net12}.103`, "tls-test");
    const body = tar.subarray(0, 4_000_000);
    const https = Bun.serve({
      hostname: `${net12}.103`, port: 0, tls: { cert: tls.cert, key: tls.key },
      fetch: () => new Response(body as Uint8Array<ArrayBuffer>),
    });
    const port = await ruleTo({ host: https.hostname!, port: https.port! });
    const r = await curl(["-k", "-w", "%{num_connects}\\n", "-o", `${tmp.dir}/t1`, "-o", `${tmp.dir}/t2`,
      `https://${branchAddr}:${port}/x`, `https://${branchAddr}:${port}/y`]);
    expect(r.stderr).toBe("");
    expect(new TextDecoder().decode(r.body).trim().split("\n")).toEqual(["1", "0"]);
    for (const f of ["t1", "t2"]) expect(sha256(readFileSync(`${tmp.dir}/${f}`))).toBe(sha256(body));
    https.stop(true);
  }, 60_000);

  test("keep-alive: curl fetches three URLs over one connection, bodies in order and exact", async () => {
    const port = await ruleTo(http);
    const control = await branch.control();
    const before = (await control.stats()).connectionsTotal;
    const paths = ["/a", "/b", "/c", "/a"];
    const r = await curl(["-w", "%{num_connects}\\n", "-o", `${tmp.dir}/k1`, "-o", `${tmp.dir}/k2`, "-o", `${tmp.dir}/k3`, "-o", `${tmp.dir}/k4`,
      ...paths.map((p) => `http://${branchAddr}:${port}${p}`)]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    // One connect for the first URL, none for the rest: the connection was reused.
    expect(new TextDecoder().decode(r.body).trim().split("\n")).toEqual(["1", "0", "0", "0"]);
    paths.forEach((p, i) => expect(sha256(readFileSync(`${tmp.dir}/k${i + 1}`))).toBe(sha256(http.files.get(p)!)));
    expect((await control.stats()).connectionsTotal - before).toBe(1);
  }, 60_000);

  test("pipelining: requests written at once are answered in order, byte-exact", async () => {
    const port = await ruleTo(http);
    const paths = ["/c", "/a", "/c", "/b", "/c"];
    const requests = paths.map((p, i) =>
      `GET ${p} HTTP/1.1\r\nHost: ${httpAddr}\r\n${i === paths.length - 1 ? "Connection: close\r\n" : ""}\r\n`).join("");
    const sock = net.connect({ host: branchAddr, port });
    const chunks: Buffer[] = [];
    sock.on("data", (d: Buffer) => chunks.push(d));
    const ending = endingOf(sock);
    sock.write(requests);
    expect(await ending).toBe("end");
    sock.destroy();
    // Parse the responses one after another (Content-Length framed).
    const all = Buffer.concat(chunks);
    let at = 0;
    for (const p of paths) {
      const headerEnd = all.indexOf("\r\n\r\n", at);
      expect(headerEnd).toBeGreaterThan(at);
      const header = all.subarray(at, headerEnd).toString();
      expect(header).toStartWith("HTTP/1.1 200");
      const length = Number(/content-length: (\d+)/i.exec(header)?.[1]);
      const body = all.subarray(headerEnd + 4, headerEnd + 4 + length);
      expect(sha256(body)).toBe(sha256(http.files.get(p)!));
      at = headerEnd + 4 + length;
    }
    expect(at).toBe(all.length);
  }, 60_000);

  test("the server resets mid-response: the client sees the connection fail, not a clean end", async () => {
    // The server resets once the client said it holds 1 MB (so nothing is in flight).
    const server = await tcpServer((s) => {
      s.on("error", () => undefined);
      s.on("data", () => s.resetAndDestroy());
      s.write(generated(1_000_000, 51));
    });
    const port = await ruleTo(server);
    const sock = net.connect({ host: branchAddr, port });
    let received = 0;
    sock.on("data", (d: Buffer) => {
      received += d.length;
      if (received === 1_000_000) sock.write("got it");
    });
    expect(await endingOf(sock)).toBe("error: ECONNRESET");
    expect(received).toBe(1_000_000);
    server.close();
  }, 30_000);

  test("a server answers and resets at once (an HTTP 413 to an upload): the answer arrives before the reset, as directly", async () => {
    const answer = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const server = await tcpServer((s) => {
      s.on("error", () => undefined);
      s.once("data", () => { s.write(answer); s.resetAndDestroy(); });
    });
    const port = await ruleTo(server);
    const upload = async (host: string, p: number, bytes: number) => {
      const sock = net.connect({ host, port: p });
      let got = "";
      sock.on("data", (d: Buffer) => { got += d.toString(); });
      const ending = endingOf(sock);
      sock.write(generated(bytes, 53));
      return { ending: await ending, got };
    };
    const direct = await upload(server.host, server.port, 100);
    expect(direct).toEqual({ ending: "error: ECONNRESET", got: answer });
    for (let i = 0; i < 3; i++) expect(await upload(branchAddr, port, 100)).toEqual(direct);
    // Still uploading when the reset comes: the data centre's write to the server can
    // fail before it reads the answer (node:net in Bun reports the write's ECONNRESET
    // first and drops the socket), so the answer may be lost; the reset never is.
    const big = await upload(branchAddr, port, 3_000_000);
    expect(big.ending).toBe("error: ECONNRESET");
    expect(["", answer]).toContain(big.got);
    server.close();
  }, 30_000);

  test("the client resets mid-upload: the server gets what came before, then sees the connection fail", async () => {
    const serverSide = Promise.withResolvers<{ ending: string; received: number }>();
    const server = await tcpServer((s) => {
      let received = 0;
      s.on("data", (d: Buffer) => {
        received += d.length;
        if (received === 2_000_000) s.write("got it");
      });
      void endingOf(s).then((ending) => { serverSide.resolve({ ending, received }); s.destroy(); });
    });
    const port = await ruleTo(server);
    const sock = net.connect({ host: branchAddr, port });
    sock.on("error", () => undefined);
    // The client resets when the server holds 2 MB, then once more with 100 bytes right
    // behind the reset (they must arrive first, as they do directly).
    sock.on("data", () => sock.resetAndDestroy());
    sock.write(generated(2_000_000, 52));
    expect(await serverSide.promise).toEqual({ ending: "error: ECONNRESET", received: 2_000_000 });

    const quick = Promise.withResolvers<{ ending: string; received: number }>();
    const quickServer = await tcpServer((s) => {
      let received = 0;
      s.on("data", (d: Buffer) => { received += d.length; });
      void endingOf(s).then((ending) => { quick.resolve({ ending, received }); s.destroy(); });
    });
    const quickPort = await ruleTo(quickServer);
    const quickSock = net.connect({ host: branchAddr, port: quickPort });
    quickSock.on("error", () => undefined);
    quickSock.on("connect", () => { quickSock.write(generated(100, 54)); quickSock.resetAndDestroy(); });
    expect(await quick.promise).toEqual({ ending: "error: ECONNRESET", received: 100 });
    server.close();
    quickServer.close();
  }, 30_000);

  test("full duplex: an echo server answers while the client is still sending 16 MB", async () => {
    const server = await tcpServer((s) => {
      s.pipe(s);
      s.on("error", () => undefined);
    });
    const port = await ruleTo(server);
    const payload = Buffer.concat([generated(8_000_000, 71), tar.subarray(0, 8_000_000)]);
    const sock = net.connect({ host: branchAddr, port });
    const chunks: Buffer[] = [];
    sock.on("data", (d: Buffer) => chunks.push(d));
    const ending = endingOf(sock);
    sock.end(payload);
    expect(await ending).toBe("end");
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(payload));
    server.close();
  }, 60_000);

  test("an idle connection outlives the channel's silence limit, then carries a round trip", async () => {
    const port = await ruleTo(pingPong);
    const sock = net.connect({ host: branchAddr, port, noDelay: true });
    const got: Buffer[] = [];
    let waiter: (() => void) | null = null;
    sock.on("data", (d: Buffer) => { got.push(d); waiter?.(); });
    const bytes = () => got.reduce((n, b) => n + b.length, 0);
    while (bytes() < 20) await new Promise<void>((resolve) => (waiter = resolve));
    await Bun.sleep(7_000);   // longer than the inner channel's idleMs (5 s): heartbeats keep it
    const request = messageBody(11, 0);
    sock.write(Buffer.concat([Buffer.from([request.length >> 8, request.length & 0xff]), request]));
    const reply = messageBody(12, 0);
    while (bytes() < 20 + 2 + reply.length) await new Promise<void>((resolve) => (waiter = resolve));
    sock.destroy();
    const all = Buffer.concat(got);
    expect(sha256(all.subarray(22))).toBe(sha256(reply));
    expect(pingPong.mismatches).toBe(0);
  }, 30_000);

  test("connections that carry nothing: the client or the server closes at once; both appliances let go", async () => {
    const silent = await tcpServer((s) => { s.on("error", () => undefined); s.on("end", () => s.end()); });
    const closer = await tcpServer((s) => { s.on("error", () => undefined); s.end(); });
    const silentPort = await ruleTo(silent);
    const closerPort = await ruleTo(closer);
    for (let i = 0; i < 10; i++) {
      const a = net.connect({ host: branchAddr, port: silentPort, allowHalfOpen: false });
      a.on("error", () => undefined);
      a.on("connect", () => a.end());
      const b = net.connect({ host: branchAddr, port: closerPort });
      const data: Buffer[] = [];
      b.on("data", (d: Buffer) => data.push(d));
      expect(await endingOf(b)).toBe("end");
      expect(Buffer.concat(data).length).toBe(0);
      b.end();
    }
    for (const agent of [branch, dc]) {
      expect(await waitFor(async () => (await (await agent.control()).stats()).connectionsCurrent === 0, 10_000)).toBe(true);
    }
    silent.close();
    closer.close();
  }, 30_000);

  test("mixed data on one connection: tarball, random, zeros, tarball again; the repeat crosses reduced", async () => {
    // The server sends part i when the client asks for it (one byte), so the WAN bytes
    // of each part can be read between parts.
    const parts = [tar, generated(3_000_000, 61), new Uint8Array(3_000_000), tar];
    const server = await tcpServer((s) => {
      let i = 0;
      s.on("data", (d: Buffer) => { for (let k = 0; k < d.length && i < parts.length; k++) s.write(parts[i++]!); if (i === parts.length) s.end(); });
      s.on("end", () => s.end());
      s.on("error", () => undefined);
    });
    const port = await ruleTo(server);
    const control = await dc.control();
    const sock = net.connect({ host: branchAddr, port, noDelay: true });
    const chunks: Buffer[] = [];
    let got = 0;
    let waiter: (() => void) | null = null;
    sock.on("data", (d: Buffer) => { chunks.push(d); got += d.length; waiter?.(); });
    const ending = endingOf(sock);
    const wanPerPart: number[] = [];
    let expected = 0;
    for (const part of parts) {
      const before = (await control.stats()).wanBytesOut;
      expected += part.length;
      sock.write("n");
      while (got < expected) await new Promise<void>((resolve) => (waiter = resolve));
      wanPerPart.push((await control.stats()).wanBytesOut - before);
    }
    sock.end();
    expect(await ending).toBe("end");
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(expected);
    let at = 0;
    for (const part of parts) {
      expect(sha256(all.subarray(at, at + part.length))).toBe(sha256(part));
      at += part.length;
    }
    // The repeat of the tarball goes as references: far below its first crossing.
    expect(wanPerPart[3]! * 20).toBeLessThan(wanPerPart[0]!);
    expect(wanPerPart[3]! * 50).toBeLessThan(tar.length);
    // Random bytes cannot shrink; zeros nearly vanish.
    expect(wanPerPart[1]!).toBeGreaterThan(parts[1]!.length * 0.95);
    expect(wanPerPart[2]! * 100).toBeLessThan(parts[2]!.length);
    server.close();
  }, 60_000);
});
