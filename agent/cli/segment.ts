// `tandem segment FILE [--min N --avg N --max N --level N --seed N]`: cuts a file (or
// stdin, FILE = -) into FastCDC 2020 segments and prints one line per segment,
// `offset length blake3-hex`. Input is streamed through StreamChunker in bounded
// reads, so a multi-gigabyte file never sits in memory whole; output is flushed per read.
import { closeSync, openSync, readSync } from "node:fs";
import { TandemError } from "../errors.ts";
import { intOption, parseArgs, usageError } from "./args.ts";
import { defaultChunkParams, StreamChunker, type ChunkParams, type Segment } from "../../wasm/index.ts";

/** Bytes read from the file per step. */
export const segmentReadBytes = 1024 * 1024;

const usage = "usage: tandem segment FILE|- [--min N --avg N --max N --level N --seed N]";

function formatSegments(segments: Segment[]): string {
  let text = "";
  for (const s of segments) text += `${s.offset} ${s.length} ${Buffer.from(s.label.buffer, s.label.byteOffset, 32).toString("hex")}\n`;
  return text;
}

/** The pieces of a file, read synchronously in bounded steps into one reused buffer. */
function* filePieces(path: string): Generator<Uint8Array> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new TandemError("notFound", `cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const buffer = new Uint8Array(segmentReadBytes);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        throw new TandemError("badInput", `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      if (n === 0) return;
      yield buffer.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["min", "avg", "max", "level", "seed"]);
  if (args.positionals.length !== 1) throw usageError(usage);
  const path = args.positionals[0]!;
  const params: ChunkParams = {
    minBytes: intOption(args, "min", defaultChunkParams.minBytes, 64, 1_048_576),
    avgBytes: intOption(args, "avg", defaultChunkParams.avgBytes, 256, 4_194_304),
    maxBytes: intOption(args, "max", defaultChunkParams.maxBytes, 1024, 16_777_216),
    level: intOption(args, "level", defaultChunkParams.level, 0, 3),
    seed: intOption(args, "seed", defaultChunkParams.seed, 0, Number.MAX_SAFE_INTEGER),
  };
  if (!(params.minBytes <= params.avgBytes && params.avgBytes <= params.maxBytes)) {
    throw usageError(`segment sizes must satisfy --min <= --avg <= --max, got ${params.minBytes}/${params.avgBytes}/${params.maxBytes}`);
  }
  const chunker = new StreamChunker(params);
  const pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = path === "-" ? Bun.stdin.stream() : filePieces(path);
  const out = Bun.stdout.writer();
  try {
    for await (const piece of pieces) {
      const text = formatSegments(chunker.push(piece));
      if (text) {
        out.write(text);
        await out.flush();
      }
    }
    out.write(formatSegments(chunker.finish()));
    await out.flush();
  } catch (err) {
    // A reader that went away (`| head`) is not an error of ours.
    if ((err as NodeJS.ErrnoException).code === "EPIPE") return 0;
    throw err;
  }
  return 0;
}
