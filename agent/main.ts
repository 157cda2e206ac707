// Process entry of the `tandem` command: picks the subcommand and hands it the rest of
// the arguments. Each subcommand lives in its own module, loaded only when used, and
// returns the process exit code. Builds the WASM module first on a fresh checkout.
// Exit codes: 0 done, 1 the work failed, 2 a command line it cannot take.
import { existsSync } from "node:fs";
import { join } from "node:path";

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import("./appliance.ts")).run,
  console: async () => (await import("./console/main.ts")).run,
  segment: async () => (await import("./cli/segment.ts")).run,
  compress: async () => (await import("./cli/lz4.ts")).runCompress,
  decompress: async () => (await import("./cli/lz4.ts")).runDecompress,
  encode: async () => (await import("./cli/sdr.ts")).runEncode,
  decode: async () => (await import("./cli/sdr.ts")).runDecode,
  store: async () => (await import("./cli/store.ts")).run,
};

const usage = `usage:
  tandem start [--config FILE] [--data DIR] [--model NAME] [--sw-version X]
  tandem console [--data DIR | --connect SOCKET] [--tty DEVICE]
  tandem segment FILE [--min N --avg N --max N] [--level N --seed N]
  tandem compress | tandem decompress        (stdin to stdout, LZ4 frame format)
  tandem encode --data DIR < in > ops
  tandem decode --data DIR < ops > out
  tandem store digest --data DIR
  tandem store verify --data DIR`;

async function ensureWasmBuilt(): Promise<void> {
  const repoRoot = join(import.meta.dir, "..");
  if (existsSync(join(repoRoot, "wasm", "build", "tandem.wasm"))) return;
  const { buildWasm } = await import("../wasm/build.ts");
  await buildWasm();
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    // Asked for: usage on stdout, exit 0; no command at all: a usage error.
    if (name) console.log(usage);
    else console.error(usage);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`tandem: unknown command '${name}'\n${usage}`);
    return 2;
  }
  await ensureWasmBuilt();
  return (await load())(rest);
}

try {
  const code = await main(process.argv.slice(2));
  if (code !== 0 || !["start", "console"].includes(process.argv[2] ?? "")) process.exit(code);
} catch (err) {
  const { asTandemError } = await import("./errors.ts");
  const { isUsageError } = await import("./cli/args.ts");
  console.error(`tandem: ${asTandemError(err).message}`);
  process.exit(isUsageError(err) ? 2 : 1);
}
