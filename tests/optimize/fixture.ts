// Shared pieces of the optimization tests: a real HTTP file server (downloads of real
// and generated data, uploads answered with their sha256), real appliance processes
// (`tandem start` through tests/helpers/agents.ts) with startup configs in the console
// grammar, and curl as the client. Everything binds inside 127.0.5.0/24.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent, type Agent } from "../helpers/agents.ts";

export const net = "127.0.5";

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes (xorshift32), compressible only by dedup. */
export function generated(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const words = new Uint32Array(out.buffer, 0, bytes >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  return out;
}

export interface FileServer {
  host: string;
  port: number;
  files: Map<string, Uint8Array>;
  stop(): void;
}

/** Serves `files` by path; POST answers with the sha256 and length of the body. */
export function startFileServer(host: string, files: Map<string, Uint8Array>): FileServer {
  const server = Bun.serve({
    hostname: host, port: 0, idleTimeout: 120,
    async fetch(request) {
      if (request.method === "POST") {
        const hash = createHash("sha256");
        let length = 0;
        for await (const chunk of request.body!) {
          hash.update(chunk);
          length += chunk.length;
        }
        return Response.json({ sha256: hash.digest("hex"), length });
      }
      const body = files.get(new URL(request.url).pathname);
      return body ? new Response(body as Uint8Array<ArrayBuffer>) : new Response("not found", { status: 404 });
    },
  });
  return { host, port: server.port!, files, stop: () => server.stop(true) };
}

export interface CurlResult {
  exitCode: number;
  body: Uint8Array;
  stderr: string;
}

export async function curl(args: string[], timeoutS = 60): Promise<CurlResult> {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", String(timeoutS), ...args], { stdout: "pipe", stderr: "pipe" });
  const [body, stderr] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text()]);
  return { exitCode: await proc.exited, body: new Uint8Array(body), stderr };
}

export function tempDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `tandem-opt-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A server-side (data-centre) appliance: inner channels on `addr`:7800. */
export function serverAppliance(dir: string, name: string, addr: string): Promise<Agent> {
  return startAgent({
    name, dir: join(dir, name),
    configLines: [`hostname ${name}`, `interface primary address ${addr}`, `interface inpath address ${addr}`],
  });
}

export interface RuleSpec {
  listenPort: number;
  dst: FileServer | { host: string; port: number };
  target: [string, number];
  backup?: [string, number];
}

export function ruleLine(r: RuleSpec): string {
  const backup = r.backup ? ` backup-addr ${r.backup[0]} backup-port ${r.backup[1]}` : "";
  return `in-path rule fixed-target listen-port ${r.listenPort} dstaddr ${r.dst.host} dstport ${r.dst.port} ` +
    `target-addr ${r.target[0]} target-port ${r.target[1]}${backup}`;
}

/** A client-side (branch) appliance with in-path rules. */
export function clientAppliance(dir: string, name: string, addr: string, rules: RuleSpec[]): Promise<Agent> {
  return startAgent({
    name, dir: join(dir, name),
    configLines: [`hostname ${name}`, `interface primary address ${addr}`, `interface inpath address ${addr}`, ...rules.map(ruleLine)],
  });
}

/** Resident set size of a process in bytes (from /proc). */
export function rssBytes(pid: number): number {
  try {
    const status = require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8") as string;
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return kb * 1024;
  } catch {
    return 0;
  }
}
