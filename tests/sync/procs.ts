// Spawns tests/sync/harness.ts as real processes and talks to them line by line; plus
// the offline checks every process test ends with (`tandem store digest|verify`, run as
// real commands against the data directories).
import type { Subprocess } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const repoRoot = join(import.meta.dir, "..", "..");
const harness = join(import.meta.dir, "harness.ts");
/** How long a harness may take to start, and one command to answer. */
export const readyTimeoutMs = 30_000;
export const commandTimeoutMs = 60_000;

export interface NodeSpec {
  name: string;
  dir: string;
  addr: string;
  role: "master" | "backup";
  peer?: string;
  port: number;
  extra?: string[];
}

export interface SyncNode {
  spec: NodeSpec;
  proc: Subprocess<"pipe", "pipe", "pipe">;
  cmd<T = any>(c: Record<string, unknown>): Promise<T>;
  status(): Promise<any>;
  log(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  alive(): boolean;
}

export async function startNode(spec: NodeSpec): Promise<SyncNode> {
  mkdirSync(spec.dir, { recursive: true });
  const args = [
    process.execPath, ...(process.env.SYNC_HARNESS_PROF ? ["--cpu-prof", "--cpu-prof-dir", join(process.env.SYNC_HARNESS_PROF, spec.name)] : []),
    harness, "--data", spec.dir, "--addr", spec.addr, "--role", spec.role, "--port", String(spec.port),
    "--name", spec.name, ...(spec.peer ? ["--peer", spec.peer] : []), ...(spec.extra ?? []),
  ];
  const proc = Bun.spawn(args, { cwd: repoRoot, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const waiting: Array<{ resolve: (v: any) => void; reject: (e: Error) => void }> = [];
  let stderr = "";
  const signal: { ready: () => void } = { ready: () => undefined };
  const readyP = new Promise<void>((r) => (signal.ready = r));
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("ready")) signal.ready();
        else if (line.startsWith("{")) waiting.shift()?.resolve(JSON.parse(line));
      }
    }
    for (const w of waiting.splice(0)) w.reject(new Error(`${spec.name} exited`));
  })();
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderr += dec.decode(chunk, { stream: true });
      if (stderr.length > 400_000) stderr = stderr.slice(-200_000);
    }
  })();
  const timer = setTimeout(() => proc.kill("SIGKILL"), readyTimeoutMs);
  await Promise.race([readyP, proc.exited]);
  clearTimeout(timer);
  if (proc.exitCode !== null) throw new Error(`${spec.name} did not start:\n${stderr}`);
  const node: SyncNode = {
    spec, proc,
    cmd: (c) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${spec.name}: ${JSON.stringify(c)} timed out`)), commandTimeoutMs);
      waiting.push({ resolve: (v) => (clearTimeout(t), resolve(v)), reject: (e) => (clearTimeout(t), reject(e)) });
      proc.stdin.write(JSON.stringify(c) + "\n");
      proc.stdin.flush();
    }),
    status: async () => (await node.cmd({ cmd: "status" })).status,
    log: () => stderr,
    kill: async (signal = "SIGKILL") => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      if (signal === "SIGKILL" || signal === "SIGTERM") await proc.exited;
    },
    alive: () => proc.exitCode === null && proc.signalCode === null,
  };
  return node;
}

async function tandem(args: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([process.execPath, join(repoRoot, "agent", "main.ts"), ...args], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  const err = await new Response(p.stderr).text();
  return { code: await p.exited, out: out + err };
}

/** `tandem store digest` line of a data directory. */
export async function digest(dir: string): Promise<string> {
  const r = await tandem(["store", "digest", "--data", dir]);
  if (r.code !== 0) throw new Error(`digest failed: ${r.out}`);
  return r.out.trim();
}

/** `tandem store verify`: exit code and output. */
export async function verify(dir: string): Promise<{ code: number; out: string }> {
  return tandem(["store", "verify", "--data", dir]);
}

export async function waitUntil<T>(probe: () => Promise<T>, timeoutMs: number, what: string, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}
