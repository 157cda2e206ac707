// The console's line editor fed byte by byte: editing keys, escape sequences,
// history, `?` and TAB hooks, type-ahead across lines, and the plain (dumb terminal)
// mode; plus the 80-column formatting of console output.
import { describe, expect, test } from "bun:test";
import { consoleColumns, showCheck, showConnections, showLog, showSync, showVersion, wrap } from "../../agent/console/format.ts";
import { LineEditor, type LineHandlers } from "../../agent/console/terminal.ts";
import type { SyncStatus } from "../../agent/services.ts";

function editor(smart = true) {
  let out = "";
  const helped: string[] = [];
  const ed = new LineEditor({ smart, writeRaw: (t) => { out += t; } });
  const handlers: LineHandlers = {
    help: (l) => { helped.push(l); },
    complete: (l) => (l.endsWith("sh") ? { append: "ow ", words: ["show"] } : { append: "", words: ["in-path", "interface"] }),
  };
  const keys = (s: string) => ed.feed(Buffer.from(s, "latin1"));
  return { ed, handlers, keys, helped, output: () => out };
}

describe("line editor (raw mode)", () => {
  test("backspace, ctrl-U, ctrl-W, arrows and insertion mid-line", async () => {
    const e = editor();
    const line = e.ed.readLine("p > ", e.handlers);
    e.keys("shwo\x7f\x7fow ver\x17version\x1b[D\x1b[D\x1b[D\x1b[DX\x1b[3~\r");
    expect(await line).toBe("show verXion");
    const second = e.ed.readLine("p > ", e.handlers);
    e.keys("junk\x15\x01ok\x05!\r");
    expect(await second).toBe("ok!");
    expect(e.output()).not.toMatch(/[^\x07\x08\x0a\x0d\x1b\x20-\x7e]/);
  });

  test("history up/down, ctrl-C abandons, ctrl-D leaves on an empty line", async () => {
    const e = editor();
    const first = e.ed.readLine("> ", e.handlers);
    e.keys("one\rtwo\r");
    expect(await first).toBe("one");
    expect(await e.ed.readLine("> ", e.handlers)).toBe("two");
    const third = e.ed.readLine("> ", e.handlers);
    e.keys("\x1b[A\x1b[A\x1b[B\r");
    expect(await third).toBe("two");
    const fourth = e.ed.readLine("> ", e.handlers);
    e.keys("abandoned\x03");
    expect(await fourth).toBe("");
    expect(e.output()).toContain("^C\r\n");
    const fifth = e.ed.readLine("> ", e.handlers);
    e.keys("\x04");
    expect(await fifth).toBeNull();
  });

  test("? asks for help without ending the line; ctrl-V types a literal ?", async () => {
    const e = editor();
    const line = e.ed.readLine("> ", e.handlers);
    e.keys("show ?");
    expect(e.helped).toEqual(["show "]);
    e.keys("x\x16?y\r");
    expect(await line).toBe("show x?y");
  });

  test("TAB appends the completion or lists the candidates", async () => {
    const e = editor();
    const line = e.ed.readLine("> ", e.handlers);
    e.keys("sh\t");
    e.keys("in\t");
    expect(e.output()).toContain("in-path  interface");
    e.keys("\r");
    expect(await line).toBe("show in");
  });

  test("a key pressed while no line is read is an interrupt (raw mode only)", async () => {
    const e = editor();
    expect(e.ed.takeInterrupt()).toBe(false);
    e.keys("x");
    expect(e.ed.takeInterrupt()).toBe(true);
    expect(e.ed.takeInterrupt()).toBe(false);
    const plain = editor(false);
    plain.keys("show version\n");
    expect(plain.ed.takeInterrupt()).toBe(false);
    expect(await plain.ed.readLine("> ", plain.handlers)).toBe("show version");
  });

  test("CR LF and pasted lines: one line each, the rest waits for the next read", async () => {
    const e = editor();
    const first = e.ed.readLine("> ", e.handlers);
    e.keys("a\r\nb\r\nc");
    expect(await first).toBe("a");
    expect(await e.ed.readLine("> ", e.handlers)).toBe("b");
    const third = e.ed.readLine("> ", e.handlers);
    e.ed.end();
    expect(await third).toBeNull();
  });
});

describe("line editor (dumb terminal)", () => {
  test("plain lines; a trailing ? prints help and asks again; no escape sequences", async () => {
    const e = editor(false);
    const line = e.ed.readLine("> ", e.handlers);
    e.keys("show ?\nshow version\n");
    expect(await line).toBe("show version");
    expect(e.helped).toEqual(["show "]);
    expect(e.output()).toBe("> > ");
    const last = e.ed.readLine("> ", e.handlers);
    e.keys("exit");
    e.ed.end();
    expect(await last).toBe("exit");
  });
});

describe("80-column output", () => {
  test("long lines wrap under 80 columns with an indent", () => {
    const lines = wrap("x ".repeat(100).trim(), 4);
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l.length).toBeLessThan(consoleColumns);
    expect(lines[1]!.startsWith("    x")).toBe(true);
  });

  test("show outputs stay within 80 columns with long values", () => {
    const status: SyncStatus = {
      state: "refused", role: "backup", peer: "203.0.113.200:7744", mode: "sync", effectiveMode: "async",
      refusedReason: "peer refused: model TDM-1000 does not match TDM-2000 and software version 0.1.0 does not match 0.2.0 either",
      eligibleForTakeover: false, initialSync: { percent: 42.5, bytesDone: 123456789, bytesTotal: 987654321 },
      lagSegments: 12, lagS: 3.5, sentSegments: 1, receivedSegments: 2, sentBytes: 3, receivedBytes: 4,
      lastCheck: null, restartRequired: "sync role change takes effect after restart",
    };
    const connections = showConnections([{
      id: 123456, rule: "8081 -> 203.0.113.250:65535 via 198.51.100.200:7800 backup 198.51.100.201:7801", side: "client",
      clientAddr: "203.0.113.199:65000", serverAddr: "203.0.113.250:65535", peer: "198.51.100.200:7800", state: "pass-through",
      startedMs: 0, lanBytesIn: 1e12, lanBytesOut: 1e12, wanBytesIn: 1e9, wanBytesOut: 1e9,
    }], 86400_000);
    const version = showVersion({ product: "Tandem", model: "TDM-1000", softwareVersion: "0.1.0", hostname: "h".repeat(63), uptimeS: 1e6, dataDir: "/var/lib/" + "d".repeat(90) },
      [{ name: "optimization", state: "failed", detail: "listen 127.0.0.1:7800: address already in use (EADDRINUSE) while starting the inner-channel listener" }]);
    const text = connections + "\n" + version + "\n" + showSync(status) + "\n" + showLog([{ id: 1, timeMs: 0, severity: "warning", subsystem: "sync", message: "y".repeat(200), alarm: "peer_refused" }]);
    for (const l of text.split("\n")) expect(l.length).toBeLessThan(consoleColumns);
    expect(text).toContain("[#############.................] 43%");
    expect(text).toMatch(/^State: +refused$/m);
  });
});

describe("datastore sync check output", () => {
  test("says in sync, not run (peer unreachable) or differences found, never confusing the last two", () => {
    const base = { timeMs: 0, missingHere: 0, missingThere: 0, corruptRepaired: 0, bytes: 0 };
    expect(showCheck({ ...base, inSync: true, roundTrips: 2, message: "in sync" })).toMatch(/^Result: +in sync$/m);
    expect(showCheck({ ...base, inSync: false, roundTrips: 0, message: "check not run: sync peer not connected" }))
      .toMatch(/^Result: +not run\nMessage: +check not run: sync peer not connected$/m);
    expect(showCheck({ ...base, inSync: false, roundTrips: 3, missingHere: 4, message: "difference found and repaired: 4 fetched" }))
      .toMatch(/^Result: +differences found$/m);
  });
});
