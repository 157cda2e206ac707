// Shared pieces of the store tests: temporary data directories, deterministic
// segments (text-like ones that LZ4 compresses and random ones it cannot), and a
// runner for the real `tandem` CLI in a child process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SegmentInput } from "../../agent/store/index.ts";
import { blake3 } from "../../wasm/index.ts";

export const repoRoot = join(import.meta.dir, "..", "..");
const made: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-store-test-"));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];

/** `count` distinct segments of about `bytes` each; "text" compresses, "random" does not. */
export function makeSegments(count: number, seed: number, kind: "text" | "random" = "text", bytes = 8192): SegmentInput[] {
  const random = xorshift(seed);
  const out: SegmentInput[] = [];
  for (let n = 0; n < count; n++) {
    const data = new Uint8Array(bytes);
    if (kind === "random") {
      for (let i = 0; i < bytes; i++) data[i] = Math.floor(random() * 256);
    } else {
      const text = Array.from({ length: Math.ceil(bytes / 5) }, () => words[Math.floor(random() * words.length)]).join(" ");
      data.set(new TextEncoder().encode(`${seed}:${n}:${text}`).subarray(0, bytes));
    }
    out.push({ label: blake3(data), data });
  }
  return out;
}

export function hex(label: Uint8Array): string {
  return Buffer.from(label).toString("hex");
}

/** Runs `tandem ARGS...` as the real command (bun agent/main.ts). */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, join(repoRoot, "agent", "main.ts"), ...args], {
    stdout: "pipe", stderr: "pipe", cwd: repoRoot,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
