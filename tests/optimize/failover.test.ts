// Failover of the optimization service with real processes: a branch whose rule names
// a target appliance and a backup. The target is killed (SIGKILL) in the middle of a
// transfer: that transfer fails promptly (reset, not a hang), new connections go to the
// backup at once; with the backup gone too, connections are passed through unoptimized
// and counted; a rule whose appliances never answered passes through from the start.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { waitFor, type Agent } from "../helpers/agents.ts";
import { clientAppliance, curl, generated, net, serverAppliance, sha256, startFileServer, tempDir, type FileServer } from "./fixture.ts";

const branchAddr = `${net}.11`;
const targetAddr = `${net}.12`;
const backupAddr = `${net}.13`;
const nobodyAddr = `${net}.14`;
const httpAddr = `${net}.110`;

let tmp: ReturnType<typeof tempDir>;
let http: FileServer;
let target: Agent;
let backup: Agent;
let branch: Agent;
const big = generated(32_000_000, 5);
const small = generated(500_000, 6);

beforeAll(async () => {
  tmp = tempDir("failover");
  http = startFileServer(httpAddr, new Map([["/big", big], ["/small", small]]));
  [target, backup] = await Promise.all([
    serverAppliance(tmp.dir, "target", targetAddr),
    serverAppliance(tmp.dir, "backup", backupAddr),
  ]);
  branch = await clientAppliance(tmp.dir, "branch", branchAddr, [
    { listenPort: 8000, dst: http, target: [targetAddr, 7800], backup: [backupAddr, 7800] },
    { listenPort: 8001, dst: http, target: [nobodyAddr, 7800] },
  ]);
}, 60_000);

afterAll(async () => {
  for (const a of [branch, target, backup]) await a?.stop().catch(() => 0);
  http?.stop();
  tmp?.remove();
});

test("no appliance answers: the connection is passed through, intact, and counted", async () => {
  const r = await curl([`http://${branchAddr}:8001/small`]);
  expect(r.exitCode).toBe(0);
  expect(sha256(r.body)).toBe(sha256(small));
  const stats = await (await branch.control()).stats();
  expect(stats.connectionsPassThrough).toBe(1);
  expect(stats.wanBytesIn).toBeGreaterThanOrEqual(small.length);   // crossed the WAN as is
  // Both ends closed: the relay lets go of it.
  expect(await waitFor(async () => (await (await branch.control()).stats()).connectionsCurrent === 0, 10_000)).toBe(true);
}, 30_000);

test("target killed mid-transfer: that connection fails promptly, the next goes to the backup", async () => {
  const warm = await curl([`http://${branchAddr}:8000/small`]);
  expect(sha256(warm.body)).toBe(sha256(small));
  expect((await (await target.control()).stats()).connectionsTotal).toBe(1);

  // A slow client keeps the transfer in flight (and exercises backpressure end to end).
  const slow = curl(["--limit-rate", "2M", `http://${branchAddr}:8000/big`], 120);
  await Bun.sleep(1500);
  // `show connections` while it runs: one optimized connection via the target, bytes moving.
  const live = await (await branch.control()).connections();
  expect(live).toHaveLength(1);
  expect(live[0]).toMatchObject({ side: "client", state: "optimized", peer: `${targetAddr}:7800`, serverAddr: `${httpAddr}:${http.port}` });
  expect(live[0]!.lanBytesOut).toBeGreaterThan(0);
  expect(live[0]!.wanBytesIn).toBeGreaterThan(0);
  const dcLive = await (await target.control()).connections();
  expect(dcLive).toHaveLength(1);
  expect(dcLive[0]).toMatchObject({ side: "server", state: "optimized" });
  target.proc.kill("SIGKILL");
  const cut = await slow;
  expect(cut.exitCode).not.toBe(0);            // reset, reported by curl; never a hang to max-time
  expect(cut.exitCode).not.toBe(28);
  expect(cut.body.length).toBeLessThan(big.length);

  const after = await curl([`http://${branchAddr}:8000/big`]);
  expect(after.exitCode).toBe(0);
  expect(sha256(after.body)).toBe(sha256(big));
  const backupStats = await (await backup.control()).stats();
  expect(backupStats.connectionsTotal).toBe(1);
  const branchStats = await (await branch.control()).stats();
  expect(branchStats.connectionsPassThrough).toBe(1);   // only the rule-8001 one
  const events = await (await branch.control()).events(0, 1000);
  expect(events.some((e) => e.alarm === "target_unreachable" && e.message.includes(`${targetAddr}:7800`))).toBe(true);
}, 90_000);

test("target and backup both gone: connections pass through instead of being refused", async () => {
  await backup.stop("SIGKILL");
  const r = await curl([`http://${branchAddr}:8000/small`]);
  expect(r.exitCode).toBe(0);
  expect(sha256(r.body)).toBe(sha256(small));
  const stats = await (await branch.control()).stats();
  expect(stats.connectionsPassThrough).toBe(2);
  const connections = await (await branch.control()).connections();
  expect(connections.every((c) => c.state !== "connecting")).toBe(true);
}, 30_000);
