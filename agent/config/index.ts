// Configuration as text: applying configuration-mode commands to a configuration
// (all or nothing, with whole-configuration checks), loading a startup-config file
// (a bad line names file, line and reason) and saving one atomically (temp file,
// fsync, rename, fsync of the directory) so a crash never leaves a torn file.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";
import { TandemError } from "../errors.ts";
import { configGrammar } from "./commands.ts";
import { GrammarError } from "./grammar.ts";
import { renderConfig } from "./render.ts";
import { cloneConfig, defaultConfig, type ApplianceConfig } from "./types.ts";
import { checkConfig } from "./validate.ts";

export { configGrammar, configSpecs } from "./commands.ts";
export { maskSecretLines, renderConfig, renderRule } from "./render.ts";
export { checkConfig } from "./validate.ts";

/** Largest startup-config file accepted. */
export const configFileBytesMax = 1024 * 1024;

export interface ApplyLinesResult {
  config: ApplianceConfig;
  notes: string[];
  /** Lines that changed something, with abbreviations expanded. */
  canonical: string[];
}

export interface ApplyLinesOptions {
  /** File name for messages (`FILE:LINE: reason`); without it, `line N: reason`
   *  (or just the reason for a single line). */
  source?: string;
}

/** Applies configuration-mode lines to a copy of `base`. Throws TandemError("badConfig")
 *  naming the line and reason; `base` is never modified. */
export function applyConfigLines(base: ApplianceConfig, lines: string[], options: ApplyLinesOptions = {}): ApplyLinesResult {
  const config = cloneConfig(base);
  const notes: string[] = [];
  const canonical: string[] = [];
  const lastLineOfOwner = new Map<string, number>();
  const where = (lineNo: number) =>
    options.source ? `${options.source}:${lineNo}: ` : lines.length > 1 ? `line ${lineNo}: ` : "";
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    try {
      const match = configGrammar.match(line);
      if (!match) return;
      const note = match.spec.action.apply(config, match.values, match.negated);
      if (note) notes.push(note);
      canonical.push(match.canonical);
      for (const owner of match.spec.action.owners(match.values)) lastLineOfOwner.set(owner, lineNo);
    } catch (err) {
      const e = err instanceof TandemError ? err : new TandemError("internal", String(err));
      const detail: Record<string, unknown> = { line: lineNo, ...(e instanceof GrammarError ? { kind: e.kind, wordIndex: e.wordIndex, column: e.column } : {}) };
      throw new TandemError("badConfig", `${where(lineNo)}${e.message}`, detail);
    }
  });
  const problems = checkConfig(config);
  if (problems.length > 0) {
    const p = problems[0]!;
    const lineNo = Math.max(0, ...p.owners.map((o) => lastLineOfOwner.get(o) ?? 0));
    const prefix = lineNo > 0 ? where(lineNo) : options.source ? `${options.source}: ` : "";
    throw new TandemError("badConfig", `${prefix}${p.message}`, { line: lineNo });
  }
  return { config, notes, canonical };
}

/** Reads a startup-config file and replays it over the defaults. */
export function loadConfigFile(path: string, base: ApplianceConfig = defaultConfig): ApplianceConfig {
  if (!existsSync(path)) throw new TandemError("notFound", `${path}: no such configuration file`);
  const bytes = readFileSync(path);
  if (bytes.length > configFileBytesMax) {
    throw new TandemError("badConfig", `${path}: file too large (${bytes.length} bytes, at most ${configFileBytesMax})`);
  }
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 0x7e || (b < 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)) {
      const lineNo = bytes.subarray(0, i).filter((x) => x === 0x0a).length + 1;
      throw new TandemError("badConfig", `${path}:${lineNo}: non-ASCII or control character (byte 0x${b.toString(16)})`, { line: lineNo });
    }
  }
  const lines = bytes.toString("latin1").split(/\r?\n/);
  return applyConfigLines(base, lines, { source: path }).config;
}

/** Writes the configuration to `path` atomically (mode 0600: it holds the pairing secret). */
export function saveConfigFile(path: string, config: ApplianceConfig, header?: string): void {
  const text = renderConfig(config, { header });
  const tmp = `${dirname(path)}/.${basename(path)}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    const bytes = Buffer.from(text, "latin1");
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  const dirFd = openSync(dirname(path), "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
