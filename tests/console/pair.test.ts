// Configuring a master/backup pair from the console alone: two real appliances, the
// master's store seeded with real segments (`tandem encode`), every sync setting typed
// into each appliance's console, until the backup's `show datastore sync` says
// "in sync" and both stores hold the same segments under the master's identity.
// Addresses: 127.0.4.30 (master), 127.0.4.31 (backup).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bun, consoleCommand, repoRoot, run, startAppliance, Tmux, type RunningAppliance } from "./harness.ts";

/** How long the pair may take to reach "in sync" (a few MB on loopback). */
const inSyncTimeoutMs = 60_000;

const root = mkdtempSync(join(tmpdir(), "tandem-pair-"));
const running: RunningAppliance[] = [];
const terminals: Tmux[] = [];
afterAll(async () => {
  for (const t of terminals) t.kill();
  for (const a of running) await a.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Deterministic incompressible bytes (xorshift32), so the segments are real and many. */
function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

async function appliance(name: string, addr: string): Promise<{ a: RunningAppliance; t: Tmux }> {
  const config = join(root, `${name}.conf`);
  writeFileSync(config, [`hostname ${name}`, `interface primary address ${addr}`, `interface aux address ${addr}`, `interface inpath address ${addr}`].join("\n") + "\n");
  const a = await startAppliance(["--config", config, "--data", join(root, name)]);
  running.push(a);
  const t = new Tmux(name);
  terminals.push(t);
  t.start(consoleCommand(["--connect", a.socket]));
  await t.waitFor(new RegExp(`${name} >$`));
  return { a, t };
}

async function configure(t: Tmux, lines: string[]): Promise<void> {
  await run(t, "enable");
  await run(t, "configure terminal");
  for (const line of lines) expect(await run(t, line)).not.toMatch(/^% (?!Note|Restart)/m);
  await run(t, "end");
  expect(await run(t, "write memory")).toMatch(/^Configuration saved to /);
}

describe("master/backup pair from the console", () => {
  test("configure both sides until the backup is in sync", async () => {
    // Seed the master's store with real segments before it starts.
    const input = pseudoRandomBytes(2 * 1024 * 1024, 0x4d2);
    const seed = Bun.spawn([bun, "agent/main.ts", "encode", "--data", join(root, "pm")], { cwd: repoRoot, stdin: "pipe", stdout: "ignore", stderr: "pipe" });
    seed.stdin.write(input);
    await seed.stdin.end();
    expect(await seed.exited).toBe(0);

    const m = await appliance("pm", "127.0.4.30");
    const b = await appliance("pb", "127.0.4.31");
    const segmentsOf = (text: string) => Number(text.match(/^Segments: +(\d+)$/m)?.[1]);
    const idOf = (text: string) => text.match(/^Store id: +(\S+)$/m)?.[1];

    await configure(m.t, ["datastore sync peer-ip 127.0.4.31", "datastore sync secret pair-secret-01", "datastore sync master", "datastore sync enable"]);
    await configure(b.t, ["datastore sync peer-ip 127.0.4.30", "datastore sync secret pair-secret-01", "no datastore sync master", "datastore sync enable"]);

    const deadline = Date.now() + inSyncTimeoutMs;
    let status = "";
    while (Date.now() < deadline) {
      status = await run(b.t, "show datastore sync");
      if (/^State: +in sync$/m.test(status)) break;
      await Bun.sleep(500);
    }
    expect(status).toMatch(/^State: +in sync$/m);
    expect(await run(b.t, "datastore sync watch")).toMatch(/ in sync, lag \d+ segments$/m);
    expect(status).toMatch(/^Role: +backup$/m);
    expect(await run(m.t, "show datastore sync")).toMatch(/^Role: +master$/m);
    const master = await run(m.t, "show datastore");
    const backup = await run(b.t, "show datastore");
    expect(segmentsOf(master)).toBeGreaterThan(0);
    expect(segmentsOf(backup)).toBe(segmentsOf(master));
    expect(idOf(backup)).toBe(idOf(master)!);
  }, inSyncTimeoutMs + 30_000);
});
