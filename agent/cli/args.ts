// Minimal option parsing shared by the `tandem` subcommands: `--name value` pairs,
// bare flags, and positionals, with a clear error for an unknown option. A command
// line the subcommand cannot take is a usage error: `tandem` exits 2 for it (as
// getopt-style tools do), 1 for a failure of the work itself.
import { TandemError } from "../errors.ts";

/** A bad command line (unknown option, missing or out-of-range value, extra argument). */
export function usageError(message: string): TandemError {
  return new TandemError("badInput", message, { usage: true });
}

export function isUsageError(err: unknown): boolean {
  return err instanceof TandemError && err.detail?.usage === true;
}

export interface ParsedArgs {
  options: Map<string, string>;
  flags: Set<string>;
  positionals: string[];
}

/** `valued` lists options that take a value; `flags` lists those that do not. */
export function parseArgs(argv: string[], valued: string[], flags: string[] = []): ParsedArgs {
  const parsed: ParsedArgs = { options: new Map(), flags: new Set(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      parsed.positionals.push(arg);
      continue;
    }
    const name = arg.slice(2);
    if (flags.includes(name)) parsed.flags.add(name);
    else if (valued.includes(name)) {
      const value = argv[++i];
      if (value === undefined) throw usageError(`option --${name} needs a value`);
      parsed.options.set(name, value);
    } else throw usageError(`unknown option --${name}`);
  }
  return parsed;
}

/** Reads an integer option within [min, max], or returns the default. */
export function intOption(args: ParsedArgs, name: string, defaultValue: number, min: number, max: number): number {
  const raw = args.options.get(name);
  if (raw === undefined) return defaultValue;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw usageError(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}
