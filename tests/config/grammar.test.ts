// The configuration grammar: parsing (abbreviations, no forms, options), validation
// with precise messages, whole-config checks, rendering and the round trip, help and
// completion answers, and file load/save on a real file system.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyConfigLines, configGrammar, loadConfigFile, renderConfig, saveConfigFile } from "../../agent/config/index.ts";
import { GrammarError } from "../../agent/config/grammar.ts";
import { cloneConfig, defaultConfig } from "../../agent/config/types.ts";
import { TandemError } from "../../agent/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "tandem-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refuse(lines: string[]): TandemError {
  try {
    applyConfigLines(defaultConfig, lines);
  } catch (err) {
    expect(err).toBeInstanceOf(TandemError);
    expect((err as TandemError).code).toBe("badConfig");
    return err as TandemError;
  }
  throw new Error(`accepted: ${lines.join(" | ")}`);
}

describe("parsing", () => {
  test("every command of the grammar sets its field", () => {
    const { config } = applyConfigLines(defaultConfig, [
      "hostname dc-master",
      "interface primary address 10.1.0.1",
      "interface aux address 10.2.0.1",
      "interface inpath address 10.3.0.1",
      "web port 8443",
      "service port 7810",
      "datastore capacity-mb 2048",
      "datastore replacement-policy fifo",
      "datastore sync enable",
      "datastore sync master",
      "datastore sync peer-ip 10.2.0.2",
      "datastore sync port 7745",
      "datastore sync mode sync",
      "datastore sync secret s3cret-pairing",
      "datastore sync reconnect 7",
      "datastore sync check-interval 60",
      "in-path rule fixed-target listen-port 8081 dstaddr 10.9.0.5 dstport 80 target-addr 10.3.0.2 target-port 7900 backup-addr 10.3.0.3 backup-port 7901",
    ]);
    expect(config.hostname).toBe("dc-master");
    expect(config.interfaces).toEqual({ primary: "10.1.0.1", aux: "10.2.0.1", inpath: "10.3.0.1" });
    expect(config.webPort).toBe(8443);
    expect(config.servicePort).toBe(7810);
    expect(config.datastore.capacityMb).toBe(2048);
    expect(config.datastore.replacementPolicy).toBe("fifo");
    expect(config.datastore.sync).toEqual({
      enabled: true, master: true, peerIp: "10.2.0.2", port: 7745, mode: "sync",
      secret: "s3cret-pairing", reconnectS: 7, checkIntervalS: 60,
    });
    expect(config.inPathRules).toEqual([{
      listenPort: 8081, dstAddr: "10.9.0.5", dstPort: 80, targetAddr: "10.3.0.2", targetPort: 7900,
      backupAddr: "10.3.0.3", backupPort: 7901,
    }]);
  });

  test("unique prefixes expand; canonical lines are reported", () => {
    const r = applyConfigLines(defaultConfig, ["host r1", "da sy mas", "datas repl f", "in-p r f l 9000 dsta 10.0.0.5 dstp 80 ta 10.0.0.6"]);
    expect(r.canonical).toEqual([
      "hostname r1", "datastore sync master", "datastore replacement-policy fifo",
      "in-path rule fixed-target listen-port 9000 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6",
    ]);
    expect(r.config.inPathRules[0]!.targetPort).toBe(defaultConfig.servicePort);
    expect(r.config.inPathRules[0]!.backupAddr).toBeNull();
  });

  test("no forms restore defaults and remove rules", () => {
    const set = applyConfigLines(defaultConfig, [
      "hostname x1", "web port 9090", "datastore sync enable", "datastore sync master", "datastore sync peer-ip 10.0.0.9",
      "interface aux address 10.0.0.1", "in-path rule fixed-target listen-port 8081 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6",
      "in-path rule fixed-target listen-port 8082 dstaddr 10.0.0.5 dstport 81 target-addr 10.0.0.6",
    ]).config;
    const { config } = applyConfigLines(set, [
      "no hostname", "no web port", "no datastore sync enable", "no datastore sync master", "no datastore sync peer-ip",
      "no interface aux address", "no in-path rule fixed-target listen-port 8081",
    ]);
    expect(config.hostname).toBe(defaultConfig.hostname);
    expect(config.webPort).toBe(defaultConfig.webPort);
    expect(config.datastore.sync.enabled).toBe(false);
    expect(config.datastore.sync.master).toBe(false);
    expect(config.datastore.sync.peerIp).toBeNull();
    expect(config.interfaces.aux).toBeNull();
    expect(config.inPathRules.map((r) => r.listenPort)).toEqual([8082]);
  });

  test("a rule with an existing listen port replaces it", () => {
    const { config, notes } = applyConfigLines(defaultConfig, [
      "in-path rule fixed-target listen-port 8081 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6",
      "in-path rule fixed-target listen-port 8081 dstaddr 10.0.0.7 dstport 80 target-addr 10.0.0.6",
    ]);
    expect(config.inPathRules).toHaveLength(1);
    expect(config.inPathRules[0]!.dstAddr).toBe("10.0.0.7");
    expect(notes.join()).toContain("replaced");
  });

  test("comments and blank lines are ignored", () => {
    const { config } = applyConfigLines(defaultConfig, ["# a comment", "", "   ", "hostname c1   # trailing comment"]);
    expect(config.hostname).toBe("c1");
  });
});

describe("refusals", () => {
  test("bad values are refused with a precise reason and the column of the word", () => {
    const cases: [string, RegExp, number][] = [
      ["web port 70000", /Invalid web port '70000': must be an integer from 1 to 65535/, 9],
      ["web port 0", /from 1 to 65535/, 9],
      ["service port -1", /Invalid service port/, 13],
      ["interface primary address 10.0.0.256", /Invalid interface address '10.0.0.256'/, 26],
      ["interface primary address 10.0.0", /IPv4 address/, 26],
      ["interface primary address 010.0.0.1", /IPv4/, 26],
      ["datastore sync peer-ip 0.0.0.0", /unicast/, 23],
      ["datastore sync peer-ip 224.0.0.1", /unicast/, 23],
      ["datastore sync secret short", /8 to 128 characters/, 22],
      ["hostname -bad", /Invalid hostname/, 9],
      ["datastore capacity-mb 0", /Invalid capacity '0'/, 22],
      ["datastore sync reconnect 99999", /Invalid reconnect interval/, 25],
      ["datastore replacement-policy random", /^Invalid replacement policy 'random': must be fifo or lru$/, 29],
      ["datastore sync mode semi", /^Invalid sync mode 'semi': must be async or sync$/, 20],
      ["no datastore sync mode semi", /^Invalid sync mode 'semi'/, 23],
      ["interface inpath address 224.0.0.1", /^Invalid interface address '224.0.0.1': must be a unicast address or 0.0.0.0$/, 25],
      ["interface primary address 255.255.255.255", /unicast address or 0.0.0.0/, 26],
    ];
    for (const [line, message, column] of cases) {
      const err = refuse([line]);
      expect(err.message).toMatch(message);
      expect(err.detail?.column).toBe(column);
      expect(err.detail?.kind).toBe("invalid");
    }
    // 0.0.0.0 is "every address" for a listener, not a bad interface address.
    expect(applyConfigLines(defaultConfig, ["interface inpath address 0.0.0.0"]).config.interfaces.inpath).toBe("0.0.0.0");
  });

  test("ambiguous, unrecognized and incomplete commands", () => {
    const amb = refuse(["in 1"]);
    expect(amb.message).toMatch(/Ambiguous command: 'in' could be in-path, interface/);
    expect(amb.detail).toMatchObject({ kind: "ambiguous", wordIndex: 0, column: 0 });
    const unk = refuse(["datastore frobnicate 3"]);
    expect(unk.message).toMatch(/Unrecognized command at 'frobnicate'/);
    expect(unk.detail).toMatchObject({ kind: "unrecognized", wordIndex: 1, column: 10 });
    const inc = refuse(["datastore sync peer-ip"]);
    expect(inc.message).toBe("Incomplete command");
    expect(inc.detail).toMatchObject({ kind: "incomplete", wordIndex: 3 });
    expect(refuse(["hostname a b"]).message).toMatch(/Unrecognized command at 'b'/);
  });

  test("removing a rule that does not exist is refused", () => {
    expect(refuse(["no in-path rule fixed-target listen-port 8099"]).message).toMatch(/No in-path rule with listen-port 8099/);
  });

  test("whole-config checks name the line that caused the conflict", () => {
    const err = refuse(["hostname ok", "web port 7800"]);
    expect(err.message).toBe("line 2: Port conflict: service port and web port both listen on 127.0.0.1:7800");
    const rule = refuse(["in-path rule fixed-target listen-port 8080 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6"]);
    expect(rule.message).toMatch(/^Port conflict: in-path rule listen-port 8080 and web port both listen on 127.0.0.1:8080$/);
    expect(refuse(["in-path rule fixed-target listen-port 8081 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6 backup-port 7900"]).message)
      .toMatch(/backup-port needs backup-addr/);
    // A swap in one batch is fine: only the final state is checked.
    const { config } = applyConfigLines(defaultConfig, ["web port 7800", "service port 8080"]);
    expect([config.webPort, config.servicePort]).toEqual([7800, 8080]);
  });

  test("a refused batch changes nothing (all or nothing)", () => {
    const base = cloneConfig(defaultConfig);
    const before = JSON.stringify(base);
    expect(() => applyConfigLines(base, ["hostname changed", "web port 99999"])).toThrow(/line 2: Invalid web port/);
    expect(JSON.stringify(base)).toBe(before);
  });
});

describe("render", () => {
  test("render and replay reproduce the configuration exactly", () => {
    const { config } = applyConfigLines(defaultConfig, [
      "hostname rt", "interface aux address 10.2.0.1", "datastore sync enable", "datastore sync secret abcdefgh",
      "datastore sync peer-ip 10.2.0.2", "in-path rule fixed-target listen-port 8081 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6 backup-addr 10.0.0.7",
      "in-path rule fixed-target listen-port 8082 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6 target-port 7900",
    ]);
    const text = renderConfig(config);
    expect(text).toContain("datastore sync secret abcdefgh\n");
    expect(text).toContain("in-path rule fixed-target listen-port 8082 dstaddr 10.0.0.5 dstport 80 target-addr 10.0.0.6 target-port 7900\n");
    expect(applyConfigLines(defaultConfig, text.split("\n")).config).toEqual(config);
    expect(renderConfig(config, { maskSecrets: true })).toContain("datastore sync secret ********\n");
    expect(applyConfigLines(defaultConfig, renderConfig(defaultConfig).split("\n")).config).toEqual(defaultConfig);
  });
});

describe("help and completion", () => {
  test("? lists what may come next, after a partial word too", () => {
    const top = configGrammar.help("").items.map((i) => i.word);
    expect(top).toEqual(["datastore", "hostname", "in-path", "interface", "no", "service", "web"]);
    expect(configGrammar.help("datastore s").items.map((i) => i.word)).toEqual(["sync"]);
    expect(configGrammar.help("web port ").items.map((i) => i.word)).toEqual(["<1-65535>"]);
    expect(configGrammar.help("datastore sync enable ").canEnd).toBe(true);
    const opts = configGrammar.help("in-path rule fixed-target listen-port 1 dstaddr 10.0.0.1 dstport 2 target-addr 10.0.0.2 ");
    expect(opts.items.map((i) => i.word)).toEqual(["backup-addr", "backup-port", "target-port"]);
    expect(opts.canEnd).toBe(true);
    expect(() => configGrammar.help("bogus ")).toThrow(GrammarError);
  });

  test("TAB completes a unique prefix and stops at the common part otherwise", () => {
    expect(configGrammar.complete("datas")).toEqual({ append: "tore ", words: ["datastore"] });
    expect(configGrammar.complete("in").append).toBe("");
    expect(configGrammar.complete("in").words).toEqual(["in-path", "interface"]);
    expect(configGrammar.complete("datastore sync re").append).toBe("connect ");
    expect(configGrammar.complete("datastore replacement-policy l").append).toBe("ru ");
    expect(configGrammar.complete("web port ").words).toEqual([]);
  });
});

describe("files", () => {
  test("load names file, line and reason for a bad line", () => {
    const path = join(dir, "bad.conf");
    writeFileSync(path, "# header\nhostname ok\n\nweb port 123456\n");
    expect(() => loadConfigFile(path)).toThrow(`${path}:4: Invalid web port '123456': must be an integer from 1 to 65535`);
    writeFileSync(path, "hostname ok\nfrobnicate\n");
    expect(() => loadConfigFile(path)).toThrow(`${path}:2: Unrecognized command at 'frobnicate'`);
    writeFileSync(path, "hostname caf\u00e9\n");
    expect(() => loadConfigFile(path)).toThrow(`${path}:1: non-ASCII`);
    expect(() => loadConfigFile(join(dir, "absent.conf"))).toThrow(/no such configuration file/);
  });

  test("save is atomic, 0600, and loads back to the same configuration", () => {
    const path = join(dir, "tandem.conf");
    const { config } = applyConfigLines(defaultConfig, ["hostname saved", "datastore sync secret abcdefgh12"]);
    writeFileSync(path, "hostname old\n");
    saveConfigFile(path, config, "written by a test");
    const text = readFileSync(path, "utf8");
    expect(text.startsWith("# written by a test\nhostname saved\n")).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadConfigFile(path)).toEqual(config);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });
});

describe("seeded fuzz", () => {
  // xorshift32: the same sequence on every run, so a failure reproduces.
  let x = 0x7a4d;
  const rand = (n: number) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
  const vocabulary = [
    "no", "hostname", "interface", "primary", "aux", "inpath", "address", "web", "service", "port", "datastore",
    "capacity-mb", "replacement-policy", "lru", "fifo", "sync", "enable", "master", "peer-ip", "mode", "async",
    "secret", "reconnect", "check-interval", "in-path", "rule", "fixed-target", "listen-port", "dstaddr", "dstport",
    "target-addr", "target-port", "backup-addr", "backup-port", "10.0.0.1", "300.1.1.1", "0", "80", "65536", "abcdefgh",
    "d", "da", "s", "in", "#", "?", "\t", "x".repeat(200),
  ];

  test("random word soup is accepted or refused with a TandemError, never anything else", () => {
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const words = Array.from({ length: 1 + rand(12) }, () => vocabulary[rand(vocabulary.length)]!);
      const line = words.join(" ");
      try {
        const r = applyConfigLines(defaultConfig, [line]);
        accepted++;
        // Whatever was accepted renders and replays to the same configuration.
        expect(applyConfigLines(defaultConfig, renderConfig(r.config).split("\n")).config).toEqual(r.config);
      } catch (err) {
        expect(err).toBeInstanceOf(TandemError);
        expect((err as TandemError).message.length).toBeGreaterThan(0);
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });

  test("random valid configurations round-trip through render and replay", () => {
    const ip = () => `10.${rand(256)}.${rand(256)}.${1 + rand(254)}`;
    for (let i = 0; i < 300; i++) {
      const lines = [
        `hostname h${rand(1000)}`, `interface primary address ${ip()}`, `web port ${1024 + rand(1000)}`,
        `service port ${3000 + rand(1000)}`, `datastore capacity-mb ${1 + rand(100000)}`,
        `datastore replacement-policy ${rand(2) ? "lru" : "fifo"}`, `${rand(2) ? "" : "no "}datastore sync master`,
        `datastore sync mode ${rand(2) ? "sync" : "async"}`, `datastore sync reconnect ${1 + rand(3600)}`,
      ];
      if (rand(2)) lines.push(`interface aux address ${ip()}`, `datastore sync peer-ip ${ip()}`, `datastore sync secret s${rand(1e9)}-secret`, "datastore sync enable");
      for (let r = rand(5); r > 0; r--) {
        lines.push(`in-path rule fixed-target listen-port ${5000 + rand(1000)} dstaddr ${ip()} dstport ${1 + rand(65535)} target-addr ${ip()}` +
          (rand(2) ? ` target-port ${1 + rand(65535)}` : "") + (rand(2) ? ` backup-addr ${ip()} backup-port ${1 + rand(65535)}` : ""));
      }
      let config;
      try {
        config = applyConfigLines(defaultConfig, lines).config;
      } catch (err) {
        expect((err as TandemError).message).toMatch(/Port conflict/);
        continue;
      }
      expect(applyConfigLines(defaultConfig, renderConfig(config).split("\n")).config).toEqual(config);
    }
  });
});

test("service secret: the inner-channel peering secret is set, rendered, masked, undone and validated", () => {
  const set = applyConfigLines(defaultConfig, ["service secret channel-secret-1"]).config;
  expect(set.serviceSecret).toBe("channel-secret-1");
  expect(renderConfig(set)).toContain("service secret channel-secret-1\n");
  expect(renderConfig(set, { maskSecrets: true })).toContain("service secret ********\n");
  expect(applyConfigLines(set, ["no service secret"]).config.serviceSecret).toBeNull();
  expect(() => applyConfigLines(defaultConfig, ["service secret short"])).toThrow(/8 to 128 characters/);
});
