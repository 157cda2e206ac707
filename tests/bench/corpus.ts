// Real-data corpus for benchmarks and the tests that need real data: unpacked npm
// package tarballs (.tar after gunzip), fetched once with `npm pack` from the npm
// registry into a cache directory (TANDEM_CORPUS_DIR, default ~/.cache/tandem-corpus).
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { homedir } from "node:os";
import { gunzipSync } from "node:zlib";

export const corpusDir = process.env.TANDEM_CORPUS_DIR ?? join(homedir(), ".cache", "tandem-corpus");

/** Path of the unpacked tarball `name@version.tar`, fetching it on first use. */
export function packageTar(name: string, version: string): string {
  mkdirSync(corpusDir, { recursive: true });
  const safeName = `${name.replace(/[@/]/g, "_")}-${version}`;
  const tarPath = join(corpusDir, `${safeName}.tar`);
  if (existsSync(tarPath)) return tarPath;
  const packed = Bun.spawnSync(["npm", "pack", `${name}@${version}`, "--silent", "--pack-destination", corpusDir], {
    stdout: "pipe", stderr: "pipe",
  });
  if (packed.exitCode !== 0) throw new Error(`npm pack ${name}@${version} failed: ${packed.stderr.toString()}`);
  const tgzName = packed.stdout.toString().trim().split("\n").pop()!;
  const tar = gunzipSync(readFileSync(join(corpusDir, tgzName)));
  writeFileSync(tarPath + ".tmp", tar);
  renameSync(tarPath + ".tmp", tarPath);
  return tarPath;
}

/** The typescript 5.6.3 -> 5.7.2 pair of ../shared/ANCHORS.md. */
export function typescriptPair(): { before: string; after: string } {
  return { before: packageTar("typescript", "5.6.3"), after: packageTar("typescript", "5.7.2") };
}

/** At least `minBytes` of real data: several unpacked tarballs concatenated. */
export function realCorpus(minBytes = 64 * 1024 * 1024): Uint8Array {
  const sources: [string, string][] = [
    ["typescript", "5.6.3"], ["typescript", "5.7.2"], ["typescript", "5.4.5"], ["typescript", "5.5.4"],
  ];
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const [name, version] of sources) {
    if (total >= minBytes) break;
    const bytes = readFileSync(packageTar(name, version));
    parts.push(bytes);
    total += bytes.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out.subarray(0, Math.min(total, minBytes));
}
