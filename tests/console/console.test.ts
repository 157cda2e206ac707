// `tandem console` through a real pseudo-terminal (tmux) against a real running
// `tandem start` process: modes, `?`, TAB, abbreviations, caret errors, `no` forms,
// refusal of bad values (nothing changes), line editing, the read-only socket,
// restart clean with confirmation, and the running-config round trip through
// `write memory` and a process restart. Addresses: 127.0.4.10-19.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createConnection } from "node:net";
import { join } from "node:path";
import { connectControl } from "../../agent/control/client.ts";
import { bun, consoleCommand, newPrompt, repoRoot, run, startAppliance, Tmux, type RunningAppliance } from "./harness.ts";

const root = mkdtempSync(join(tmpdir(), "tandem-console-"));
const addr = "127.0.4.10";
const configFile = join(root, "t1.conf");
const dataDir = join(root, "data");
let appliance: RunningAppliance;
const terminals: Tmux[] = [];

/** True if a TCP connection to addr:port is accepted. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

function terminal(name: string, args: string[] = ["--data", dataDir], env: Record<string, string> = {}): Tmux {
  const t = new Tmux(name);
  terminals.push(t);
  t.start(consoleCommand(args), env);
  return t;
}

beforeAll(async () => {
  writeFileSync(configFile, [
    "# console test appliance",
    "hostname t1",
    `interface primary address ${addr}`,
    `interface inpath address ${addr}`,
    "",
  ].join("\n"));
  appliance = await startAppliance(["--config", configFile, "--data", dataDir]);
});

afterAll(async () => {
  for (const t of terminals) t.kill();
  await appliance?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("console on a pseudo-terminal", () => {
  test("modes: user, enable, configure, and back", async () => {
    const t = terminal("modes");
    await t.waitFor(/t1 >$/);
    expect(t.screen()).toContain("Tandem TDM-1000");
    expect(await run(t, "configure terminal")).toBe("% Privileged command: use 'enable' first");
    expect(await run(t, "show running-config")).toBe("% Privileged command: use 'enable' first");
    await run(t, "enable");
    expect(t.currentLine()).toBe("t1 #");
    expect(await run(t, "hostname other")).toBe("% Configuration command: use 'configure terminal' first");
    expect(await run(t, "configure terminal")).toContain("Enter configuration commands");
    expect(t.currentLine()).toBe("t1 (config) #");
    await run(t, "exit");
    expect(t.currentLine()).toBe("t1 #");
    await run(t, "conf t");
    await run(t, "end");
    expect(t.currentLine()).toBe("t1 #");
    await run(t, "disable");
    expect(t.currentLine()).toBe("t1 >");
    const m = t.mark();
    t.line("exit");
    await t.waitFor("[exited 0]", m);
  }, 30_000);

  test("? lists what may come next, also after a partial word", async () => {
    const t = terminal("help");
    await t.waitFor(/t1 >$/);
    let m = t.mark();
    t.type("?");
    let out = await t.waitFor(/t1 >$/, m + 1);
    for (const word of ["show", "enable", "exit"]) expect(out).toMatch(new RegExp(`^  ${word} +\\S`, "m"));
    expect(out).not.toContain("configure");
    m = t.mark();
    t.type("show d?");
    out = await t.waitFor(/t1 > show d$/, m + 1);
    expect(out).toMatch(/^  datastore +Segment data store$/m);
    expect(out).not.toMatch(/^  version/m);
    t.keys("C-u");
    m = t.mark();
    t.type("show datastore ?");
    out = await t.waitFor(/t1 > show datastore $|t1 > show datastore$/, m + 1);
    expect(out).toMatch(/^  sync +Data store sync/m);
    expect(out).toMatch(/^  <cr>$/m);
    t.keys("C-u");
    await run(t, "enable");
    await run(t, "configure terminal");
    m = t.mark();
    t.type("web port ?");
    out = await t.waitFor(/t1 \(config\) # web port $|t1 \(config\) # web port$/, m + 1);
    expect(out).toMatch(/^  <1-65535> +Web port$/m);
    t.keys("C-u");
  }, 30_000);

  test("TAB completes unique prefixes and lists ambiguous ones", async () => {
    const t = terminal("tab");
    await t.waitFor(/t1 >$/);
    t.type("sh");
    t.keys("Tab");
    await t.waitFor(/t1 > show$/);
    t.type("datas");
    t.keys("Tab");
    await t.waitFor(/t1 > show datastore$/);
    t.type("sy");
    t.keys("Tab");
    await t.waitFor(/t1 > show datastore sync$/);
    const m = t.mark();
    t.keys("Enter");
    const out = await t.waitFor(newPrompt, m);
    expect(out).toMatch(/^State: +\S/m);
    await run(t, "enable");
    await run(t, "configure terminal");
    const m2 = t.mark();
    t.type("in");
    t.keys("Tab");
    const listed = await t.waitFor(/in-path  interface[\s\S]*t1 \(config\) # in$/, m2);
    expect(listed).toContain("in-path  interface");
    t.keys("C-u");
  }, 30_000);

  test("abbreviations: any unique prefix works", async () => {
    const t = terminal("abbrev");
    await t.waitFor(/t1 >$/);
    expect(await run(t, "sh datas sy")).toMatch(/^Role: +backup$/m);
    expect(await run(t, "sh ver")).toMatch(/^Model: +TDM-1000$/m);
    expect(await run(t, "sh ver")).toMatch(/^Hostname: +t1$/m);
    // Without a running sync service the watch reports the state once and returns.
    expect(await run(t, "datas sy wat")).toMatch(/^Watching data store sync; press any key to stop.\n\d\d:\d\d:\d\d disabled, lag 0 segments/);
    await run(t, "en");
    await run(t, "conf t");
    await run(t, "datas repl f");
    expect(await run(t, "sh run")).toContain("datastore replacement-policy fifo");
    await run(t, "no datas repl");
    expect(await run(t, "sh run")).toContain("datastore replacement-policy lru");
  }, 30_000);

  test("errors draw a caret under the offending word", async () => {
    const t = terminal("caret");
    await t.waitFor(/t1 >$/);
    let out = await run(t, "show bogus");
    let lines = out.split("\n");
    expect(lines[lines.length - 1]).toMatch(/^% Unrecognized command/);
    expect(lines[lines.length - 2]).toBe(" ".repeat("t1 > show ".length) + "^");
    await run(t, "enable");
    await run(t, "configure terminal");
    out = await run(t, "in 1");
    lines = out.split("\n");
    expect(lines[lines.length - 1]).toBe("% Ambiguous command: 'in' could be in-path, interface");
    expect(lines[lines.length - 2]).toBe(" ".repeat("t1 (config) # ".length) + "^");
    out = await run(t, "datastore sync peer-ip");
    lines = out.split("\n");
    expect(lines[lines.length - 1]).toBe("% Incomplete command");
    expect(lines[lines.length - 2]).toBe(" ".repeat("t1 (config) # datastore sync peer-ip".length) + "^");
    out = await run(t, "s 1");
    expect(out).toContain("% Ambiguous command: 's' could be service, show");
  }, 30_000);

  test("bad values are refused and change nothing; no forms undo", async () => {
    const control = await connectControl(appliance.socket);
    const before = await control.runningConfig();
    const t = terminal("refuse");
    await t.waitFor(/t1 >$/);
    await run(t, "enable");
    await run(t, "configure terminal");
    const bad: [string, RegExp, number][] = [
      ["web port 70000", /^% Invalid web port '70000': must be an integer from 1 to 65535$/m, "web port ".length],
      ["interface aux address 10.0.0.300", /^% Invalid interface address '10.0.0.300'/m, "interface aux address ".length],
      ["datastore sync secret short", /^% Invalid secret: must be 8 to 128 characters long/m, "datastore sync secret ".length],
      ["hostname bad_name", /^% Invalid hostname 'bad_name'/m, "hostname ".length],
      ["datastore sync peer-ip 0.0.0.0", /must be a unicast address/m, "datastore sync peer-ip ".length],
    ];
    for (const [line, message, column] of bad) {
      const out = await run(t, line);
      expect(out).toMatch(message);
      expect(out.split("\n")).toContain(" ".repeat("t1 (config) # ".length + column) + "^");
    }
    expect(await run(t, "web port 7800")).toMatch(/^% Port conflict: service port and web port both listen on 127.0.4.10:7800$/m);
    expect(await run(t, "no in-path rule fixed-target listen-port 9999")).toContain("% No in-path rule with listen-port 9999");
    expect(await control.runningConfig()).toBe(before);

    await run(t, "datastore sync peer-ip 127.0.4.99");
    await run(t, "in-path rule fixed-target listen-port 9001 dstaddr 127.0.4.98 dstport 80 target-addr 127.0.4.97");
    let running = await run(t, "show running-config");
    expect(running).toContain("datastore sync peer-ip 127.0.4.99");
    expect(running).toContain("in-path rule fixed-target listen-port 9001 dstaddr 127.0.4.98 dstport 80 target-addr 127.0.4.97");
    // Applied live: the optimization service listens on the rule's port at once...
    expect(await canConnect(addr, 9001)).toBe(true);
    await run(t, "no datastore sync peer-ip");
    await run(t, "no in-path rule fixed-target listen-port 9001");
    running = await run(t, "show running-config");
    expect(running).not.toContain("peer-ip");
    expect(running).not.toContain("in-path rule");
    // ...and stops listening when the rule is removed.
    expect(await canConnect(addr, 9001)).toBe(false);
    expect(await control.runningConfig()).toBe(before);
    control.close();
  }, 30_000);

  test("line editing: backspace, ctrl-U, ctrl-C, history", async () => {
    const t = terminal("edit");
    await t.waitFor(/t1 >$/);
    t.type("show verx");
    t.keys("BSpace");
    t.type("sion");
    await t.waitFor(/t1 > show version$/);
    let m = t.mark();
    t.keys("Enter");
    await t.waitFor(/Model: +TDM-1000[\s\S]*\nt1 >$/, m);
    t.type("garbage words");
    t.keys("C-u");
    await t.waitFor(/\nt1 >$/);
    t.type("more garbage");
    m = t.mark();
    t.keys("C-c");
    await t.waitFor(/\^C\nt1 >$/, m);
    t.keys("Up");
    await t.waitFor(/t1 > show version$/);
    t.keys("C-u");
  }, 30_000);

  test("dumb terminal: plain lines, `?` at the end of a line asks for help", async () => {
    const t = terminal("dumb", ["--data", dataDir], { TERM: "dumb" });
    await t.waitFor(/t1 >$/);
    const out = await run(t, "show ?");
    expect(out).toMatch(/^  version +Model, software version/m);
    expect(await run(t, "sh ver")).toMatch(/^Model: +TDM-1000$/m);
    expect(t.screen()).not.toContain("\x1b");
  }, 30_000);

  test("read-only socket: show works, enable is refused", async () => {
    const t = terminal("ro", ["--connect", join(dataDir, "control-ro.sock")]);
    await t.waitFor(/t1 >$/);
    expect(t.screen()).toContain("(read-only control socket)");
    expect(await run(t, "show version")).toMatch(/^Model: +TDM-1000$/m);
    expect(await run(t, "enable")).toContain("% Read-only control socket: enable is not allowed");
  }, 30_000);

  test("--tty DEVICE: the console runs on a serial-like device, not on stdin", async () => {
    const t = new Tmux("tty");
    terminals.push(t);
    t.start(["sleep", "600"]);
    const device = t.paneTty();
    const proc = Bun.spawn([bun, "agent/main.ts", "console", "--data", dataDir, "--tty", device], {
      cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    try {
      await t.waitFor(/t1 >$/);
      t.type("sh ver");
      t.keys("Enter");
      await t.waitFor(/Model: +TDM-1000[\s\S]*\nt1 >$/);
      t.line("exit");
      expect(await proc.exited).toBe(0);
      expect(await new Response(proc.stdout).text()).toBe("");
    } finally {
      proc.kill();
    }
  }, 30_000);

  test("restart clean asks first, shows progress and gives the store a new identity", async () => {
    const t = terminal("restart");
    await t.waitFor(/t1 >$/);
    await run(t, "enable");
    const idOf = (text: string) => text.match(/^Store id: +(\S+)$/m)?.[1];
    const before = idOf(await run(t, "show datastore"));
    expect(before).toBeTruthy();
    await run(t, "configure terminal");
    expect(await run(t, "web port 8090")).toBe("% Restart required: web UI moves to 127.0.4.10:8090 after restart");
    await run(t, "end");
    expect(await run(t, "show version")).toMatch(/^Restart required: +web UI moves to 127.0.4.10:8090 after restart$/m);
    let m = t.mark();
    t.line("restart clean");
    await t.waitFor("new identity? [y/N]", m);
    t.line("n");
    await t.waitFor(/% Cancelled\nt1 #$/, m);
    expect(idOf(await run(t, "show datastore"))).toBe(before!);
    m = t.mark();
    t.line("restart clean");
    await t.waitFor("new identity? [y/N]", m);
    t.line("y");
    const out = await t.waitFor(/Restart complete\.\nt1 #$/, m);
    expect(out).toContain("clearing the data store");
    expect(out).toContain("data store cleared; new store id");
    const after = idOf(await run(t, "show datastore"));
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
    expect(await run(t, "show version")).not.toContain("Restart required");
    expect(await run(t, "show version")).toMatch(/^  web +running +http:\/\/127.0.4.10:8090$/m);
    expect(await run(t, "show log")).toContain("restart complete");
  }, 30_000);
});

describe("startup configuration", () => {
  test("show running-config survives write memory and a process restart", async () => {
    const t = terminal("roundtrip");
    await t.waitFor(/t1 >$/);
    await run(t, "enable");
    await run(t, "configure terminal");
    for (const line of [
      "hostname t1-saved",
      "datastore capacity-mb 64",
      "datastore sync secret pairing-secret-1",
      "datastore sync peer-ip 127.0.4.11",
      "datastore sync master",
      "datastore sync check-interval 30",
      "in-path rule fixed-target listen-port 9002 dstaddr 127.0.4.12 dstport 80 target-addr 127.0.4.13 backup-addr 127.0.4.14",
    ]) {
      const out = await run(t, line);
      expect(out).not.toMatch(/^% (?!Note)/m);
    }
    expect(t.currentLine()).toBe("t1-saved (config) #");
    await run(t, "end");
    const saved = await run(t, "show running-config");
    expect(await run(t, "write memory")).toBe(`Configuration saved to ${configFile}`);
    expect(readFileSync(configFile, "utf8")).toContain(saved.trim());
    const m = t.mark();
    expect(await appliance.stop()).toBe(0);
    await t.waitFor("% Connection to the appliance closed", m);

    appliance = await startAppliance(["--config", configFile, "--data", dataDir]);
    const t2 = terminal("roundtrip2");
    await t2.waitFor(/t1-saved >$/);
    await run(t2, "enable");
    expect(await run(t2, "show running-config")).toBe(saved);
  }, 30_000);
});
