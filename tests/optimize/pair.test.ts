// The optimization service end to end with real processes: a branch appliance and a
// data-centre appliance (`tandem start` each, real LMDB stores), a real HTTP server,
// curl as the client. Downloads and uploads are checked by sha256; then 50 concurrent
// connections, half-close both ways, a flood of garbage into the inner-channel port
// while a transfer runs, and fresh-vs-warm stores in both directions (REQ/REP must
// never stall a transfer, whatever either store holds).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import * as nodeNet from "node:net";
import { packageTar } from "../bench/corpus.ts";
import { waitFor, type Agent } from "../helpers/agents.ts";
import {
  clientAppliance, curl, generated, net, serverAppliance, sha256, startFileServer, tempDir, type FileServer,
} from "./fixture.ts";

const dcAddr = `${net}.2`;
const branchAddr = `${net}.1`;
const freshBranchAddr = `${net}.3`;
const freshDcAddr = `${net}.4`;
const httpAddr = `${net}.100`;
const echoAddr = `${net}.101`;

let tmp: ReturnType<typeof tempDir>;
let http: FileServer;
let dc: Agent;
let branch: Agent;
const agents: Agent[] = [];
let tar: Uint8Array;
let halfCloseServer: { port: number; stop(force?: boolean): void };

/** A server that reads until the client half-closes, then answers the sha256 of what it
 *  read followed by `replyBytes` of data, and half-closes in turn. */
function startHalfCloseServer(replyBytes: number) {
  return Bun.listen<{ chunks: Uint8Array[] }>({
    hostname: echoAddr, port: 0, allowHalfOpen: true,
    socket: {
      open(s) { s.data = { chunks: [] }; },
      data(s, d) { s.data.chunks.push(d.slice()); },
      end(s) {
        const all = Buffer.concat(s.data.chunks);
        const reply = Buffer.concat([Buffer.from(sha256(all) + "\n"), generated(replyBytes, 7)]);
        let offset = 0;
        const pump = () => {
          while (offset < reply.length) {
            const n = s.write(reply.subarray(offset));
            if (n <= 0) return;
            offset += n;
          }
          s.end();
        };
        (s.data as unknown as { pump: () => void }).pump = pump;
        pump();
      },
      drain(s) { (s.data as unknown as { pump?: () => void }).pump?.(); },
    },
  });
}

beforeAll(async () => {
  tmp = tempDir("pair");
  tar = readFileSync(packageTar("typescript", "5.6.3"));
  http = startFileServer(httpAddr, new Map([
    ["/ts.tar", tar],
    ["/small", generated(300_000, 3)],
    ...Array.from({ length: 50 }, (_, i) => [`/c${i}`, generated(200_000 + i * 1000, 100 + i)] as [string, Uint8Array]),
  ]));
  halfCloseServer = startHalfCloseServer(3_000_000);
  dc = await serverAppliance(tmp.dir, "dc", dcAddr);
  agents.push(dc);
  branch = await clientAppliance(tmp.dir, "branch", branchAddr, [
    { listenPort: 8000, dst: http, target: [dcAddr, 7800] },
    { listenPort: 8001, dst: { host: echoAddr, port: halfCloseServer.port }, target: [dcAddr, 7800] },
  ]);
  agents.push(branch);
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => 0);
  http?.stop();
  halfCloseServer?.stop(true);
  tmp?.remove();
});

describe("optimized pair", () => {
  test("download cold then warm: bytes intact, the warm one crosses the WAN reduced", async () => {
    const cold = await curl([`http://${branchAddr}:8000/ts.tar`]);
    expect(cold.stderr).toBe("");
    expect(sha256(cold.body)).toBe(sha256(tar));
    const control = await branch.control();
    const afterCold = await control.stats();
    const warm = await curl([`http://${branchAddr}:8000/ts.tar`]);
    expect(sha256(warm.body)).toBe(sha256(tar));
    const afterWarm = await control.stats();
    const warmWan = afterWarm.wanBytesIn - afterCold.wanBytesIn;
    const warmLan = afterWarm.lanBytesOut - afterCold.lanBytesOut;
    expect(warmLan).toBeGreaterThanOrEqual(tar.length);
    // A repeated transfer crosses the WAN as references: far below the file.
    expect(warmWan * 50).toBeLessThan(tar.length);
    expect(afterWarm.connectionsPassThrough).toBe(0);
    expect(afterWarm.connectionsTotal).toBe(2);
    const dcStats = await (await dc.control()).stats();
    expect(dcStats.segmentsDef).toBeGreaterThan(0);
    expect(dcStats.segmentsRef).toBeGreaterThan(0);
    const metrics = await control.metricsText();
    expect(metrics).toMatch(/tandem_optimize_connections_total \d+/);
  }, 60_000);

  test("upload: the server receives exactly what the client sent", async () => {
    const body = Buffer.concat([tar.subarray(0, 4_000_000), generated(1_000_000, 11)]);
    const path = `${tmp.dir}/upload.bin`;
    await Bun.write(path, body);
    for (let i = 0; i < 2; i++) {
      const r = await curl(["-X", "POST", "--data-binary", `@${path}`, `http://${branchAddr}:8000/up`]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(new TextDecoder().decode(r.body))).toEqual({ sha256: sha256(body), length: body.length });
    }
  }, 60_000);

  test("50 concurrent connections all arrive intact", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => curl([`http://${branchAddr}:8000/c${i}`])));
    results.forEach((r, i) => {
      expect(r.exitCode).toBe(0);
      expect(sha256(r.body)).toBe(sha256(http.files.get(`/c${i}`)!));
    });
    const stats = await (await branch.control()).stats();
    expect(stats.connectionsPassThrough).toBe(0);
    // Every connection ends on both appliances once client and server closed.
    for (const agent of [branch, dc]) {
      expect(await waitFor(async () => (await (await agent.control()).stats()).connectionsCurrent === 0, 10_000)).toBe(true);
    }
  }, 90_000);

  test("half-close client-first: the request ends with FIN, the answer still flows back", async () => {
    const request = generated(2_000_000, 21);
    const received: Uint8Array[] = [];
    const done = Promise.withResolvers<void>();
    const sock = await Bun.connect({
      hostname: branchAddr, port: 8001, allowHalfOpen: true,
      socket: {
        data(_s, d) { received.push(d.slice()); },
        end() { done.resolve(); },
        close() { done.resolve(); },
        error(_s, e) { done.reject(e); },
      },
    });
    let offset = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (offset < request.length) {
          const n = sock.write(request.subarray(offset));
          if (n <= 0) return;
          offset += n;
        }
        sock.shutdown();   // FIN: nothing more from the client, but keep reading
        resolve();
      };
      (sock as unknown as { pump: () => void }).pump = pump;
      const timer = setInterval(() => { pump(); if (offset >= request.length) clearInterval(timer); }, 5);
      pump();
    });
    await done.promise;
    const all = Buffer.concat(received);
    const nl = all.indexOf(10);
    expect(all.subarray(0, nl).toString()).toBe(sha256(request));
    expect(sha256(all.subarray(nl + 1))).toBe(sha256(generated(3_000_000, 7)));
    sock.end();
  }, 60_000);

  test("half-close server-first: the client keeps sending after the server's FIN", async () => {
    // Pure TCP, no HTTP: the server sends a banner and FIN at once, then reads everything.
    const got = Promise.withResolvers<string>();
    const srv = Bun.listen<{ chunks: Uint8Array[] }>({
      hostname: echoAddr, port: 0, allowHalfOpen: true,
      socket: {
        open(s) { s.data = { chunks: [] }; s.write("banner\n"); s.shutdown(); },
        data(s, d) { s.data.chunks.push(d.slice()); },
        end(s) { got.resolve(sha256(Buffer.concat(s.data.chunks))); s.end(); },
        // Bun reports the peer's FIN on a socket it already shut down as a close.
        close(s) { got.resolve(sha256(Buffer.concat(s.data.chunks))); },
      },
    });
    const control = await branch.control();
    await control.configure([
      `in-path rule fixed-target listen-port 8002 dstaddr ${echoAddr} dstport ${srv.port} target-addr ${dcAddr} target-port 7800`,
    ]);
    const payload = generated(1_500_000, 33);
    // node:net here: a Bun.connect client socket closes as soon as the peer's FIN arrives.
    const sock = nodeNet.connect({ host: branchAddr, port: 8002, allowHalfOpen: true });
    let text = "";
    const banner = Promise.withResolvers<string>();
    sock.on("data", (d) => { text += d.toString(); });
    sock.on("end", () => banner.resolve(text));
    sock.on("error", (e) => banner.reject(e));
    expect(await banner.promise).toBe("banner\n");
    sock.end(payload);   // sent after the server's FIN, then our own FIN
    expect(await got.promise).toBe(sha256(payload));
    srv.stop(true);
    await control.configure(["no in-path rule fixed-target listen-port 8002"]).catch(() => undefined);
  }, 60_000);

  test("a flood of garbage into the inner-channel port: nothing crashes, a transfer in progress completes", async () => {
    const transfer = curl(["--limit-rate", "8M", `http://${branchAddr}:8000/ts.tar`]);
    const floods: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      floods.push((async () => {
        const s = await Bun.connect({ hostname: dcAddr, port: 7800, socket: { data() {}, error() {}, close() {} } });
        const junk = generated(64 * 1024, 1000 + i);
        if (i % 4 === 0) new DataView(junk.buffer).setUint32(0, 0xffffffff);  // absurd frame length
        if (i % 4 === 1) new DataView(junk.buffer).setUint32(0, 20);           // short frame, bad msgpack
        s.write(junk);
        await Bun.sleep(50);
        s.end();
      })());
    }
    await Promise.all(floods);
    const r = await transfer;
    expect(r.exitCode).toBe(0);
    expect(sha256(r.body)).toBe(sha256(tar));
    expect(dc.proc.exitCode).toBeNull();
    const after = await curl([`http://${branchAddr}:8000/small`]);
    expect(sha256(after.body)).toBe(sha256(http.files.get("/small")!));
  }, 90_000);

  test("fresh client meets a warm server, and a warm client a fresh server: REQ/REP never stalls", async () => {
    // A fresh branch (empty store) fetching what the warm DC holds: the DC sends references
    // the branch lacks; its REQs must be answered.
    const fresh = await clientAppliance(tmp.dir, "fresh-branch", freshBranchAddr, [
      { listenPort: 8000, dst: http, target: [dcAddr, 7800] },
    ]);
    agents.push(fresh);
    const down = await curl([`http://${freshBranchAddr}:8000/ts.tar`]);
    expect(sha256(down.body)).toBe(sha256(tar));
    const freshStats = await (await fresh.control()).stats();
    expect(freshStats.segmentsReq).toBeGreaterThan(0);

    // A warm branch uploading to a fresh DC: the branch sends references the DC lacks.
    const freshDc = await serverAppliance(tmp.dir, "fresh-dc", freshDcAddr);
    agents.push(freshDc);
    const control = await branch.control();
    await control.configure([
      `in-path rule fixed-target listen-port 8003 dstaddr ${http.host} dstport ${http.port} target-addr ${freshDcAddr} target-port 7800`,
    ]);
    const path = `${tmp.dir}/tar-upload.bin`;
    await Bun.write(path, tar);
    const up = await curl(["-X", "POST", "--data-binary", `@${path}`, `http://${branchAddr}:8003/up`]);
    expect(JSON.parse(new TextDecoder().decode(up.body))).toEqual({ sha256: sha256(tar), length: tar.length });
    const freshDcStats = await (await freshDc.control()).stats();
    expect(freshDcStats.segmentsReq).toBeGreaterThan(0);
    // And the download of the same file through the fresh DC (which now holds it).
    const again = await curl([`http://${branchAddr}:8003/ts.tar`]);
    expect(sha256(again.body)).toBe(sha256(tar));
  }, 120_000);
});
