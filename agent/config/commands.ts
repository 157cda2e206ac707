// The configuration-mode command table: the grammar of DESIGN.md "One grammar for
// configuration and console", one spec per command with its `no` form. The same table
// parses config files, control-API `configure` calls and console lines, and feeds the
// console's `?` and TAB. Each action edits a draft configuration in place; the owner
// tag names which setting it touches (for conflict messages that point at a line).
import { TandemError } from "../errors.ts";
import { Grammar, type ChoiceToken, type CommandSpec, type KeywordToken, type ValueToken } from "./grammar.ts";
import { defaultConfig, type ApplianceConfig, type InPathRule } from "./types.ts";
import {
  capacityMbMax, capacityMbMin, checkIntervalSMax, checkIntervalSMin, inPathRulesMax, parseHostname,
  parseIntRange, parseInterfaceIpv4, parsePort, parseSecret, parseUnicastIpv4, reconnectSMax, reconnectSMin,
} from "./validate.ts";

export interface ConfigAction {
  /** Settings this command touches, as named in conflict messages ("web port"). */
  owners: (values: Record<string, unknown>) => string[];
  apply(config: ApplianceConfig, values: Record<string, unknown>, negated: boolean): string | void;
}

export type ConfigSpec = CommandSpec<ConfigAction>;

const kw = (word: string, help: string): KeywordToken => ({ kind: "keyword", word, help });
const ip = (key: string, help: string, parse: (text: string, what: string) => string): ValueToken => ({
  kind: "value", key, name: "A.B.C.D", help, parse: (t) => parse(t, help.toLowerCase()),
});
const port = (key: string, help: string): ValueToken => ({
  kind: "value", key, name: "<1-65535>", help, parse: (t) => parsePort(t, help.toLowerCase()),
});
const int = (key: string, min: number, max: number, help: string): ValueToken => ({
  kind: "value", key, name: `<${min}-${max}>`, help, parse: (t) => parseIntRange(t, min, max, help.toLowerCase()),
});

const d = defaultConfig;
const kwDatastore = kw("datastore", "Segment data store");
const kwSync = kw("sync", "Data store synchronization with a peer appliance");

function setting(
  id: string, words: KeywordToken[], value: ValueToken | ChoiceToken | null, owner: string,
  set: (c: ApplianceConfig, v: unknown) => void, reset: (c: ApplianceConfig) => void,
): ConfigSpec {
  const tokens = value ? [...words, value] : words;
  return {
    id, tokens, noTokens: words.length,
    action: {
      owners: () => [owner],
      apply: (c, values, negated) => {
        if (negated) reset(c);
        else set(c, value ? values[value.key] : true);
      },
    },
  };
}

function ruleFromValues(values: Record<string, unknown>): InPathRule {
  return {
    listenPort: values.listenPort as number,
    dstAddr: values.dstAddr as string,
    dstPort: values.dstPort as number,
    targetAddr: values.targetAddr as string,
    targetPort: (values.targetPort as number | undefined) ?? defaultConfig.servicePort,
    backupAddr: (values.backupAddr as string | undefined) ?? null,
    backupPort: (values.backupPort as number | undefined) ?? null,
  };
}

const inPathRule: ConfigSpec = {
  id: "in-path-rule",
  tokens: [
    kw("in-path", "In-path optimization"),
    kw("rule", "In-path rules"),
    kw("fixed-target", "Carry matching connections to a fixed peer appliance"),
    kw("listen-port", "Local port that accepts the connections to optimize"),
    port("listenPort", "Listen port"),
    kw("dstaddr", "Address of the server the connections are for"),
    ip("dstAddr", "Server address", parseUnicastIpv4),
    kw("dstport", "Port of the server"),
    port("dstPort", "Server port"),
    kw("target-addr", "Address of the peer appliance"),
    ip("targetAddr", "Target address", parseUnicastIpv4),
  ],
  options: [
    { keyword: "target-port", help: `Service port of the peer appliance (default ${d.servicePort})`, value: port("targetPort", "Target port") },
    { keyword: "backup-addr", help: "Address of a backup peer appliance", value: ip("backupAddr", "Backup address", parseUnicastIpv4) },
    { keyword: "backup-port", help: "Service port of the backup peer (default: target port)", value: port("backupPort", "Backup port") },
  ],
  noTokens: 5,
  action: {
    owners: (v) => [`in-path rule listen-port ${v.listenPort}`],
    apply: (c, values, negated) => {
      const listenPort = values.listenPort as number;
      const at = c.inPathRules.findIndex((r) => r.listenPort === listenPort);
      if (negated) {
        if (at < 0) throw new TandemError("badInput", `No in-path rule with listen-port ${listenPort}`);
        c.inPathRules.splice(at, 1);
        return `in-path rule listen-port ${listenPort} removed`;
      }
      const rule = ruleFromValues(values);
      if (at >= 0) {
        c.inPathRules[at] = rule;
        return `in-path rule listen-port ${listenPort} replaced`;
      }
      if (c.inPathRules.length >= inPathRulesMax) {
        throw new TandemError("badInput", `Too many in-path rules (at most ${inPathRulesMax})`);
      }
      c.inPathRules.push(rule);
    },
  },
};

export const configSpecs: ConfigSpec[] = [
  setting("hostname", [kw("hostname", "Name of this appliance")],
    { kind: "value", key: "name", name: "WORD", help: "Host name", parse: parseHostname }, "hostname",
    (c, v) => { c.hostname = v as string; }, (c) => { c.hostname = d.hostname; }),
  ...(["primary", "aux", "inpath"] as const).map((name) => setting(`interface-${name}`,
    [kw("interface", "Network interfaces"),
      kw(name, { primary: "Management interface (web UI)", aux: "Auxiliary interface (data store sync)", inpath: "In-path interface (inner channels, in-path rules)" }[name]),
      kw("address", "IPv4 address of the interface")],
    ip("address", "Interface address", parseInterfaceIpv4), `interface ${name} address`,
    (c, v) => { c.interfaces[name] = v as string; },
    (c) => { c.interfaces[name] = d.interfaces[name] as string; })),
  setting("web-port", [kw("web", "Web UI"), kw("port", `TCP port of the web UI (default ${d.webPort})`)],
    port("port", "Web port"), "web port", (c, v) => { c.webPort = v as number; }, (c) => { c.webPort = d.webPort; }),
  setting("service-port", [kw("service", "Optimization service"), kw("port", `Inner-channel TCP port (default ${d.servicePort})`)],
    port("port", "Service port"), "service port", (c, v) => { c.servicePort = v as number; }, (c) => { c.servicePort = d.servicePort; }),
  setting("service-secret", [kw("service", "Optimization service"), kw("secret", "Peering secret that authenticates inner channels")],
    { kind: "value", key: "secret", name: "WORD", help: "Secret (8-128 printable characters, no spaces)", parse: parseSecret },
    "service secret", (c, v) => { c.serviceSecret = v as string; }, (c) => { c.serviceSecret = null; }),
  setting("datastore-capacity", [kwDatastore, kw("capacity-mb", "Capacity of the data store in MiB")],
    int("mb", capacityMbMin, capacityMbMax, "Capacity"), "datastore capacity-mb",
    (c, v) => { c.datastore.capacityMb = v as number; }, (c) => { c.datastore.capacityMb = d.datastore.capacityMb; }),
  setting("datastore-policy", [kwDatastore, kw("replacement-policy", "What to evict when the store is full")],
    { kind: "choice", key: "policy", what: "replacement policy", choices: [{ word: "fifo", help: "Evict the oldest segment first" }, { word: "lru", help: "Evict the least recently used segment first" }] },
    "datastore replacement-policy",
    (c, v) => { c.datastore.replacementPolicy = v as "lru" | "fifo"; }, (c) => { c.datastore.replacementPolicy = d.datastore.replacementPolicy; }),
  setting("sync-enable", [kwDatastore, kwSync, kw("enable", "Enable data store sync")], null, "datastore sync enable",
    (c) => { c.datastore.sync.enabled = true; }, (c) => { c.datastore.sync.enabled = false; }),
  setting("sync-master", [kwDatastore, kwSync, kw("master", "This appliance is the master (no form: backup)")], null, "datastore sync master",
    (c) => { c.datastore.sync.master = true; }, (c) => { c.datastore.sync.master = false; }),
  setting("sync-peer", [kwDatastore, kwSync, kw("peer-ip", "Address of the sync peer")], ip("address", "Peer address", parseUnicastIpv4),
    "datastore sync peer-ip", (c, v) => { c.datastore.sync.peerIp = v as string; }, (c) => { c.datastore.sync.peerIp = null; }),
  setting("sync-port", [kwDatastore, kwSync, kw("port", `TCP port of data store sync (default ${d.datastore.sync.port})`)],
    port("port", "Sync port"), "datastore sync port",
    (c, v) => { c.datastore.sync.port = v as number; }, (c) => { c.datastore.sync.port = d.datastore.sync.port; }),
  setting("sync-mode", [kwDatastore, kwSync, kw("mode", "Replication mode")],
    { kind: "choice", key: "mode", what: "sync mode", choices: [{ word: "async", help: "Commit locally, replicate in the background" }, { word: "sync", help: "Commit once the peer holds the segment" }] },
    "datastore sync mode", (c, v) => { c.datastore.sync.mode = v as "async" | "sync"; }, (c) => { c.datastore.sync.mode = d.datastore.sync.mode; }),
  setting("sync-secret", [kwDatastore, kwSync, kw("secret", "Pairing secret shared with the peer")],
    { kind: "value", key: "secret", name: "WORD", help: "Secret (8-128 printable characters, no spaces)", parse: parseSecret },
    "datastore sync secret", (c, v) => { c.datastore.sync.secret = v as string; }, (c) => { c.datastore.sync.secret = null; }),
  setting("sync-reconnect", [kwDatastore, kwSync, kw("reconnect", `Seconds between reconnection attempts (default ${d.datastore.sync.reconnectS})`)],
    int("seconds", reconnectSMin, reconnectSMax, "Reconnect interval"), "datastore sync reconnect",
    (c, v) => { c.datastore.sync.reconnectS = v as number; }, (c) => { c.datastore.sync.reconnectS = d.datastore.sync.reconnectS; }),
  setting("sync-check-interval", [kwDatastore, kwSync, kw("check-interval", `Seconds between consistency checks (default ${d.datastore.sync.checkIntervalS})`)],
    int("seconds", checkIntervalSMin, checkIntervalSMax, "Check interval"), "datastore sync check-interval",
    (c, v) => { c.datastore.sync.checkIntervalS = v as number; }, (c) => { c.datastore.sync.checkIntervalS = d.datastore.sync.checkIntervalS; }),
  inPathRule,
];

export const configGrammar = new Grammar<ConfigAction>(configSpecs);
