// The console shell: modes (user `host >`, enable `host #`, configure
// `host (config) #`), command execution against the control API, `?` help and TAB
// completion from the shared grammar, and the appliance-CLI error forms
// (`% Ambiguous command`, `% Unrecognized command`, `% Incomplete command`, each with a
// caret under the offending word). It knows nothing about terminals: agent/console/
// terminal.ts feeds it lines and prints what it writes.
import { GrammarError, type HelpItem } from "../config/grammar.ts";
import type { RemoteControl } from "../control/client.ts";
import { asTandemError, TandemError } from "../errors.ts";
import { grammars, type ExecName, type Mode } from "./commands.ts";
import {
  ascii, bytes, consoleColumns, progressBar, showCheck, syncStateText, showConnections, showDatastore, showLog, showStats, showSync, showVersion, wrap,
} from "./format.ts";

/** Events `show log` prints. */
export const showLogEventsMax = 50;
/** How often `datastore sync watch` polls the sync status. */
export const watchIntervalMs = 1000;
/** Longest a watch runs before it stops by itself. */
export const watchDurationMsMax = 24 * 3600 * 1000;

export interface ShellIo {
  write(text: string): void;
  /** Asks a question on its own line and returns the answer (null on end of input). */
  ask(question: string): Promise<string | null>;
  /** True if the operator pressed a key since the last call (stops a watch). */
  interrupted(): boolean;
}

const errorHeadline: Record<string, string> = {
  ambiguous: "% Ambiguous command",
  unrecognized: "% Unrecognized command",
  incomplete: "% Incomplete command",
  invalid: "% Invalid input",
};

export class Shell {
  mode: Mode = "user";
  hostname = "tandem";
  /** Set by `exit` from exec mode: the session ends. */
  done = false;

  constructor(private readonly control: RemoteControl, private readonly io: ShellIo) {}

  async init(): Promise<void> {
    const v = await this.control.version();
    this.hostname = v.hostname;
    this.print(`Tandem ${v.model} ${v.softwareVersion} on ${v.hostname}${this.control.readOnly ? " (read-only control socket)" : ""}`);
    this.print("Type '?' for help, TAB to complete.");
  }

  prompt(): string {
    return this.mode === "user" ? `${this.hostname} > ` : this.mode === "enable" ? `${this.hostname} # ` : `${this.hostname} (config) # `;
  }

  /** Writes lines, wrapping any longer than the console width. */
  private print(text: string): void {
    this.io.write(ascii(text).split("\n").flatMap((l) => wrap(l, 2)).join("\n") + "\n");
  }

  /** Prints the caret line (under `column` of the line typed after the prompt) and the message. */
  private caret(column: number, headline: string, detail?: string): void {
    const at = this.prompt().length + column;
    this.print(at < consoleColumns ? " ".repeat(at) + "^" : `(at column ${column + 1})`);
    this.print(detail ? `${headline}: ${detail}` : headline);
  }

  private grammarError(err: GrammarError): void {
    if (err.kind === "invalid") {
      this.caret(err.column, `% ${err.message}`);
      return;
    }
    const headline = errorHeadline[err.kind]!;
    const detail = err.kind === "incomplete" ? undefined : err.message.replace(/^(Ambiguous command|Unrecognized command)(: )?/, "").trim();
    this.caret(err.column, headline, detail || undefined);
  }

  /** `?`: lists what may come next after `line`. */
  help(line: string): void {
    try {
      const { items, canEnd } = grammars[this.mode].help(line);
      const rows: HelpItem[] = [...items];
      if (canEnd) rows.push({ word: "<cr>", help: "" });
      if (rows.length === 0) {
        this.print("% Unrecognized command");
        return;
      }
      const w = Math.min(24, Math.max(...rows.map((r) => r.word.length)) + 2);
      for (const r of rows) for (const l of wrap(`  ${r.word.padEnd(w)}${r.help}`.trimEnd(), w + 2)) this.print(l);
    } catch (err) {
      if (err instanceof GrammarError) this.grammarError(err);
      else throw err;
    }
  }

  /** TAB: what to append to `line`, and the candidates when more than one fits. */
  complete(line: string): { append: string; words: string[] } {
    return grammars[this.mode].complete(line);
  }

  /** Runs one line; errors are printed, never thrown (except a lost connection). */
  async execute(line: string): Promise<void> {
    let match;
    try {
      match = grammars[this.mode].match(line);
    } catch (err) {
      if (!(err instanceof GrammarError)) throw err;
      const hint = this.modeHint(line);
      if (hint) this.print(hint);
      else this.grammarError(err);
      return;
    }
    if (!match) return;
    try {
      if (match.spec.action.config) await this.configure(match.canonical);
      else await this.run(match.spec.action.exec!);
    } catch (err) {
      const e = asTandemError(err);
      if (e.code === "unavailable" && /connection to the appliance closed/.test(e.message)) throw e;
      // Columns in a server-side error refer to the canonical line, not what was typed.
      this.print(e.toConsole());
    }
  }

  /** A line that is valid in a higher mode says which mode it needs. */
  private modeHint(line: string): string | null {
    const fits = (mode: Mode) => {
      try { return grammars[mode].match(line) !== null; } catch { return false; }
    };
    if (this.mode === "user" && fits("enable")) return "% Privileged command: use 'enable' first";
    if (this.mode !== "config" && fits("config")) return "% Configuration command: use 'configure terminal' first";
    return null;
  }

  private async configure(canonical: string): Promise<void> {
    const result = await this.control.configure([canonical]);
    for (const note of result.notes) this.print(`% Note: ${note}`);
    if (result.restartRequired) this.print(`% Restart required: ${result.restartRequired}`);
    this.hostname = (await this.control.version()).hostname;
  }

  /** Prints sync progress as it changes until in sync, refused, disabled, or a key. */
  private async watchSync(): Promise<void> {
    this.print("Watching data store sync; press any key to stop.");
    const started = Date.now();
    let last = "";
    for (;;) {
      const s = await this.control.syncStatus();
      const progress = s.initialSync
        ? ` ${progressBar(s.initialSync.percent)} ${bytes(s.initialSync.bytesDone)} of ${bytes(s.initialSync.bytesTotal)}` : "";
      const line = `${syncStateText(s)}${progress}, lag ${s.lagSegments} segments${s.refusedReason ? `: ${s.refusedReason}` : ""}`;
      if (line !== last) {
        this.print(`${new Date().toISOString().slice(11, 19)} ${line}`);
        last = line;
      }
      if (s.state === "in-sync" || s.state === "refused" || s.state === "disabled") return;
      if (Date.now() - started > watchDurationMsMax) return;
      await Bun.sleep(watchIntervalMs);
      if (this.io.interrupted()) {
        this.print("% Stopped watching");
        return;
      }
    }
  }

  private progress = (text: string) => this.print(`  ${text}`);

  private async run(name: ExecName): Promise<void> {
    const c = this.control;
    switch (name) {
      case "show-version": this.print(showVersion(await c.version(), await c.services())); break;
      case "show-datastore": this.print(showDatastore(await c.datastore())); break;
      case "show-sync": this.print(showSync(await c.syncStatus())); break;
      case "show-connections": this.print(showConnections(await c.connections())); break;
      case "show-stats": this.print(showStats(await c.stats())); break;
      case "show-running-config": this.io.write(ascii(await c.runningConfig())); break;
      case "show-log": this.print(showLog(await c.events(0, showLogEventsMax))); break;
      case "configure-terminal":
        this.mode = "config";
        this.print("Enter configuration commands, one per line. End with 'end'.");
        break;
      case "write-memory": {
        const { path } = await c.writeMemory();
        this.print(`Configuration saved to ${path}`);
        break;
      }
      case "restart":
        this.print("Restarting services...");
        await c.call("restart", [{ clean: false }], this.progress);
        this.print("Restart complete.");
        break;
      case "restart-clean": {
        const answer = await this.io.ask("Delete every segment and give the store a new identity? [y/N] ");
        if (!answer || !/^y(es)?$/i.test(answer.trim())) {
          this.print("% Cancelled");
          break;
        }
        this.print("Restarting services with a clean data store...");
        await c.call("restart", [{ clean: true }], this.progress);
        this.print("Restart complete.");
        break;
      }
      case "sync-check": {
        this.print("Running a consistency check with the peer...");
        const result = await c.call("syncCheck", [], this.progress);
        this.print(showCheck(result as Parameters<typeof showCheck>[0]));
        break;
      }
      case "sync-watch": await this.watchSync(); break;
      case "enable":
        if (c.readOnly) throw new TandemError("forbidden", "Read-only control socket: enable is not allowed");
        this.mode = "enable";
        break;
      case "disable": this.mode = "user"; break;
      case "end": this.mode = "enable"; break;
      case "exit":
        if (this.mode === "config") this.mode = "enable";
        else this.done = true;
        break;
    }
  }
}
