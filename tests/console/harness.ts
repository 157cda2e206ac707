// Test harness for console and appliance tests: starts real `tandem start` processes
// (own temp data dir, addresses in this area's block 127.0.4.0/24) and drives
// `tandem console` through a real pseudo-terminal with tmux (send-keys /
// capture-pane), each test on its own tmux server socket.
import type { Subprocess } from "bun";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const repoRoot = join(import.meta.dir, "..", "..");
export const bun = process.execPath;
/** How long a process may take to print its ready line. */
export const readyTimeoutMs = 30_000;
/** How long to wait for text to appear on the terminal. */
export const screenTimeoutMs = 15_000;
const pollMs = 50;

export interface RunningAppliance {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  dataDir: string;
  socket: string;
  web: string;
  stderr(): string;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number>;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }, onText?: () => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.text += decoder.decode(chunk, { stream: true });
    onText?.();
  }
}

/** Runs `tandem start` and waits for its ready line (or its exit). */
export async function startAppliance(args: string[]): Promise<RunningAppliance> {
  const proc = Bun.spawn([bun, "agent/main.ts", "start", ...args], { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = { text: "" };
  const err = { text: "" };
  void collect(proc.stderr, err);
  const ready = await new Promise<RegExpMatchArray | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), readyTimeoutMs);
    const check = () => {
      const m = out.text.match(/tandem: ready web=(\S+) control=(\S+)\n/);
      if (m) { clearTimeout(timer); resolve(m); }
    };
    void collect(proc.stdout, out, check).then(() => { clearTimeout(timer); resolve(out.text.match(/tandem: ready web=(\S+) control=(\S+)\n/)); });
  });
  if (!ready) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw new Error(`appliance did not become ready (exit ${proc.exitCode}): ${err.text}`);
  }
  const dataIdx = args.indexOf("--data");
  return {
    proc,
    dataDir: dataIdx >= 0 ? args[dataIdx + 1]! : "./data",
    socket: ready[2]!,
    web: ready[1]!,
    stderr: () => err.text,
    stop: async () => {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
  };
}

/** Runs `tandem start` expecting it to fail; returns exit code and stderr. */
export async function startExpectingFailure(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const proc = Bun.spawn([bun, "agent/main.ts", "start", ...args], { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), readyTimeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr, stdout };
}

/** One tmux server with one 80x40 window running a command in a real pseudo-terminal. */
export class Tmux {
  readonly socket: string;

  constructor(name: string) {
    this.socket = `tandem-h4-${process.pid}-${name}`;
  }

  private tmux(...args: string[]): string {
    const r = spawnSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  start(command: string[], env: Record<string, string> = {}): void {
    const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    const envs = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(" ");
    this.tmux("new-session", "-d", "-x", "80", "-y", "40", `cd '${repoRoot}' && ${envs ? `env ${envs} ` : ""}${quoted}; echo "[exited $?]"; sleep 600`);
  }

  /** Types text literally (no key names). */
  type(text: string): void {
    this.tmux("send-keys", "-l", "--", text);
  }

  /** Sends named keys: Enter, Tab, C-u, BSpace, Up... */
  keys(...names: string[]): void {
    this.tmux("send-keys", ...names);
  }

  /** Types a line and presses Enter. */
  line(text: string): void {
    this.type(text);
    this.keys("Enter");
  }

  /** Everything on the terminal since it started (scrollback included), trailing blanks trimmed. */
  screen(): string {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-").replace(/\s+$/, "");
  }

  /** Number of lines so far; pass it to `since` to see only what came after. */
  mark(): number {
    return this.screen().split("\n").length - 1;
  }

  since(mark: number): string {
    return this.screen().split("\n").slice(mark).join("\n");
  }

  /** Waits until `pattern` shows after `mark` (default: anywhere); returns that text. */
  async waitFor(pattern: RegExp | string, mark = 0, timeoutMs = screenTimeoutMs): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.since(mark);
      if (typeof pattern === "string" ? text.includes(pattern) : pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; screen:\n${text}`);
      await Bun.sleep(pollMs);
    }
  }

  /** The line the cursor is on (what is being typed after the prompt). */
  currentLine(): string {
    const lines = this.screen().split("\n");
    return lines[lines.length - 1] ?? "";
  }

  /** The pseudo-terminal device of the window (for `tandem console --tty`). */
  paneTty(): string {
    return this.tmux("display-message", "-p", "#{pane_tty}").trim();
  }

  kill(): void {
    spawnSync("tmux", ["-L", this.socket, "kill-server"]);
  }
}

/** A prompt at the very end of the screen, on a line after the one typed into. */
export const newPrompt = /\n[A-Za-z0-9-]+ (\(config\) )?[>#]$/;

/** Types a command, waits for the next prompt, returns the output lines in between. */
export async function run(t: Tmux, command: string): Promise<string> {
  const m = t.mark();
  t.line(command);
  const text = await t.waitFor(newPrompt, m);
  return text.split("\n").slice(1, -1).join("\n");
}

export function consoleCommand(args: string[]): string[] {
  return [bun, "agent/main.ts", "console", ...args];
}

export const testAddr = (n: number) => `127.0.4.${n}`;
export { join };
