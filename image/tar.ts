// A deterministic tar writer (POSIX ustar) for the appliance image: entries sorted by
// path, owner root:root, modes normalised, every mtime the same fixed value (the
// commit time), so two builds of one commit give identical bytes. gzip comes from
// node:zlib, whose header carries no timestamp or file name.
import { gzipSync } from "node:zlib";

export interface TarEntry {
  path: string;            // relative, no leading slash; directories end without slash
  type: "file" | "dir" | "symlink";
  mode: number;            // e.g. 0o755 / 0o644
  data?: Uint8Array;       // files
  linkTarget?: string;     // symlinks
}

const blockBytes = 512;
const encoder = new TextEncoder();

function writeString(header: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  header.set(bytes, offset);
}

function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  writeString(header, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

/** Splits a path into ustar prefix (≤155) and name (≤100). */
function splitPath(path: string): { prefix: string; name: string } {
  if (encoder.encode(path).length <= 100) return { prefix: "", name: path };
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100) return { prefix, name };
  }
  throw new Error(`path too long for ustar: ${path}`);
}

function header(entry: TarEntry, mtimeS: number): Uint8Array {
  const h = new Uint8Array(blockBytes);
  const { prefix, name } = splitPath(entry.type === "dir" ? entry.path + "/" : entry.path);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, entry.mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, entry.type === "file" ? entry.data!.length : 0);
  writeOctal(h, 136, 12, mtimeS);
  h.fill(0x20, 148, 156); // checksum field counts as spaces
  h[156] = entry.type === "file" ? 0x30 : entry.type === "dir" ? 0x35 : 0x32;
  if (entry.type === "symlink") writeString(h, 157, 100, entry.linkTarget!);
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  writeString(h, 265, 32, "root");
  writeString(h, 297, 32, "root");
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** The tar archive of `entries` (sorted here), every entry stamped with `mtimeS`. */
export function buildTar(entries: TarEntry[], mtimeS: number): Uint8Array {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Uint8Array[] = [];
  for (const entry of sorted) {
    parts.push(header(entry, mtimeS));
    if (entry.type === "file") {
      parts.push(entry.data!);
      const pad = (blockBytes - (entry.data!.length % blockBytes)) % blockBytes;
      if (pad) parts.push(new Uint8Array(pad));
    }
  }
  parts.push(new Uint8Array(blockBytes * 2));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function buildTarGz(entries: TarEntry[], mtimeS: number): Uint8Array {
  return gzipSync(buildTar(entries, mtimeS), { level: 9 });
}
