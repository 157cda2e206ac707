// The failover scenario of the product's promise, on real processes: a branch
// appliance whose in-path rule targets a data-centre master with the data-centre
// backup as backup target, master and backup synchronizing their data stores, a real
// HTTP file server behind the data centre and curl as the client. Used by the
// failover test (assertions) and tests/bench/failover.ts (figures).
//
//   curl -> branch 127.0.10.1 ==WAN==> master 127.0.10.2 | backup 127.0.10.3 -> files 127.0.10.100
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent, waitFor, repoRoot, type Agent } from "./agents.ts";

export const branchAddr = "127.0.10.1";
export const masterAddr = "127.0.10.2";
export const backupAddr = "127.0.10.3";
export const fileServerAddr = "127.0.10.100";
const fileServerPort = 18100;
const ruleListenPort = 18000;
/** How long the pair may take to report in sync after traffic stops. */
export const inSyncTimeoutMs = 120_000;
/** One transfer through the appliances may take at most this long. */
export const transferTimeoutMs = 120_000;

export interface Transfer {
  bytes: number;
  wanBytes: number;            // WAN bytes counted by the branch during the transfer
  firstByteMs: number;         // from the start of the request to its first body byte
  intact: boolean;             // sha256 of what arrived equals the file's
}

export interface Lab {
  dir: string;
  branch: Agent;
  master: Agent | null;
  backup: Agent;
  files: Map<string, Uint8Array>;
  fetchThroughBranch(name: string): Promise<Transfer>;
  branchWanBytes(): Promise<number>;
  waitInSync(agent: Agent): Promise<boolean>;
  killMaster(): Promise<void>;
  restartMaster(): Promise<Agent>;
  digest(agent: Agent): string;
  stop(): Promise<void>;
}

function sha256(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

export function dataCentreConfig(address: string, peer: string, master: boolean, syncEnabled: boolean, extra: string[] = []): string[] {
  return [
    `hostname dc-${master ? "master" : "backup"}`,
    `interface primary address ${address}`,
    `interface aux address ${address}`,
    `interface inpath address ${address}`,
    "web port 18080",
    "datastore capacity-mb 2048",
    ...(syncEnabled ? ["datastore sync enable"] : []),
    ...(master ? ["datastore sync master"] : []),
    `datastore sync peer-ip ${peer}`,
    "datastore sync secret failover-lab-secret",
    "datastore sync reconnect 1",
    ...extra,
  ];
}

export function branchConfig(): string[] {
  return [
    "hostname branch",
    `interface primary address ${branchAddr}`,
    `interface inpath address ${branchAddr}`,
    "web port 18080",
    "datastore capacity-mb 2048",
    `in-path rule fixed-target listen-port ${ruleListenPort} dstaddr ${fileServerAddr} dstport ${fileServerPort} target-addr ${masterAddr} target-port 7800 backup-addr ${backupAddr} backup-port 7800`,
  ];
}

export async function startLab(options: { syncEnabled: boolean; files: Map<string, Uint8Array>; dir?: string; dataCentreExtra?: string[] }): Promise<Lab> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "tandem-failover-"));
  const server = Bun.serve({
    hostname: fileServerAddr, port: fileServerPort,
    fetch(request) {
      const name = new URL(request.url).pathname.slice(1);
      const body = options.files.get(name);
      return body ? new Response(body as Uint8Array<ArrayBuffer>) : new Response("not found", { status: 404 });
    },
  });
  const startMaster = () => startAgent({ name: "master", dir: join(dir, "master"), configLines: dataCentreConfig(masterAddr, backupAddr, true, options.syncEnabled, options.dataCentreExtra) });
  const agents = {
    master: await startMaster() as Agent | null,
    backup: await startAgent({ name: "backup", dir: join(dir, "backup"), configLines: dataCentreConfig(backupAddr, masterAddr, false, options.syncEnabled, options.dataCentreExtra) }),
    branch: await startAgent({ name: "branch", dir: join(dir, "branch"), configLines: branchConfig() }),
  };

  const branchWanBytes = async () => {
    const stats = await (await agents.branch.control()).stats();
    return stats.wanBytesIn + stats.wanBytesOut;
  };

  const lab: Lab = {
    dir, files: options.files,
    get branch() { return agents.branch; },
    get master() { return agents.master; },
    get backup() { return agents.backup; },
    branchWanBytes,
    async fetchThroughBranch(name) {
      const expected = options.files.get(name)!;
      const outPath = join(dir, `fetched-${name}-${Date.now()}`);
      const wanBefore = await branchWanBytes();
      const curl = Bun.spawn(["curl", "-s", "-S", "--max-time", String(transferTimeoutMs / 1000), "-o", outPath,
        "-w", "%{time_starttransfer}", `http://${branchAddr}:${ruleListenPort}/${name}`], { stdout: "pipe", stderr: "pipe" });
      const [timing, errors, code] = await Promise.all([new Response(curl.stdout).text(), new Response(curl.stderr).text(), curl.exited]);
      if (code !== 0) throw new Error(`curl exited ${code}: ${errors}`);
      const got = new Uint8Array(await Bun.file(outPath).arrayBuffer());
      rmSync(outPath, { force: true });
      // The branch counts WAN bytes as they pass; let the counters settle after the close.
      await Bun.sleep(200);
      return { bytes: got.length, wanBytes: (await branchWanBytes()) - wanBefore, firstByteMs: Number(timing) * 1000, intact: sha256(got) === sha256(expected) };
    },
    async waitInSync(agent) {
      const control = await agent.control();
      return await waitFor(async () => {
        const status = await control.syncStatus();
        return status.state === "in-sync" && status.lagSegments === 0;
      }, inSyncTimeoutMs, 200);
    },
    async killMaster() {
      await agents.master?.stop("SIGKILL");
      agents.master = null;
    },
    async restartMaster() {
      agents.master = await startMaster();
      return agents.master;
    },
    digest(agent) {
      const run = Bun.spawnSync([process.execPath, join(repoRoot, "agent", "main.ts"), "store", "digest", "--data", agent.dataDir], { stdout: "pipe", stderr: "pipe" });
      if (run.exitCode !== 0) throw new Error(`store digest failed: ${run.stderr.toString()}`);
      return run.stdout.toString().trim();
    },
    async stop() {
      for (const agent of [agents.branch, agents.master, agents.backup]) await agent?.stop("SIGKILL").catch(() => {});
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

/** Writes a small file the way an operator would look at it, for debugging a failed run. */
export function dumpLogs(lab: Lab, path: string): void {
  writeFileSync(path, [lab.branch, lab.master, lab.backup].filter(Boolean).map((a) => `== ${a!.spec.name}\n${a!.output()}`).join("\n"));
}
