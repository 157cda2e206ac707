// Builds the hot-path WASM module (wasm/build/tandem.wasm) from its AssemblyScript
// sources. The flags are fixed and no paths or times enter the output, so the same
// sources give the same bytes on every machine (tests/wasm/build.test.ts checks it).
// Skips the compile when the output is newer than every source, so `npm start` and
// `npm test` stay quick after the first build.
import { readdirSync, statSync, mkdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";

const wasmDir = import.meta.dir;
const sourceDir = join(wasmDir, "assembly");
export const defaultOutputPath = join(wasmDir, "build", "tandem.wasm");

const ascFlags = [
  "--runtime", "stub",
  "-O3", "--noAssert", "--converge",
  "--enable", "simd",
  "--exportStart", "_initialize",
  "--initialMemory", "2",
];

function newestSourceMs(): number {
  let newest = 0;
  for (const name of readdirSync(sourceDir)) newest = Math.max(newest, statSync(join(sourceDir, name)).mtimeMs);
  return Math.max(newest, statSync(import.meta.path).mtimeMs);
}

/** Compiles the module to `outputPath`; returns the path. */
export async function buildWasm(outputPath = defaultOutputPath, force = false): Promise<string> {
  if (!force && existsSync(outputPath) && statSync(outputPath).mtimeMs >= newestSourceMs()) return outputPath;
  mkdirSync(dirname(outputPath), { recursive: true });
  const ascBin = join(wasmDir, "..", "node_modules", "assemblyscript", "bin", "asc.js");
  const proc = Bun.spawnSync([process.execPath, ascBin, join(sourceDir, "index.ts"), "-o", outputPath, ...ascFlags], {
    cwd: join(wasmDir, ".."), stdout: "inherit", stderr: "inherit",
  });
  if (proc.exitCode !== 0) throw new Error(`asc failed with exit code ${proc.exitCode}`);
  return outputPath;
}

if (import.meta.main) {
  const force = process.argv.includes("--force");
  const outIndex = process.argv.indexOf("--out");
  const out = outIndex > 0 ? process.argv[outIndex + 1]! : defaultOutputPath;
  await buildWasm(out, force);
}
