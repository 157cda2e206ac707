// `npm run lab`: a one-command lab on loopback addresses. A branch appliance, a
// data-centre master and a data-centre backup (synced), the WAN emulator between branch
// and data centre, a file server behind the data centre and a traffic generator at the
// branch. Prints the three UI URLs with their first-login links, then live savings and
// sync state; Ctrl-C stops everything and removes the lab's data.
//
//   traffic -> branch 127.0.11.1 ==wanem 127.0.11.12/.13==> master .2 / backup .3 -> files .100
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent, type Agent } from "../helpers/agents.ts";
import { startWanEm, type WanEm } from "./wanem.ts";
import { packageTar } from "../bench/corpus.ts";

const net = "127.0.11";
const wan = { bandwidthBps: 20_000_000, delayMs: 20 };
/** Pause of the traffic generator between two fetches. */
const trafficPauseMs = 3_000;
const statusIntervalMs = 2_000;

const dir = mkdtempSync(join(tmpdir(), "tandem-lab-"));
const files = new Map<string, Uint8Array>([
  ["typescript-5.6.3.tar", readFileSync(packageTar("typescript", "5.6.3"))],
  ["typescript-5.7.2.tar", readFileSync(packageTar("typescript", "5.7.2"))],
]);
const fileServer = Bun.serve({
  hostname: `${net}.100`, port: 8000,
  fetch(request) {
    const body = files.get(new URL(request.url).pathname.slice(1));
    return body ? new Response(body as Uint8Array<ArrayBuffer>) : new Response("not found", { status: 404 });
  },
});

const wanEms: WanEm[] = [];
for (const [listen, target] of [[12, 2], [13, 3]] as const) {
  wanEms.push(await startWanEm({ listenHost: `${net}.${listen}`, listenPort: 7800, targetHost: `${net}.${target}`, targetPort: 7800, ...wan }));
}

function dcConfig(self: number, peer: number, master: boolean): string[] {
  return [
    `hostname dc-${master ? "master" : "backup"}`,
    `interface primary address ${net}.${self}`, `interface aux address ${net}.${self}`, `interface inpath address ${net}.${self}`,
    "datastore sync enable", ...(master ? ["datastore sync master"] : []),
    `datastore sync peer-ip ${net}.${peer}`, "datastore sync secret tandem-lab",
  ];
}

const agents: Agent[] = [];
async function stopAll(): Promise<void> {
  for (const agent of agents) await agent.stop().catch(() => {});
  for (const em of wanEms) await em.stop().catch(() => {});
  fileServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
}
let running = true;
process.on("SIGINT", () => {
  running = false;
  console.log("\nstopping the lab...");
  void stopAll().then(() => process.exit(0));
});

agents.push(await startAgent({ name: "dc-master", dir: join(dir, "master"), configLines: dcConfig(2, 3, true) }));
agents.push(await startAgent({ name: "dc-backup", dir: join(dir, "backup"), configLines: dcConfig(3, 2, false) }));
agents.push(await startAgent({
  name: "branch", dir: join(dir, "branch"), configLines: [
    "hostname branch", `interface primary address ${net}.1`, `interface inpath address ${net}.1`,
    `in-path rule fixed-target listen-port 8000 dstaddr ${net}.100 dstport 8000 target-addr ${net}.12 target-port 7800 backup-addr ${net}.13 backup-port 7800`,
  ],
}));
const [master, backup, branch] = agents as [Agent, Agent, Agent];

console.log(`Tandem lab (data in ${dir}); WAN: ${wan.bandwidthBps / 1e6} Mbit/s, ${wan.delayMs * 2} ms RTT`);
for (const agent of [branch, master, backup]) {
  const firstBoot = agent.output().match(/(http\S+first-boot\?token=\S+)/)?.[1];
  console.log(`  ${agent.spec.name.padEnd(10)} ${agent.web}   first login: ${firstBoot ?? "open the URL from this machine and set a password"}`);
  console.log(`  ${"".padEnd(10)} console: npx tandem console --connect ${agent.controlSocket}`);
}
console.log(`Traffic: the branch fetches http://${net}.1:8000/<file> in a loop. Ctrl-C stops the lab.\n`);

void (async () => {
  const names = [...files.keys()];
  for (let i = 0; running; i++) {
    const name = names[i % names.length]!;
    try {
      const response = await fetch(`http://${net}.1:8000/${name}`);
      await response.arrayBuffer();
    } catch (err) {
      console.log(`traffic: ${name} failed: ${(err as Error).message}`);
    }
    await Bun.sleep(trafficPauseMs);
  }
})();

const mb = (n: number) => (n / 1e6).toFixed(1);
while (running) {
  await Bun.sleep(statusIntervalMs);
  try {
    const stats = await (await branch.control()).stats();
    const sync = await (await backup.control()).syncStatus();
    console.log(`branch LAN ${mb(stats.lanBytesIn + stats.lanBytesOut)} MB  WAN ${mb(stats.wanBytesIn + stats.wanBytesOut)} MB  ` +
      `reduction ${stats.reduction.toFixed(1)}x  conns ${stats.connectionsCurrent} | backup sync ${sync.state}` +
      `${sync.initialSync ? ` ${sync.initialSync.percent.toFixed(0)}%` : ""} lag ${sync.lagSegments} seg`);
  } catch (err) {
    console.log(`status: ${(err as Error).message}`);
  }
}
