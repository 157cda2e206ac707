// The appliance process and its control sockets, as real processes: a bad startup
// config stops boot with file:line: reason; socket modes and the read/write split;
// configure is all or nothing over the socket; write memory goes to the startup
// config (--config, else <data dir>/tandem.conf); a second agent on the same data dir
// is refused; SIGTERM exits 0. Addresses: 127.0.4.20-29.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectControl } from "../../agent/control/client.ts";
import { TandemError } from "../../agent/errors.ts";
import { startAppliance, startExpectingFailure } from "../console/harness.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-appliance-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function conf(name: string, lines: string[]): string {
  const path = join(root, name);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

async function refusal(p: Promise<unknown>): Promise<TandemError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TandemError);
    return err as TandemError;
  }
  throw new Error("accepted");
}

describe("tandem start", () => {
  test("a bad startup-config line stops boot with file:line: reason", async () => {
    const path = conf("bad.conf", ["hostname b1", "interface primary address 127.0.4.20", "datastore sync port 99999"]);
    const r = await startExpectingFailure(["--config", path, "--data", join(root, "bad-data")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${path}:3: Invalid sync port '99999': must be an integer from 1 to 65535`);
    expect(r.stdout).not.toContain("tandem: ready");
    const deep = join(root, "d".repeat(120));
    const long = await startExpectingFailure(["--config", conf("long.conf", ["interface primary address 127.0.4.23", "interface inpath address 127.0.4.23"]), "--data", deep]);
    expect(long.code).not.toBe(0);
    expect(long.stderr).toContain("more than a Unix socket allows (107): use a shorter --data directory");
    const missing = await startExpectingFailure(["--config", join(root, "absent.conf"), "--data", join(root, "bad-data")]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("no such configuration file");
  }, 60_000);

  test("--model and --sw-version override what the appliance reports", async () => {
    const path = conf("model.conf", ["hostname m1", "interface primary address 127.0.4.22", "interface inpath address 127.0.4.22"]);
    const a = await startAppliance(["--config", path, "--data", join(root, "model-data"), "--model", "TDM-2000", "--sw-version", "0.2.0"]);
    try {
      const c = await connectControl(a.socket);
      const v = await c.version();
      expect([v.model, v.softwareVersion, v.hostname]).toEqual(["TDM-2000", "0.2.0", "m1"]);
      expect((await c.datastore()).identity.model).toBe("TDM-2000");
      c.close();
    } finally {
      expect(await a.stop()).toBe(0);
    }
  }, 60_000);

  test("control sockets: modes, read-only split, all-or-nothing configure, write memory, SIGTERM", async () => {
    const dataDir = join(root, "d1");
    // No --config: <data dir>/tandem.conf is the startup config (written here first so
    // that nothing listens outside this area's addresses).
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "tandem.conf"), "interface primary address 127.0.4.21\ninterface inpath address 127.0.4.21\n");
    const a = await startAppliance(["--data", dataDir]);
    try {
      const rw = join(dataDir, "control.sock");
      const ro = join(dataDir, "control-ro.sock");
      expect(a.socket).toBe(rw);
      expect(statSync(rw).mode & 0o777).toBe(0o600);
      expect(statSync(ro).mode & 0o777).toBe(0o666);

      const c = await connectControl(rw);
      expect(c.readOnly).toBe(false);
      expect((await c.config()).hostname).toBe("tandem");
      const before = await c.runningConfig();
      const bad = await refusal(c.configure(["hostname changed", "service port 123456"]));
      expect(bad.code).toBe("badConfig");
      expect(bad.message).toBe("line 2: Invalid service port '123456': must be an integer from 1 to 65535");
      expect(await c.runningConfig()).toBe(before);
      const unknown = await refusal(c.call("dropTables", []));
      expect(unknown.code).toBe("notFound");

      // The web UI moves only at restart (a change made from the UI must not cut it off).
      const oldWeb = (await c.services()).find((s) => s.name === "web")!.detail!;
      expect(oldWeb).toBe("http://127.0.4.21:8080");
      const web = await c.configure(["web port 8181"]);
      expect(web.restartRequired).toBe("web UI moves to 127.0.4.21:8181 after restart");
      expect((await fetch(oldWeb, { redirect: "manual" })).status).toBeGreaterThan(0);
      expect((await c.version()).restartRequired).toBe("web UI moves to 127.0.4.21:8181 after restart");
      await c.restart({ clean: false });
      expect((await c.version()).restartRequired).toBeNull();
      const newWeb = (await c.services()).find((s) => s.name === "web")!;
      expect(newWeb).toEqual({ name: "web", state: "running", detail: "http://127.0.4.21:8181" });
      expect((await fetch(newWeb.detail!, { redirect: "manual" })).status).toBeGreaterThan(0);
      await expect(fetch(oldWeb)).rejects.toThrow();
      await c.configure(["datastore sync secret pairing-secret-2", "service secret channel-secret-3", "hostname d1"]);

      const r = await connectControl(ro);
      expect(r.readOnly).toBe(true);
      expect((await r.version()).hostname).toBe("d1");
      expect((await r.config()).datastore.sync.secret).toBe("********");
      expect(await r.runningConfig()).toContain("datastore sync secret ********");
      // The inner-channel secret is a secret too: masked on the read-only socket and in the log.
      expect((await r.config()).serviceSecret).toBe("********");
      expect(await r.runningConfig()).toContain("service secret ********\n");
      expect(await r.runningConfig()).not.toContain("channel-secret-3");
      expect(await c.runningConfig()).toContain("service secret channel-secret-3\n");
      const denied = await refusal(r.configure(["hostname x"]));
      expect(denied.code).toBe("forbidden");
      expect((await r.services()).map((s) => s.name)).toEqual(["store", "sync", "optimization", "web"]);
      expect(await r.events(0, 1000)).toSatisfy((events) =>
        events.some((e) => e.subsystem === "config" && e.message.includes("hostname d1") && e.message.includes("service secret ********")));
      expect(JSON.stringify(await r.events(0, 1000))).not.toMatch(/pairing-secret-2|channel-secret-3/);

      const saved = await c.writeMemory();
      expect(saved.path).toBe(join(dataDir, "tandem.conf"));
      expect(statSync(saved.path).mode & 0o777).toBe(0o600);
      expect(readFileSync(saved.path, "utf8")).toContain("datastore sync secret pairing-secret-2\n");

      const second = await startExpectingFailure(["--data", dataDir]);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/in use|open for writing/i);
      expect((await c.version()).hostname).toBe("d1");
      c.close();
      r.close();
    } finally {
      expect(await a.stop()).toBe(0);
    }
    expect(existsSync(join(dataDir, "control.sock"))).toBe(false);

    // Without --config the saved <data dir>/tandem.conf boots the same state.
    const again = await startAppliance(["--data", dataDir]);
    try {
      const c = await connectControl(again.socket);
      expect((await c.config()).hostname).toBe("d1");
      expect((await c.config()).webPort).toBe(8181);
      c.close();
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 60_000);
});
