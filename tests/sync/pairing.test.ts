// Real processes on real stores (127.0.7.10/.11): pairing, initial overwrite (the backup
// adopts the master's store; its extras go, what it already held is not resent), live
// replication both ways, an online role/mode change, and a check. Every scenario ends
// with `tandem store digest` equal on both sides and `tandem store verify` clean.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digest, startNode, verify, waitUntil, type SyncNode } from "./procs.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-sync-pair-"));
const nodes: SyncNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

const A = "127.0.7.10";
const B = "127.0.7.11";
const port = 17744;

describe("pairing and replication (real processes)", () => {
  test("initial overwrite, then live replication both ways", async () => {
    // Before pairing: each store learns on its own.
    const a0 = await startNode({ name: "A", dir: join(root, "a"), addr: A, role: "master", port, extra: ["--no-sync"] });
    const b0 = await startNode({ name: "B", dir: join(root, "b"), addr: B, role: "backup", port, extra: ["--no-sync"] });
    nodes.push(a0, b0);
    await a0.cmd({ cmd: "write", n: 400, size: 8192 });
    await b0.cmd({ cmd: "write", n: 150, size: 4096 });
    await a0.kill("SIGTERM");
    await b0.kill("SIGTERM");
    const bIdBefore = (await digest(join(root, "b")));
    expect(bIdBefore).toContain("segments 150");

    const a = await startNode({ name: "A", dir: join(root, "a"), addr: A, role: "master", peer: B, port, extra: ["--secret", "pairing-key"] });
    const b = await startNode({ name: "B", dir: join(root, "b"), addr: B, role: "backup", peer: A, port, extra: ["--secret", "pairing-key"] });
    nodes.push(a, b);
    const early = await b.status();
    expect(early.eligibleForTakeover).toBe(false);
    await waitUntil(async () => (await a.status()).state === "in-sync" && (await b.status()).state === "in-sync", 30_000, "in-sync");
    const sb = await b.status();
    expect(sb.eligibleForTakeover).toBe(true);
    expect(sb.initialSync).toBeNull();
    expect(await digest(join(root, "a"))).toBe(await digest(join(root, "b")));
    expect(await digest(join(root, "b"))).toContain("segments 400");

    // Live: writes on both sides reach the other; nothing echoes back.
    await a.cmd({ cmd: "write", n: 200, size: 8192 });
    await b.cmd({ cmd: "write", n: 100, size: 8192 });
    await waitUntil(async () => (await a.cmd({ cmd: "count" })).count === 700 && (await b.cmd({ cmd: "count" })).count === 700, 20_000, "700 on both");
    const sa = await a.status();
    expect(sa.sentSegments).toBeGreaterThanOrEqual(600);
    expect(sa.sentSegments).toBeLessThan(700); // only its own: the backup's 100 did not come back
    expect(await digest(join(root, "a"))).toBe(await digest(join(root, "b")));

    // A check finds nothing to do.
    const check = (await a.cmd({ cmd: "check" })).check;
    expect(check.inSync).toBe(true);
    expect(check.message).toBe("in sync");

    // Online mode change to sync: writes are acknowledged by the backup before they return.
    await a.cmd({ cmd: "config", sync: { mode: "sync" } });
    await waitUntil(async () => (await a.status()).effectiveMode === "sync", 10_000, "sync mode");
    await a.cmd({ cmd: "write", n: 50, size: 8192 });
    expect((await b.cmd({ cmd: "count" })).count).toBe(750);

    for (const d of ["a", "b"]) expect((await verify(join(root, d))).code).toBe(0);
    expect(await digest(join(root, "a"))).toBe(await digest(join(root, "b")));

    // Role swap applied online (failover done by the operator): no restart, no resync.
    const sentBefore = (await b.status()).sentSegments;
    const ra = (await a.cmd({ cmd: "config", sync: { master: false, mode: "async" } })).result;
    const rb = (await b.cmd({ cmd: "config", sync: { master: true } })).result;
    expect(ra.restartRequired ?? null).toBeNull();
    expect(rb.restartRequired ?? null).toBeNull();
    await waitUntil(async () => {
      const [x, y] = [await a.status(), await b.status()];
      return x.role === "backup" && y.role === "master" && x.state === "in-sync" && y.state === "in-sync" && x.eligibleForTakeover;
    }, 20_000, "in-sync after the role swap");
    await b.cmd({ cmd: "write", n: 30, size: 8192 });
    await waitUntil(async () => (await a.cmd({ cmd: "count" })).count === 780, 10_000, "new master's writes on the new backup");
    expect((await b.status()).sentSegments - sentBefore).toBe(30); // nothing resent
    expect(await digest(join(root, "a"))).toBe(await digest(join(root, "b")));
  }, 90_000);
});
