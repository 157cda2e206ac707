// What a real appliance says when part of it cannot work, as the administrator reads
// it through `tandem console` (piped) and the control API: an in-path address that is
// not configured here (192.0.2.1, TEST-NET-1: binding fails with EADDRNOTAVAIL, nothing
// is sent) shows the optimization service degraded, with why, in `show version`, as
// an alarm in `show log` and in /metrics, and clears when the address is fixed; data
// store sync without a peer-ip says so, and sync mode with a peer that never connected
// says the peer is not connected (not "stalled"); a sync port held by another process
// shows sync degraded until it is freed. Addresses: 127.0.15.10-19.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectControl } from "../../agent/control/client.ts";
import { syncModeText, syncStateText, type SyncStatus } from "../../agent/services.ts";
import { bun, repoRoot, startAppliance, type RunningAppliance } from "./harness.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-health-"));
const addr = "127.0.15.10";
const silentPeer = "127.0.15.11";   // nothing listens there
const unconfigured = "192.0.2.1";
const configFile = join(root, "h.conf");
const dataDir = join(root, "data");
let appliance: RunningAppliance;

/** Runs console commands through a pipe (the console's plain line mode); returns its output. */
async function consoleOutput(lines: string[]): Promise<string> {
  const proc = Bun.spawn([bun, "agent/main.ts", "console", "--data", dataDir], {
    cwd: repoRoot, stdin: new TextEncoder().encode(lines.join("\n") + "\n"), stdout: "pipe", stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  clearTimeout(timer);
  return out;
}

beforeAll(async () => {
  writeFileSync(configFile, [
    "hostname h",
    `interface primary address ${addr}`,
    `interface inpath address ${unconfigured}`,
    "web port 18210",
    "service port 18200",
    "datastore capacity-mb 64",
    "datastore sync enable",
    `in-path rule fixed-target listen-port 18201 dstaddr ${silentPeer} dstport 9 target-addr ${silentPeer}`,
    "",
  ].join("\n"));
  appliance = await startAppliance(["--config", configFile, "--data", dataDir]);
});

afterAll(async () => {
  await appliance?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("the appliance says what does not work", () => {
  test("an in-path address that cannot be bound: degraded with why, an alarm, a metric; cleared when fixed", async () => {
    const version = await consoleOutput(["show version"]);
    expect(version).toContain(`optimization  degraded: inner channels cannot listen on ${unconfigured}:18200`);
    expect(version.replace(/\s+/g, " ")).toContain(`in-path rule 18201 cannot listen on ${unconfigured}:18201 (address not available)`);
    expect(version).not.toMatch(/optimization +running/);
    const log = (await consoleOutput(["show log"])).replace(/\n +/g, " ");
    expect(log).toContain("[rule_port_unavailable]");
    expect(log).toContain("[service_port_unavailable]");

    const control = await connectControl(join(dataDir, "control.sock"));
    try {
      const opt = (await control.services()).find((s) => s.name === "optimization")!;
      expect(opt.state).toBe("degraded");
      expect(opt.detail).toContain("(address not available)");
      expect(await control.metricsText()).toContain("tandem_optimize_listeners_failed 2");

      await control.configure([`interface inpath address ${addr}`]);
      const fixed = (await control.services()).find((s) => s.name === "optimization")!;
      expect(fixed).toEqual({ name: "optimization", state: "running", detail: null });
      expect(await control.metricsText()).toContain("tandem_optimize_listeners_failed 0");
    } finally {
      control.close();
    }
    expect(await consoleOutput(["show version"])).toMatch(/optimization +running/);
    expect(await consoleOutput(["show log"])).toContain("alarm rule_port_unavailable");
  }, 60_000);

  test("a sync port held by another process: sync degraded with why and an alarm; up and cleared once freed", async () => {
    const holder = Bun.listen({ hostname: addr, port: 18220, socket: { data() {} } });
    const control = await connectControl(join(dataDir, "control.sock"));
    try {
      await control.configure(["datastore sync reconnect 1", "datastore sync port 18220"]);
      const sync = (await control.services()).find((s) => s.name === "sync")!;
      expect(sync.state).toBe("degraded");
      expect(sync.detail).toContain(`data store sync cannot listen on ${addr}:18220 (address already in use)`);
      expect(await consoleOutput(["show version"])).toMatch(/sync +degraded: data store sync cannot listen/);
      expect(await consoleOutput(["show log"])).toContain("[sync_port_unavailable]");
      holder.stop(true);
      const deadline = Date.now() + 15_000;
      while ((await control.services()).find((s) => s.name === "sync")!.state !== "running" && Date.now() < deadline) await Bun.sleep(100);
      expect((await control.services()).find((s) => s.name === "sync")).toEqual({ name: "sync", state: "running", detail: null });
      expect(await consoleOutput(["show log"])).toContain("alarm sync_port_unavailable cleared");
      await control.configure(["no datastore sync port", "no datastore sync reconnect"]);
    } finally {
      holder.stop(true);
      control.close();
    }
  }, 60_000);

  test("sync enabled without a peer-ip says so; sync mode with a peer never seen says it is not connected", async () => {
    const noPeer = await consoleOutput(["show datastore sync"]);
    expect(noPeer).toMatch(/^State: +disconnected: no peer-ip configured$/m);

    const configured = await consoleOutput([
      "enable", "configure terminal", `datastore sync peer-ip ${silentPeer}`, "datastore sync mode sync", "end", "show datastore sync",
    ]);
    expect(configured).toMatch(/^Mode: +sync \(running async: peer not connected\)$/m);
    expect(configured).not.toContain("stalled");
    expect(configured).toMatch(/^State: +connecting$/m);
  }, 60_000);
});

describe("sync status in words (console and UI share these)", () => {
  const base: SyncStatus = {
    state: "connecting", role: "backup", peer: null, mode: "sync", effectiveMode: "async", refusedReason: null,
    eligibleForTakeover: false, initialSync: null, lagSegments: 0, lagS: 0, sentSegments: 0, receivedSegments: 0,
    sentBytes: 0, receivedBytes: 0, lastCheck: null, restartRequired: null,
  };
  const at = (patch: Partial<SyncStatus>): SyncStatus => ({ ...base, ...patch });

  test("the state says why only when the status shows it", () => {
    expect(syncStateText(at({ state: "connecting" }))).toBe("disconnected: no peer-ip configured");
    expect(syncStateText(at({ state: "disconnected" }))).toBe("disconnected: no peer-ip configured");
    expect(syncStateText(at({ state: "connecting", peer: "127.0.15.11:7744" }))).toBe("connecting");
    expect(syncStateText(at({ state: "in-sync", peer: null }))).toBe("in sync");   // the peer dialed in
    expect(syncStateText(at({ state: "refused", peer: "127.0.15.11:7744", refusedReason: "two masters" }))).toBe("refused");
  });

  test("sync mode running async names the cause for each state", () => {
    expect(syncModeText(at({ state: "connecting", peer: "127.0.15.11:7744" }))).toBe("sync (running async: peer not connected)");
    expect(syncModeText(at({ state: "disconnected", peer: "127.0.15.11:7744" }))).toBe("sync (running async: peer not connected)");
    expect(syncModeText(at({ state: "refused", peer: "127.0.15.11:7744" }))).toBe("sync (running async: peer not connected)");
    expect(syncModeText(at({ state: "initial-sync" }))).toBe("sync (running async: initial sync in progress)");
    expect(syncModeText(at({ state: "behind" }))).toBe("sync (running async until the peer catches up)");
    expect(syncModeText(at({ state: "in-sync", effectiveMode: "sync" }))).toBe("sync");
    expect(syncModeText(at({ mode: "async", state: "in-sync" }))).toBe("async");
  });
});
