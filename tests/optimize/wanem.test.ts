// The WAN emulator (tests/tools/wanem.ts), which the optimization tests, the WAN
// benchmark and the lab rely on: bytes pass intact both ways with half-close, a lower
// bandwidth takes proportionally longer (compared within the run, no absolute
// thresholds), `cut()` resets every current connection, and it runs as a process
// driven by stdin commands.
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as nodeNet from "node:net";
import { startWanEm } from "../tools/wanem.ts";
import { generated, net, sha256 } from "./fixture.ts";

const emAddr = `${net}.41`;
const echoAddr = `${net}.140`;
let echo: { port: number; stop(force?: boolean): void };

/** Echo server that answers everything it read once the client half-closes. */
beforeAll(() => {
  echo = Bun.listen<{ n: number }>({
    hostname: echoAddr, port: 0, allowHalfOpen: true,
    socket: {
      open(s) { s.data = { n: 0 }; },
      data(s, d) {
        s.data.n += d.length;
        s.write(d);   // small test volumes: the kernel buffers suffice
      },
      end(s) { s.shutdown(); },
      close() {},
    },
  });
});
afterAll(() => echo?.stop(true));

function roundTrip(port: number, payload: Uint8Array): Promise<{ echoed: Uint8Array; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const sock = nodeNet.connect({ host: emAddr, port, allowHalfOpen: true });
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("end", () => {
      resolve({ echoed: Buffer.concat(chunks), ms: performance.now() - started });
      sock.end();
    });
    sock.on("error", reject);
    sock.end(payload);
  });
}

test("bytes pass intact both ways; half-close is carried; lower bandwidth takes proportionally longer", async () => {
  const payload = generated(400_000, 1);
  const fast = await startWanEm({ listenHost: emAddr, targetHost: echoAddr, targetPort: echo.port, bandwidthBps: 32_000_000, delayMs: 5 });
  const slow = await startWanEm({ listenHost: emAddr, targetHost: echoAddr, targetPort: echo.port, bandwidthBps: 8_000_000, delayMs: 5 });
  const a = await roundTrip(fast.port, payload);
  const b = await roundTrip(slow.port, payload);
  expect(sha256(a.echoed)).toBe(sha256(payload));
  expect(sha256(b.echoed)).toBe(sha256(payload));
  expect(b.ms).toBeGreaterThan(a.ms * 2);   // 4x less bandwidth: clearly slower
  expect(fast.stats().bytesUp).toBe(payload.length);
  expect(fast.stats().bytesDown).toBe(payload.length);
  await fast.stop();
  await slow.stop();
}, 30_000);

test("cut() resets every current connection", async () => {
  const em = await startWanEm({ listenHost: emAddr, targetHost: echoAddr, targetPort: echo.port, bandwidthBps: 1_000_000 });
  const results = Array.from({ length: 3 }, () => new Promise<string>((resolve) => {
    const sock = nodeNet.connect({ host: emAddr, port: em.port, allowHalfOpen: true });
    sock.on("error", (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
    sock.on("close", () => resolve("closed"));
    sock.write(generated(200_000, 2));
  }));
  await Bun.sleep(200);
  expect(em.stats().connectionsCurrent).toBe(3);
  em.cut();
  const outcomes = await Promise.all(results);
  expect(outcomes.every((o) => o === "error ECONNRESET" || o === "closed")).toBe(true);
  expect(em.stats().connectionsCurrent).toBe(0);
  expect(em.stats().cuts).toBe(1);
  await em.stop();
}, 30_000);

test("runs as a process: prints its address, obeys stdin commands", async () => {
  const proc = Bun.spawn(["bun", `${import.meta.dir}/../tools/wanem.ts`, "--listen", `${emAddr}:0`, "--target", `${echoAddr}:${echo.port}`,
    "--bandwidth-bps", "50000000", "--delay-ms", "2"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, PATH: `${process.execPath.replace(/\/[^/]+$/, "")}:${process.env.PATH}` } });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!/wanem listening/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  const port = Number(/wanem listening [\d.]+:(\d+)/.exec(text)![1]);
  const payload = generated(100_000, 3);
  expect(sha256((await roundTrip(port, payload)).echoed)).toBe(sha256(payload));
  proc.stdin.write("stats\n");
  proc.stdin.flush();
  while (!/"ok":"stats"/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  expect(text).toContain(`"bytesUp":${payload.length}`);
  proc.stdin.write("quit\n");
  proc.stdin.flush();
  expect(await proc.exited).toBe(0);
}, 30_000);

test("server-first half-close: the client keeps sending after the target's FIN", async () => {
  const got = Promise.withResolvers<string>();
  const srv = Bun.listen<{ chunks: Uint8Array[] }>({
    hostname: echoAddr, port: 0, allowHalfOpen: true,
    socket: {
      open(s) { s.data = { chunks: [] }; s.write("banner\n"); s.shutdown(); },
      data(s, d) { s.data.chunks.push(d.slice()); },
      end(s) { got.resolve(sha256(Buffer.concat(s.data.chunks))); s.end(); },
      // Bun reports the peer's FIN on a socket it already shut down as a close.
      close(s) { got.resolve(sha256(Buffer.concat(s.data.chunks))); },
    },
  });
  const em = await startWanEm({ listenHost: emAddr, targetHost: echoAddr, targetPort: srv.port, bandwidthBps: 50_000_000, delayMs: 2 });
  const payload = generated(300_000, 4);
  const sock = nodeNet.connect({ host: emAddr, port: em.port, allowHalfOpen: true });
  let text = "";
  const banner = Promise.withResolvers<string>();
  sock.on("data", (d: Buffer) => { text += d.toString(); });
  sock.on("end", () => banner.resolve(text));
  expect(await banner.promise).toBe("banner\n");
  sock.end(payload);
  expect(await got.promise).toBe(sha256(payload));
  await em.stop();
  srv.stop(true);
}, 30_000);
