// Real loopback TCP (127.0.7.0/24): backpressure with partial writes, heartbeats and
// idle close, and the handshake's acceptance, secret check and refusals on both sides.
import { afterAll, describe, expect, test } from "bun:test";
import { TandemError } from "../../agent/errors.ts";
import { connectTcp, listenTcp, type Connection } from "../../agent/wire/connection.ts";
import { clientHandshake, protocolVersion, serverHandshake, type LocalHello, type PeerHello } from "../../agent/wire/handshake.ts";

const host = "127.0.7.1";
const listeners: Array<{ stop(): void }> = [];
afterAll(() => listeners.forEach((l) => l.stop()));

function pair(options = {}): Promise<{ client: Connection; server: Connection }> {
  return new Promise((resolve, reject) => {
    const l = listenTcp(host, 0, (server) => {
      clientP.then((client) => resolve({ client, server }), reject);
    }, options);
    listeners.push(l);
    const clientP = connectTcp(host, l.port, options);
  });
}

const base: LocalHello = {
  service: "sync", model: "TDM-1000", softwareVersion: "0.1.0", storeId: "s1", generation: "g1", role: "master", hostname: "a",
};

async function shake(client: Partial<LocalHello>, server: Partial<LocalHello>, cs: string | null, ss: string | null,
  check?: (p: PeerHello) => string | null) {
  const { client: c, server: s } = await pair();
  const [cr, sr] = await Promise.allSettled([
    clientHandshake(c, { ...base, hostname: "client", ...client }, { secret: cs, check }),
    serverHandshake(s, { ...base, hostname: "server", role: "backup", ...server }, { secret: ss, check }),
  ]);
  return { cr, sr, c, s };
}

function reasonOf(r: PromiseSettledResult<unknown>): string {
  expect(r.status).toBe("rejected");
  const err = (r as PromiseRejectedResult).reason;
  expect(err).toBeInstanceOf(TandemError);
  expect((err as TandemError).code).toBe("refused");
  return (err as TandemError).message;
}

describe("connection", () => {
  test("large burst honours partial writes and arrives in order", async () => {
    const { client, server } = await pair();
    const got: number[] = [];
    const done = new Promise<void>((resolve) => server.onMessage((m) => {
      got.push((m as { i: number }).i);
      if (got.length === 200) resolve();
    }));
    const blob = new Uint8Array(200_000).fill(7);
    let paused = 0;
    let queuedMax = 0;
    for (let i = 0; i < 200; i++) {
      const sent = client.send({ i, blob });
      queuedMax = Math.max(queuedMax, client.pendingSendBytes);
      if (!client.writable) paused++;
      await sent;
    }
    await done;
    expect(got).toEqual([...Array(200).keys()]);
    expect(queuedMax).toBeGreaterThan(0); // partial writes queued the rest for drain
    expect(paused).toBeGreaterThan(0); // 40 MB outran the socket: backpressure engaged
    client.close("test done");
  });

  test("heartbeats keep a quiet link up; silence closes it", async () => {
    const { client, server } = await pair({ heartbeatMs: 50, idleMs: 300 });
    await Bun.sleep(600);
    expect(client.closed).toBe(false);
    expect(server.closed).toBe(false);
    // a peer that stops talking (stopped sending heartbeats) is declared down
    (client as unknown as { timer: Timer }).timer && clearInterval((client as unknown as { timer: Timer }).timer);
    await Bun.sleep(700);
    expect(server.closed).toBe(true);
    expect(server.closeReason).toContain("silent");
    client.close("done");
  });

  test("garbage closes only that connection with a reason", async () => {
    const { client, server } = await pair();
    const closed = new Promise<string>((r) => server.onClose(r));
    (client as unknown as { socket: { write(b: Uint8Array): number } }).socket.write(new Uint8Array([0, 0, 0, 2, 0xc1, 0xc1]));
    expect(await closed).toContain("bad frame");
  });
});

describe("handshake", () => {
  test("accepts matching peers, with and without secret", async () => {
    for (const secret of [null, "s3cret"]) {
      const { cr, sr, c } = await shake({}, {}, secret, secret);
      expect(cr.status).toBe("fulfilled");
      expect(sr.status).toBe("fulfilled");
      expect((cr as PromiseFulfilledResult<PeerHello>).value.hostname).toBe("server");
      expect((sr as PromiseFulfilledResult<PeerHello>).value.hostname).toBe("client");
      c.close("done");
    }
  });

  test("bad secret refused on both sides", async () => {
    const { cr, sr } = await shake({}, {}, "wrong", "right");
    expect(reasonOf(cr)).toContain("bad secret");
    expect(reasonOf(sr)).toContain("bad secret");
    const one = await shake({}, {}, null, "right");
    expect(reasonOf(one.cr)).toContain("bad secret");
    const other = await shake({}, {}, "x", null);
    expect(reasonOf(other.cr)).toContain("one side");
  });

  test("model, version and service mismatches refused with reason", async () => {
    const m = await shake({ model: "TDM-2000" }, {}, null, null);
    expect(reasonOf(m.cr)).toContain("model mismatch");
    expect(reasonOf(m.sr)).toContain("model mismatch");
    const v = await shake({}, { softwareVersion: "0.2.0" }, "k", "k");
    expect(reasonOf(v.cr)).toContain("software version mismatch");
    expect(reasonOf(v.sr)).toContain("software version mismatch");
    const s = await shake({ service: "channel" }, {}, null, null);
    expect(reasonOf(s.cr)).toContain("wrong service");
  });

  test("caller check refuses (two masters)", async () => {
    const check = (p: PeerHello) => (p.role === "master" && p.hostname === "client" ? "two masters" : null);
    const r = await shake({}, {}, null, null, check);
    expect(reasonOf(r.cr)).toBe("two masters");
    expect(reasonOf(r.sr)).toBe("two masters");
  });

  test("unauthenticated client learns nothing but a refusal", async () => {
    const { client, server } = await pair();
    const sr = Promise.allSettled([serverHandshake(server, base, { secret: "k" })]);
    const challenge = (await client.receive(2000)) as Record<string, unknown>;
    expect(challenge.t).toBe("challenge");
    expect(Object.keys(challenge).sort()).toEqual(["magic", "nonce", "proto", "t"]);
    await client.send({ t: "hello", magic: "TNDM", proto: protocolVersion, hello: { ...base, nonce: new Uint8Array(16) }, proof: new Uint8Array(32) });
    const reply = (await client.receive(2000)) as Record<string, unknown>;
    expect(reply.t).toBe("refuse");
    expect(reasonOf((await sr)[0]!)).toContain("bad secret");
  });

  test("garbage hello fails the handshake", async () => {
    const { client, server } = await pair();
    const sr = Promise.allSettled([serverHandshake(server, base, { secret: null })]);
    await client.receive(2000);
    await client.send({ t: "hello", magic: "NOPE" });
    const [r] = await sr;
    expect(r.status).toBe("rejected");
    expect(((r as PromiseRejectedResult).reason as TandemError).code).toBe("badFrame");
    expect(server.closed).toBe(true);
  });
});
