// Refusals between real processes (127.0.7.20-.29): different model, different software
// version, two masters, two backups, bad secret — the reason shows in both sides'
// status and nothing is written. Then hostile input into a sync port: garbage,
// truncated and oversized frames, an unauthenticated client: nothing crashes, nothing
// is written, and the appliance still pairs afterwards.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digest, startNode, waitUntil, type SyncNode } from "./procs.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-sync-refuse-"));
const nodes: SyncNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});
const port = 17745;

async function pairOf(i: number, a: { role: "master" | "backup"; extra?: string[] }, b: { role: "master" | "backup"; extra?: string[] }) {
  const addrA = `127.0.7.${20 + 2 * i}`;
  const addrB = `127.0.7.${21 + 2 * i}`;
  const na = await startNode({ name: `A${i}`, dir: join(root, `a${i}`), addr: addrA, role: a.role, peer: addrB, port, extra: a.extra });
  const nb = await startNode({ name: `B${i}`, dir: join(root, `b${i}`), addr: addrB, role: b.role, peer: addrA, port, extra: b.extra });
  nodes.push(na, nb);
  await na.cmd({ cmd: "write", n: 20, size: 2048 });
  await nb.cmd({ cmd: "write", n: 10, size: 2048 });
  return { na, nb, dirA: join(root, `a${i}`), dirB: join(root, `b${i}`) };
}

const cases: Array<[string, { role: "master" | "backup"; extra?: string[] }, { role: "master" | "backup"; extra?: string[] }, RegExp]> = [
  ["model", { role: "master" }, { role: "backup", extra: ["--model", "TDM-2000"] }, /model mismatch/],
  ["software version", { role: "master" }, { role: "backup", extra: ["--sw-version", "0.2.0"] }, /software version mismatch/],
  ["two masters", { role: "master" }, { role: "master" }, /two masters/],
  ["two backups", { role: "backup" }, { role: "backup" }, /two backups/],
  ["bad secret", { role: "master", extra: ["--secret", "one"] }, { role: "backup", extra: ["--secret", "two"] }, /bad secret/],
];

describe("refusals (real processes)", () => {
  cases.forEach(([name, a, b, reason], i) => {
    test(`${name}: refused with the reason on both sides, nothing written`, async () => {
      const { na, nb, dirA, dirB } = await pairOf(i, a, b);
      const [sa, sb] = await waitUntil<any[] | undefined>(async () => {
        const s = [await na.status(), await nb.status()];
        return s.every((x) => x.state === "refused") ? s : undefined;
      }, 15_000, `${name} refusal on both`) as any[];
      expect(sa.refusedReason).toMatch(reason);
      expect(sb.refusedReason).toMatch(reason);
      expect((await na.cmd({ cmd: "alarms" })).alarms).toContain("peer_refused");
      expect(await digest(dirA)).toContain("segments 20");
      expect(await digest(dirB)).toContain("segments 10");
      await na.kill();
      await nb.kill();
    }, 30_000);
  });
});

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

async function raw(host: string, p: number, chunks: Uint8Array[], waitMs = 300): Promise<string> {
  let received = "";
  const sock = await Bun.connect({
    hostname: host, port: p,
    socket: { data(_s, d) { received += Buffer.from(d).toString("latin1"); } },
  });
  for (const c of chunks) sock.write(c);
  await Bun.sleep(waitMs);
  sock.end();
  return received;
}

describe("hostile input into the sync port", () => {
  test("garbage, truncated, oversized frames and an unauthenticated client change nothing", async () => {
    const addrA = "127.0.7.40";
    const addrB = "127.0.7.41";
    const dirA = join(root, "ha");
    const a = await startNode({ name: "HA", dir: dirA, addr: addrA, role: "master", peer: addrB, port, extra: ["--secret", "k"] });
    nodes.push(a);
    await a.cmd({ cmd: "write", n: 30, size: 2048 });
    const before = await digest(dirA);
    const { encodeFrame } = await import("../../agent/wire/framing.ts");
    const { protocolVersion } = await import("../../agent/wire/handshake.ts");
    await raw(addrA, port, [new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]);
    await raw(addrA, port, [new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3])]);
    await raw(addrA, port, [new Uint8Array([0, 0, 0, 50, 1, 2, 3])]);
    await raw(addrA, port, [frame(new Uint8Array([0xc1, 0xc1, 0xc1]))]);
    // A client that skips the handshake and speaks sync messages straight away.
    await raw(addrA, port, [encodeFrame({ t: "state", storeId: "x", generation: "y" }), encodeFrame({ t: "rep", throughSeq: 1, segs: [] })]);
    // An unauthenticated hello (no proof): refused, nothing else.
    const reply = await raw(addrA, port, [encodeFrame({
      t: "hello", magic: "TNDM", proto: protocolVersion, proof: null,
      hello: { service: "sync", model: "TDM-1000", softwareVersion: "0.1.0", storeId: "evil", generation: "g", role: "backup", hostname: "evil", nonce: new Uint8Array(16) },
    })]);
    expect(reply).toContain("refuse");
    expect(reply).not.toContain("softwareVersion"); // the server's HELLO was never revealed
    // Many connections at once, never finishing the handshake.
    await Promise.all(Array.from({ length: 20 }, () => raw(addrA, port, [new Uint8Array([0, 0])], 100)));
    expect(a.alive()).toBe(true);
    const st = await a.status();
    expect(st.state).not.toBe("in-sync");
    expect(await digest(dirA)).toBe(before);

    // The port still works for the real peer.
    const b = await startNode({ name: "HB", dir: join(root, "hb"), addr: addrB, role: "backup", peer: addrA, port, extra: ["--secret", "k"] });
    nodes.push(b);
    await waitUntil(async () => (await b.status()).state === "in-sync", 20_000, "pairing after hostile input");
    expect(await digest(join(root, "hb"))).toBe(await digest(dirA));
  }, 60_000);
});
