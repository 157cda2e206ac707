// The console's command table: exec-mode commands (show, write memory, restart,
// datastore sync check, mode changes) plus every configuration-mode command of
// agent/config's table, reused as is so the console and config files cannot drift.
// One Grammar per mode, built from the same specs filtered by the modes each allows.
import { configSpecs } from "../config/commands.ts";
import { Grammar, type CommandSpec, type KeywordToken } from "../config/grammar.ts";

export type Mode = "user" | "enable" | "config";

export type ExecName =
  | "show-version" | "show-datastore" | "show-sync" | "show-connections" | "show-stats"
  | "show-running-config" | "show-log" | "configure-terminal" | "write-memory" | "restart"
  | "restart-clean" | "sync-check" | "sync-watch" | "enable" | "disable" | "exit" | "end";

export interface ConsoleAction {
  modes: Mode[];
  /** An exec command run by the shell, or a configuration line sent to the control API. */
  exec?: ExecName;
  config?: true;
}

export type ConsoleSpec = CommandSpec<ConsoleAction>;

const kw = (word: string, help: string): KeywordToken => ({ kind: "keyword", word, help });
const all: Mode[] = ["user", "enable", "config"];
const privileged: Mode[] = ["enable", "config"];

const kwShow = kw("show", "Show running system information");
const kwDatastore = kw("datastore", "Segment data store");

const execSpecs: ConsoleSpec[] = [
  { id: "show-version", tokens: [kwShow, kw("version", "Model, software version, uptime, services")], action: { modes: all, exec: "show-version" } },
  { id: "show-datastore", tokens: [kwShow, kwDatastore], action: { modes: all, exec: "show-datastore" } },
  { id: "show-sync", tokens: [kwShow, kwDatastore, kw("sync", "Data store sync state, progress and lag")], action: { modes: all, exec: "show-sync" } },
  { id: "show-connections", tokens: [kwShow, kw("connections", "Optimized and pass-through connections")], action: { modes: all, exec: "show-connections" } },
  { id: "show-stats", tokens: [kwShow, kw("stats", "Optimization statistics")], action: { modes: all, exec: "show-stats" } },
  { id: "show-running-config", tokens: [kwShow, kw("running-config", "The running configuration")], action: { modes: privileged, exec: "show-running-config" } },
  { id: "show-log", tokens: [kwShow, kw("log", "Recent events and alarms")], action: { modes: all, exec: "show-log" } },
  { id: "configure-terminal", tokens: [kw("configure", "Enter configuration mode"), kw("terminal", "Configure from this terminal")], action: { modes: ["enable"], exec: "configure-terminal" } },
  { id: "write-memory", tokens: [kw("write", "Save the configuration"), kw("memory", "Save the running configuration as the startup configuration")], action: { modes: privileged, exec: "write-memory" } },
  { id: "restart", tokens: [kw("restart", "Restart the optimization and sync services")], action: { modes: ["enable"], exec: "restart" } },
  { id: "restart-clean", tokens: [kw("restart", "Restart the optimization and sync services"), kw("clean", "Clear the data store (new identity) while restarting")], action: { modes: ["enable"], exec: "restart-clean" } },
  { id: "sync-check", tokens: [kwDatastore, kw("sync", "Data store sync"), kw("check", "Run a consistency check with the peer now")], action: { modes: ["enable"], exec: "sync-check" } },
  { id: "sync-watch", tokens: [kwDatastore, kw("sync", "Data store sync"), kw("watch", "Follow sync state and initial-sync progress until in sync")], action: { modes: ["user", "enable"], exec: "sync-watch" } },
  { id: "enable", tokens: [kw("enable", "Enter privileged mode")], action: { modes: ["user"], exec: "enable" } },
  { id: "disable", tokens: [kw("disable", "Leave privileged mode")], action: { modes: ["enable"], exec: "disable" } },
  { id: "exit", tokens: [kw("exit", "Leave this mode (or the console)")], action: { modes: all, exec: "exit" } },
  { id: "end", tokens: [kw("end", "Leave configuration mode")], action: { modes: ["config"], exec: "end" } },
];

const configModeSpecs: ConsoleSpec[] = configSpecs.map((s) => ({
  id: `config-${s.id}`, tokens: s.tokens, options: s.options, noTokens: s.noTokens, action: { modes: ["config"], config: true },
}));

const allSpecs = [...execSpecs, ...configModeSpecs];

export const grammars: Record<Mode, Grammar<ConsoleAction>> = {
  user: new Grammar(allSpecs.filter((s) => s.action.modes.includes("user"))),
  enable: new Grammar(allSpecs.filter((s) => s.action.modes.includes("enable"))),
  config: new Grammar(allSpecs.filter((s) => s.action.modes.includes("config"))),
};
