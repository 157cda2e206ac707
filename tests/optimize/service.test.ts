// The optimization service in process (real LMDB stores, real sockets): live
// applyConfig (rules added, removed, rebound when the in-path address or the service
// port changes), the inner-channel message codecs (every malformed field is a precise
// badFrame), a channel that speaks garbage after a valid handshake, and a destination
// that refuses (the client connection is reset, the peer channel closed, nothing leaks).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { channelFrameBytesMax, messageFromWire, messageToWire, repParts, reqLabelsMax, repPartBytesMax } from "../../agent/optimize/messages.ts";
import { connectTcp } from "../../agent/wire/connection.ts";
import { clientHandshake } from "../../agent/wire/handshake.ts";
import { curl, generated, net, sha256, startFileServer, tempDir, type FileServer } from "./fixture.ts";
import { startInProc, type InProcAppliance } from "./inproc.ts";

const dcAddr = `${net}.31`;
const dcAddr2 = `${net}.33`;
const branchAddr = `${net}.32`;
const httpAddr = `${net}.130`;

function expectBadFrame(value: unknown, fragment: string): void {
  try {
    messageFromWire(value);
  } catch (err) {
    expect(err).toBeInstanceOf(TandemError);
    expect((err as TandemError).code).toBe("badFrame");
    expect((err as TandemError).message).toContain(fragment);
    return;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

describe("channel message codecs", () => {
  test("every message round-trips", () => {
    const label = new Uint8Array(32).fill(7);
    const messages = [
      { t: "open", dstAddr: "10.1.2.3", dstPort: 80, connId: 5 },
      { t: "opened" }, { t: "eof" }, { t: "ack", bytes: 12345 },
      { t: "data", ops: new Uint8Array([1, 2, 3]) },
      { t: "req", id: 9, labels: [label] },
      { t: "rep", id: 9, segments: [{ label, data: new Uint8Array([4, 5]) }], last: true },
      { t: "reset", reason: "because" },
    ] as const;
    for (const m of messages) expect(messageFromWire(messageToWire(m as never))).toEqual(m as never);
  });

  test("malformed fields are refused precisely", () => {
    expectBadFrame(null, "not a map");
    expectBadFrame({ t: "nope" }, "unknown type");
    expectBadFrame({ t: "open", dstAddr: "999.1.1.1", dstPort: 80, connId: 1 }, "open.dstAddr");
    expectBadFrame({ t: "open", dstAddr: "10.0.0.1", dstPort: 70000, connId: 1 }, "open.dstPort");
    expectBadFrame({ t: "data", ops: new Uint8Array(0) }, "data.ops is empty");
    expectBadFrame({ t: "data", ops: "text" }, "data.ops is not binary");
    expectBadFrame({ t: "ack", bytes: -1 }, "ack.bytes");
    expectBadFrame({ t: "req", id: 1, labels: [] }, "req.labels");
    expectBadFrame({ t: "req", id: 1, labels: [new Uint8Array(31)] }, "req.labels[0]");
    expectBadFrame({ t: "req", id: 1, labels: Array(reqLabelsMax + 1).fill(new Uint8Array(32)) }, "req.labels");
    expectBadFrame({ t: "rep", id: 1, segments: [[new Uint8Array(32)]], last: true }, "rep.segments[0]");
    expectBadFrame({ t: "rep", id: 1, segments: [], last: "yes" }, "rep.last");
    expectBadFrame({ t: "reset", reason: 5 }, "reset.reason");
  });

  test("REP answers are split into bounded parts, the last one flagged", () => {
    const segments = Array.from({ length: 40 }, (_, i) => ({ label: new Uint8Array(32).fill(i), data: new Uint8Array(100_000) }));
    const parts = repParts(3, segments);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      if (p.t !== "rep") throw new Error("not a rep");
      expect(p.segments.reduce((a, s) => a + s.data.length, 0)).toBeLessThanOrEqual(repPartBytesMax);
      expect(p.last).toBe(p === parts[parts.length - 1]);
    }
    expect(parts.flatMap((p) => (p.t === "rep" ? p.segments : []))).toHaveLength(40);
    expect(channelFrameBytesMax).toBeGreaterThan(repPartBytesMax);
  });
});

describe("service in process", () => {
  let tmp: ReturnType<typeof tempDir>;
  let http: FileServer;
  let dc: InProcAppliance;
  let branch: InProcAppliance;
  const body = generated(400_000, 77);

  beforeAll(async () => {
    tmp = tempDir("service");
    http = startFileServer(httpAddr, new Map([["/f", body]]));
    dc = await startInProc(`${tmp.dir}/dc`, (c) => { c.interfaces.inpath = dcAddr; c.hostname = "dc"; });
    branch = await startInProc(`${tmp.dir}/branch`, (c) => { c.interfaces.inpath = branchAddr; c.hostname = "branch"; });
  });

  afterAll(async () => {
    await branch?.close();
    await dc?.close();
    http?.stop();
    tmp?.remove();
  });

  const rule = (listenPort: number, targetAddr = dcAddr, targetPort = 7800) => ({
    listenPort, dstAddr: httpAddr, dstPort: http.port, targetAddr, targetPort, backupAddr: null, backupPort: null,
  });

  test("rules are added and removed live; a port change rebinds", async () => {
    expect((await curl([`http://${branchAddr}:9000/f`], 5)).exitCode).not.toBe(0);   // no rule yet
    branch.config.inPathRules = [rule(9000)];
    const added = await branch.service.applyConfig(branch.config);
    expect(added.notes.join("\n")).toContain("9000");
    expect(sha256((await curl([`http://${branchAddr}:9000/f`])).body)).toBe(sha256(body));

    branch.config.inPathRules = [rule(9001)];
    await branch.service.applyConfig(branch.config);
    expect((await curl([`http://${branchAddr}:9000/f`], 5)).exitCode).not.toBe(0);   // old port released
    expect(sha256((await curl([`http://${branchAddr}:9001/f`])).body)).toBe(sha256(body));
    expect(branch.service.stats().connectionsPassThrough).toBe(0);
    expect(dc.service.stats().connectionsTotal).toBe(2);
  }, 30_000);

  test("the service port and in-path address of the target side rebind live", async () => {
    dc.config.servicePort = 7801;
    dc.config.interfaces.inpath = dcAddr2;
    await dc.service.applyConfig(dc.config);
    branch.config.inPathRules = [rule(9001, dcAddr2, 7801)];
    await branch.service.applyConfig(branch.config);
    const before = dc.service.stats().connectionsTotal;
    expect(sha256((await curl([`http://${branchAddr}:9001/f`])).body)).toBe(sha256(body));
    expect(dc.service.stats().connectionsTotal).toBe(before + 1);
    expect(branch.service.stats().connectionsPassThrough).toBe(0);
  }, 30_000);

  test("garbage after a valid handshake closes only that channel, with a logged reason", async () => {
    const conn = await connectTcp(dcAddr2, 7801, { label: "test" });
    await clientHandshake(conn, {
      service: "channel", model: "TDM-1000", softwareVersion: "0.1.0", storeId: "x", generation: "g", role: null, hostname: "evil",
    }, { secret: null });
    await conn.send({ t: "open", dstAddr: "not-an-address", dstPort: 1, connId: 1 });
    const closed = await new Promise<string>((resolve) => conn.onClose(resolve));
    expect(closed).toBeTruthy();
    const logged = dc.events.recent(50).map((e) => e.message).join("\n");
    expect(logged).toContain("open.dstAddr");
    // The appliance still serves.
    expect(sha256((await curl([`http://${branchAddr}:9001/f`])).body)).toBe(sha256(body));
  }, 30_000);

  test("a destination that refuses: the client is reset, no connection lingers", async () => {
    branch.config.inPathRules = [{ ...rule(9002, dcAddr2, 7801), dstPort: 1 }];
    await branch.service.applyConfig(branch.config);
    const r = await curl([`http://${branchAddr}:9002/f`], 10);
    expect(r.exitCode).not.toBe(0);
    expect(r.exitCode).not.toBe(28);   // refused promptly, not a timeout
    await Bun.sleep(100);
    expect(branch.service.connections()).toEqual([]);
    expect(dc.service.connections()).toEqual([]);
    expect(branch.service.stats().connectionsCurrent).toBe(0);
  }, 30_000);
});

describe("channel secret", () => {
  let tmp: ReturnType<typeof tempDir>;
  let http: FileServer;
  let dc: InProcAppliance;
  let branch: InProcAppliance;
  const body = generated(100_000, 78);

  beforeAll(async () => {
    tmp = tempDir("secret");
    http = startFileServer(`${net}.131`, new Map([["/f", body]]));
    dc = await startInProc(`${tmp.dir}/dc`, (c) => { c.interfaces.inpath = `${net}.34`; c.serviceSecret = "right"; });
    branch = await startInProc(`${tmp.dir}/branch`, (c) => {
      c.interfaces.inpath = `${net}.35`;
      c.serviceSecret = "wrong";
      c.inPathRules = [{ listenPort: 9000, dstAddr: http.host, dstPort: http.port, targetAddr: `${net}.34`, targetPort: 7800, backupAddr: null, backupPort: null }];
    });
  });

  afterAll(async () => {
    await branch?.close();
    await dc?.close();
    http?.stop();
    tmp?.remove();
  });

  test("a wrong secret is refused (the connection passes through); the right one is optimized", async () => {
    expect(sha256((await curl([`http://${net}.35:9000/f`])).body)).toBe(sha256(body));
    expect(branch.service.stats().connectionsPassThrough).toBe(1);
    expect(dc.service.stats().connectionsTotal).toBe(0);
    expect(dc.events.recent(50).map((e) => e.message).join("\n")).toContain("bad secret");

    branch.config.serviceSecret = "right";
    await branch.service.applyConfig(branch.config);   // also forgets that the target was down
    expect(sha256((await curl([`http://${net}.35:9000/f`])).body)).toBe(sha256(body));
    expect(dc.service.stats().connectionsTotal).toBe(1);
    expect(branch.service.stats().connectionsPassThrough).toBe(1);
  }, 30_000);
});
