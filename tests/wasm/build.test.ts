// The WASM build is reproducible: compiling the same sources twice, to two different
// output paths, gives the same bytes (no paths, times or randomness in the output).
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repoRoot = join(import.meta.dir, "..", "..");

test("building the WASM module twice gives identical bytes", () => {
  const dir = mkdtempSync(join(tmpdir(), "tandem-wasm-build-"));
  try {
    const outputs = [join(dir, "first.wasm"), join(dir, "second", "other-name.wasm")];
    for (const out of outputs) {
      const proc = Bun.spawnSync([process.execPath, "run", join(repoRoot, "wasm", "build.ts"), "--force", "--out", out], {
        cwd: repoRoot, stdout: "pipe", stderr: "pipe",
      });
      expect(proc.exitCode).toBe(0);
    }
    const [first, second] = outputs.map((path) => readFileSync(path));
    expect(first!.length).toBeGreaterThan(1000);
    expect(Buffer.compare(first!, second!)).toBe(0);
    // And the module carries the kernels the loader expects.
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(first!)).map((e) => e.name);
    for (const name of ["arenaBase", "blake3Hash", "blake3Many", "fastcdcConfigure", "fastcdcCut", "fastcdcChunkAndHash"]) {
      expect(exports).toContain(name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
