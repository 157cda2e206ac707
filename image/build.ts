// Builds the appliance image: dist/tandem-<model>-<version>.tar.gz (+ .sha256), a
// root-filesystem overlay holding the agent under /opt/tandem (Bun runtime from the
// npm package, the bundled agent with the store's worker threads bundled beside it,
// the built WASM, and only the production node_modules that native parts need: lmdb's
// addon cannot be embedded in a `bun build --compile` binary), the default config, a
// systemd unit and a serial-getty drop-in. Reproducible: every input is a file of this
// commit or of the locked packages, entries are sorted and stamped with the commit time.
import { readFileSync, readdirSync, statSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { createHash } from "node:crypto";
import { buildTarGz, type TarEntry } from "./tar.ts";
import { buildWasm } from "../wasm/build.ts";
import type { StoreWorkerName } from "../agent/store/worker-path.ts";

const repoRoot = join(import.meta.dir, "..");
const optRoot = "opt/tandem";
/** Packages copied whole (with their dependency closure) because they carry native code. */
const externalPackages = ["lmdb", "msgpackr"];
/** Worker-thread modules of agent/store/ (worker-path.ts), bundled beside the agent. */
const storeWorkerNames: StoreWorkerName[] = ["prep-worker", "verify-worker"];
const skippedDirNames = new Set(["src", "dependencies", "test", "tests", "benchmark", ".github", "deps"]);

function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function commitTimeS(): number {
  const git = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const value = Number(git.stdout.toString().trim());
  return Number.isInteger(value) && value > 0 ? value : 0;
}

function commitId(): string {
  const git = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  return git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
}

function keepPackageFile(name: string): boolean {
  if (/\.(md|d\.ts|d\.cts|map|gyp|gypi|cc|cpp|h|c)$/i.test(name)) return false;
  if (name.endsWith(".node") && name.includes("musl")) return false;
  return true;
}

function addTree(entries: TarEntry[], sourceDir: string, targetDir: string): void {
  entries.push({ path: targetDir, type: "dir", mode: 0o755 });
  for (const name of readdirSync(sourceDir).sort()) {
    const source = join(sourceDir, name);
    const stats = statSync(source);
    if (stats.isDirectory()) {
      if (!skippedDirNames.has(name)) addTree(entries, source, `${targetDir}/${name}`);
    } else if (keepPackageFile(name)) {
      entries.push({ path: `${targetDir}/${name}`, type: "file", mode: stats.mode & 0o111 ? 0o755 : 0o644, data: readFileSync(source) });
    }
  }
}

/** The named packages and everything they depend on that is installed, top-level names only. */
function dependencyClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name) || !existsSync(join(repoRoot, "node_modules", name, "package.json"))) continue;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8"));
    queue.push(...Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }));
  }
  return [...seen].sort();
}

function file(path: string, data: Uint8Array | string, mode = 0o644): TarEntry {
  return { path, type: "file", mode, data: typeof data === "string" ? new TextEncoder().encode(data) : data };
}

function parentDirs(entries: TarEntry[]): TarEntry[] {
  const have = new Set(entries.filter((e) => e.type === "dir").map((e) => e.path));
  const dirs: TarEntry[] = [];
  for (const entry of entries) {
    const parts = entry.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!have.has(dir)) {
        have.add(dir);
        dirs.push({ path: dir, type: "dir", mode: 0o755 });
      }
    }
  }
  return dirs;
}

export async function buildImage(outDir = join(repoRoot, "dist")): Promise<{ path: string; bytes: number; sha256: string }> {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
  const model: string = pkg.tandem.model;
  const softwareVersion: string = pkg.tandem.softwareVersion;
  const mtimeS = commitTimeS();

  const wasmPath = await buildWasm();
  {
    // The store's worker threads are entry points of their own: each becomes a .js file
    // beside main.js, where agent/store/worker-path.ts looks for it at run time.
    const entryNames = ["main", ...storeWorkerNames];
    const bundled = await Bun.build({
      entrypoints: [join(repoRoot, "agent", "main.ts"), ...storeWorkerNames.map((name) => join(repoRoot, "agent", "store", `${name}.ts`))],
      target: "bun",
      external: [...externalPackages, "assemblyscript", "playwright-core"],
      minify: false,
      naming: "[name].[ext]",
    });
    if (!bundled.success) throw new Error(`bundle failed: ${bundled.logs.join("\n")}`);
    const bundles = await Promise.all(bundled.outputs.map(async (output) => ({
      name: output.path.replace(/^\.\//, ""), data: new Uint8Array(await output.arrayBuffer()),
    })));
    const bundleNames = bundles.map((b) => b.name).sort().join(", ");
    if (bundleNames !== entryNames.map((name) => `${name}.js`).sort().join(", ")) {
      throw new Error(`expected bundles of ${entryNames.join(", ")}, got ${bundleNames}`);
    }

    const entries: TarEntry[] = [];
    const bunBinary = join(repoRoot, "node_modules", "bun", "bin", "bun.exe");
    entries.push(file(`${optRoot}/bin/bun`, readFileSync(bunBinary), 0o755));
    entries.push(file(`${optRoot}/bin/tandem`,
      `#!/bin/sh\n# Runs the Tandem agent with the Bun runtime shipped in this image.\nhere="\${0%/bin/tandem}"\nexec "$here/bin/bun" "$here/agent/main.js" "$@"\n`, 0o755));
    entries.push(file(`${optRoot}/bin/tandem-console`,
      `#!/bin/sh\n# Serial-console login program: the Tandem shell on this terminal.\nhere="\${0%/bin/tandem-console}"\nexec "$here/bin/tandem" console --data /var/lib/tandem\n`, 0o755));
    for (const bundle of bundles) entries.push(file(`${optRoot}/agent/${bundle.name}`, bundle.data));
    entries.push(file(`${optRoot}/wasm/build/tandem.wasm`, readFileSync(wasmPath)));
    entries.push(file(`${optRoot}/package.json`, JSON.stringify({ name: "tandem-appliance", private: true, type: "module" }) + "\n"));
    for (const name of dependencyClosure(externalPackages)) addTree(entries, join(repoRoot, "node_modules", name), `${optRoot}/node_modules/${name}`);
    addTree(entries, join(import.meta.dir, "rootfs", "etc"), "etc");

    const files = entries.filter((e) => e.type === "file").sort((a, b) => (a.path < b.path ? -1 : 1));
    const manifest = {
      product: "Tandem",
      model,
      softwareVersion,
      commit: commitId(),
      buildTime: new Date(mtimeS * 1000).toISOString(),
      files: Object.fromEntries(files.map((e) => [`/${e.path}`, sha256Hex(e.data!)])),
    };
    entries.push(file(`${optRoot}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n"));
    entries.push(...parentDirs(entries));
    const seenDirs = new Set<string>();
    const unique = entries.filter((e) => (e.type !== "dir" ? true : seenDirs.has(e.path) ? false : (seenDirs.add(e.path), true)));

    const archive = buildTarGz(unique, mtimeS);
    mkdirSync(outDir, { recursive: true });
    const name = `tandem-${model}-${softwareVersion}.tar.gz`;
    const path = join(outDir, name);
    const sha256 = sha256Hex(archive);
    writeFileSync(path, archive);
    writeFileSync(`${path}.sha256`, `${sha256}  ${name}\n`);
    return { path, bytes: archive.length, sha256 };
  }
}

if (import.meta.main) {
  const outIndex = process.argv.indexOf("--out");
  const result = await buildImage(outIndex > 0 ? process.argv[outIndex + 1] : undefined);
  console.log(JSON.stringify({ image: relative(process.cwd(), result.path), bytes: result.bytes, sha256: result.sha256 }));
}
