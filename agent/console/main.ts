// `tandem console [--data DIR | --connect SOCKET] [--tty DEVICE]`: the serial-console
// shell as a process. It connects to the appliance's control socket (the read-write
// one, falling back to the read-only one when file permissions deny it), then runs
// the shell on stdin/stdout or on a serial device (`--tty /dev/ttyS0`, put in raw
// mode with `stty -F`). Line editing is used when the terminal can take it
// (not TERM=dumb); otherwise plain lines.
import { spawnSync } from "node:child_process";
import { closeSync, createReadStream, openSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { parseArgs, usageError } from "../cli/args.ts";
import { connectControl, type RemoteControl } from "../control/client.ts";
import { TandemError } from "../errors.ts";
import { Shell } from "./shell.ts";
import { LineEditor } from "./terminal.ts";

/** How long the process may linger after the session ends before it exits anyway. */
export const exitGraceMs = 500;

async function connect(args: ReturnType<typeof parseArgs>): Promise<RemoteControl> {
  const socket = args.options.get("connect");
  if (socket) return connectControl(resolve(socket));
  const dataDir = resolve(args.options.get("data") ?? "./data");
  try {
    return await connectControl(join(dataDir, "control.sock"));
  } catch (err) {
    if (err instanceof TandemError && err.code === "forbidden") return connectControl(join(dataDir, "control-ro.sock"));
    throw err;
  }
}

interface Io { input: Readable; writeRaw(text: string): void; smart: boolean; piped: boolean; cleanup(): void }

function openIo(device: string | undefined): Io {
  const dumb = process.env.TERM === "dumb";
  if (device) {
    const stty = spawnSync("stty", ["-F", device, "raw", "-echo"], { encoding: "utf8" });
    if (stty.status !== 0) throw new TandemError("badInput", `${device}: cannot set raw mode: ${(stty.stderr || stty.error?.message || "stty failed").trim()}`);
    const fd = openSync(device, "r+");
    const input = createReadStream("", { fd, autoClose: false });
    return {
      input, smart: !dumb, piped: false,
      writeRaw: (text) => { writeSync(fd, text); },
      cleanup: () => {
        input.destroy();
        spawnSync("stty", ["-F", device, "sane"]);
        closeSync(fd);
      },
    };
  }
  const tty = process.stdin.isTTY === true;
  const smart = tty && !dumb;
  if (smart) process.stdin.setRawMode(true);
  return {
    input: process.stdin, smart, piped: !tty,
    writeRaw: (text) => { process.stdout.write(text); },
    cleanup: () => {
      if (smart) process.stdin.setRawMode(false);
      process.stdin.pause();
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["data", "connect", "tty"]);
  if (args.options.has("data") && args.options.has("connect")) {
    throw usageError("give either --data DIR or --connect SOCKET, not both");
  }
  if (args.positionals.length > 0) throw usageError(`unexpected argument '${args.positionals[0]}'`);
  const control = await connect(args);
  const io = openIo(args.options.get("tty"));
  const editor = new LineEditor({ smart: io.smart, writeRaw: io.writeRaw, newlineAfterPlainLine: io.piped });
  io.input.on("data", (chunk: Buffer | string) => editor.feed(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk));
  io.input.on("end", () => editor.end());
  io.input.on("error", () => editor.end());

  // A hangup or kill must not leave the terminal in raw mode.
  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      io.cleanup();
      process.exit(1);
    });
  }
  let lost = false;
  let leaving = false;
  control.onClose(() => {
    if (leaving) return;
    lost = true;
    editor.write("\n% Connection to the appliance closed\n");
    editor.end();
  });
  const shell = new Shell(control, {
    write: (t) => editor.write(t),
    ask: (q) => editor.readLine(q, null),
    interrupted: () => editor.takeInterrupt(),
  });
  let code = 0;
  try {
    await shell.init();
    while (!shell.done && !lost) {
      const line = await editor.readLine(shell.prompt(), {
        help: (l) => shell.help(l),
        complete: (l) => shell.complete(l),
      });
      if (line === null) break;
      await shell.execute(line);
    }
  } catch (err) {
    editor.write(`% ${err instanceof Error ? err.message : String(err)}\n`);
    code = 1;
  } finally {
    leaving = true;
    io.cleanup();
    control.close();
  }
  if (lost) code = 1;
  setTimeout(() => process.exit(code), exitGraceMs).unref();
  return code;
}
