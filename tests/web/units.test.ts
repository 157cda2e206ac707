// The web UI's pure parts: the login limiter's bounds and window, session bounds and
// expiry, constant-time secret comparison, display formatting, the SVG chart, and the
// browser script assembled from function sources (it must parse as one script).
import { describe, expect, test } from "bun:test";
import { chartSvg, fmtValue } from "../../web/assets/shared.ts";
import { clientScript } from "../../web/assets/client.ts";
import { defaultWebLimits } from "../../web/limits.ts";
import { LoginLimiter } from "../../web/ratelimit.ts";
import { sameSecret, SessionStore } from "../../web/sessions.ts";

describe("LoginLimiter", () => {
  const limits = { loginFailuresPerClientMax: 3, loginFailuresGlobalMax: 5, loginWindowMs: 10_000, limiterClientsMax: 4 };

  test("refuses a client after its bound until its oldest counted failure leaves the window", () => {
    let t = 0;
    const l = new LoginLimiter(limits, () => t);
    l.fail("a");
    t = 1_000;
    l.fail("a");
    t = 2_000;
    expect(l.retryAfterS("a")).toBe(0);
    l.fail("a");
    expect(l.retryAfterS("a")).toBe(8); // the first failure (t=0) leaves at t=10 000
    expect(l.retryAfterS("b")).toBe(0);
    t = 10_000;
    expect(l.retryAfterS("a")).toBe(0);
    l.succeed("a");
    expect(l.retryAfterS("a")).toBe(0);
  });

  test("the global bound refuses everyone", () => {
    let t = 0;
    const l = new LoginLimiter(limits, () => t);
    for (const c of ["a", "b", "c", "d", "e"]) l.fail(c);
    expect(l.retryAfterS("fresh")).toBe(10);
    t = 10_000;
    expect(l.retryAfterS("fresh")).toBe(0);
  });

  test("remembers at most limiterClientsMax clients", () => {
    const l = new LoginLimiter({ ...limits, loginFailuresPerClientMax: 1, loginFailuresGlobalMax: 1000 }, () => 0);
    for (const c of ["a", "b", "c", "d", "e"]) l.fail(c);
    expect(l.retryAfterS("a")).toBe(0); // forgotten: the oldest went first
    expect(l.retryAfterS("e")).toBe(10);
  });
});

describe("SessionStore", () => {
  test("drops the least recently used past sessionsMax", () => {
    const s = new SessionStore({ sessionsMax: 2, sessionIdleMs: 1e9, sessionLifetimeMs: 1e9 }, () => 0);
    const a = s.create("admin");
    const b = s.create("admin");
    expect(s.get(a.id)).not.toBeNull(); // a is now the most recently used
    s.create("admin");
    expect(s.size()).toBe(2);
    expect(s.get(b.id)).toBeNull();
    expect(s.get(a.id)).not.toBeNull();
  });

  test("ends a busy session at its lifetime and an idle one at the idle time", () => {
    let t = 0;
    const s = new SessionStore({ sessionsMax: 10, sessionIdleMs: 100, sessionLifetimeMs: 250 }, () => t);
    const busy = s.create("admin");
    const idle = s.create("admin");
    for (t = 50; t <= 250; t += 50) expect(s.get(busy.id)).not.toBeNull();
    expect(s.get(idle.id)).toBeNull();
    t = 251;
    expect(s.get(busy.id)).toBeNull();
    expect(s.get(undefined)).toBeNull();
  });

  test("ids and CSRF tokens are random and distinct", () => {
    const s = new SessionStore(defaultWebLimits);
    const a = s.create("admin");
    const b = s.create("admin");
    expect(a.id).not.toBe(b.id);
    expect(a.csrf).not.toBe(a.id);
    expect(a.id.length).toBeGreaterThanOrEqual(40);
  });
});

test("sameSecret compares whole secrets", () => {
  expect(sameSecret("abc", "abc")).toBe(true);
  expect(sameSecret("abc", "abd")).toBe(false);
  expect(sameSecret("abc", "abcd")).toBe(false);
  expect(sameSecret("", "")).toBe(true);
});

test("fmtValue", () => {
  expect(fmtValue(0, "bytes")).toBe("0 B");
  expect(fmtValue(1536, "bytes")).toBe("1.50 KiB");
  expect(fmtValue(3 * 1024 * 1024 * 1024, "rate")).toBe("3.00 GiB/s");
  expect(fmtValue(21.1, "ratio")).toBe("21.1×");
  expect(fmtValue(1.982, "ratio")).toBe("1.98×");
  expect(fmtValue(100, "pct")).toBe("100 %");
  expect(fmtValue(4.66, "pct")).toBe("4.7 %");
  expect(fmtValue(125, "s")).toBe("2 min 5 s");
  expect(fmtValue(12345, "int")).toBe("12,345");
  expect(fmtValue(null, "bytes")).toBe("–");
  expect(fmtValue(null, "opt")).toBe("");
  expect(fmtValue(true, "")).toBe("yes");
  expect(fmtValue("in-sync", "")).toBe("in-sync");
});

test("chartSvg draws one path per series, breaks lines at gaps and escapes text", () => {
  const svg = chartSvg("t<itle>", [
    { name: "LAN", cls: "lan", values: [1, 2, null, 4] },
    { name: "W&N", cls: "wan", values: [0, 0, 0, 0] },
  ], "rate", "last 6 s");
  expect(svg.match(/<path /g)?.length).toBe(2);
  const lan = /class="line lan" d="([^"]+)"/.exec(svg)![1]!;
  expect(lan.match(/M/g)?.length).toBe(2); // a gap starts a new segment
  expect(svg).toContain("t&lt;itle&gt;");
  expect(svg).toContain("W&amp;N");
  expect(svg).toContain("last 6 s");
  expect(chartSvg("empty", [{ name: "x", cls: "lan", values: [] }], "rate", "")).toContain("collecting samples");
});

test("the browser script parses as one script", () => {
  const script = clientScript();
  expect(() => new Function(script)).not.toThrow();
  expect(script).toContain("/api/status");
});
