// Real appliance processes for multi-appliance tests, the failover benchmark and the
// lab: writes a startup config in the console grammar, runs `tandem start` (from the
// checkout or from an extracted image), waits for its ready line, and talks to it
// through the real control socket.
import type { Subprocess } from "bun";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectControl, type RemoteControl } from "../../agent/control/client.ts";

export const repoRoot = join(import.meta.dir, "..", "..");
/** How long an agent may take to print its ready line. */
export const agentReadyTimeoutMs = 30_000;
const readyPattern = /tandem: ready web=(\S+) control=(\S+)\n/;

export interface AgentSpec {
  name: string;
  dir: string;                 // holds tandem.conf and data/
  configLines: string[];
  extraArgs?: string[];
  /** The command that runs `tandem`; default: this checkout's agent under its Bun. */
  command?: string[];
  env?: Record<string, string>;
}

export interface Agent {
  spec: AgentSpec;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  web: string;
  controlSocket: string;
  dataDir: string;
  configPath: string;
  output(): string;
  control(): Promise<RemoteControl>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

async function drain(stream: ReadableStream<Uint8Array>, sink: { text: string }, onText: () => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.text += decoder.decode(chunk, { stream: true });
    if (sink.text.length > 1_000_000) sink.text = sink.text.slice(-500_000);
    onText();
  }
}

export async function startAgent(spec: AgentSpec): Promise<Agent> {
  mkdirSync(spec.dir, { recursive: true });
  const configPath = join(spec.dir, "tandem.conf");
  const dataDir = join(spec.dir, "data");
  writeFileSync(configPath, spec.configLines.join("\n") + "\n");
  const command = spec.command ?? [process.execPath, join(repoRoot, "agent", "main.ts")];
  const proc = Bun.spawn([...command, "start", "--config", configPath, "--data", dataDir, ...(spec.extraArgs ?? [])], {
    cwd: spec.dir, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: spec.env ?? process.env,
  });
  const log = { text: "" };
  const ready = await new Promise<RegExpMatchArray | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), agentReadyTimeoutMs);
    const check = () => {
      const match = log.text.match(readyPattern);
      if (match) { clearTimeout(timer); resolve(match); }
    };
    void drain(proc.stdout, log, check).then(() => { clearTimeout(timer); resolve(log.text.match(readyPattern)); });
    void drain(proc.stderr, log, () => {});
  });
  if (!ready) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw new Error(`${spec.name} did not become ready (exit ${proc.exitCode}):\n${log.text}`);
  }
  let remote: RemoteControl | null = null;
  return {
    spec, proc, web: ready[1]!, controlSocket: ready[2]!, dataDir, configPath,
    output: () => log.text,
    control: async () => (remote ??= await connectControl(ready[2]!)),
    stop: async (signal = "SIGTERM") => {
      remote?.close();
      remote = null;
      proc.kill(signal);
      return await proc.exited;
    },
  };
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function waitFor<T>(probe: () => Promise<T> | T, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!value && Date.now() < deadline) {
    await Bun.sleep(intervalMs);
    value = await probe();
  }
  return value;
}
