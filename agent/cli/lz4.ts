// `tandem compress` and `tandem decompress`: stdin to stdout in the LZ4 frame format,
// interoperable with the `lz4` command. Streams in bounded memory (one frame block
// plus one stdin chunk; output is written before more input is read), so inputs of
// any size work. Corrupt or truncated input ends with a message on stderr
// and exit code 1; bad options with exit code 2.
import { writeSync } from "node:fs";
import { TandemError, asTandemError } from "../errors.ts";
import { intOption, parseArgs } from "./args.ts";
import { Lz4FrameDecoder, Lz4FrameEncoder, lz4FrameBlockBytesChoices } from "../../wasm/lz4.ts";

const compressUsage = `usage: tandem compress [--block-bytes 65536|262144|1048576|4194304] [--high] [--linked] [--block-checksum] [--no-content-checksum] < in > out.lz4`;
const decompressUsage = `usage: tandem decompress [--raw-bytes-max N] < in.lz4 > out`;

/** Waits between retries when stdout is a non-blocking pipe that is full. */
export const stdoutRetryMs = 2;

/**
 * Writes to stdout synchronously: the process does nothing else, and a blocking write
 * is the simplest backpressure (memory stays at one block while the reader is slow).
 * A closed reader (EPIPE) ends the command with a TandemError.
 */
class StdoutSink {
  async write(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) {
      let offset = 0;
      while (offset < part.length) {
        try {
          offset += writeSync(1, part, offset, part.length - offset);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EAGAIN") {
            await Bun.sleep(stdoutRetryMs);
            continue;
          }
          if (code === "EPIPE") throw new TandemError("unavailable", "output closed before the end (broken pipe)");
          throw err;
        }
      }
    }
  }
}

async function pump(transform: (chunk: Uint8Array) => Uint8Array[], finish: () => Uint8Array[]): Promise<void> {
  const out = new StdoutSink();
  for await (const chunk of Bun.stdin.stream()) await out.write(transform(chunk as Uint8Array));
  await out.write(finish());
}

function parseOrUsage(argv: string[], valued: string[], flags: string[], usage: string, name: string): ReturnType<typeof parseArgs> | number {
  try {
    const args = parseArgs(argv, valued, flags);
    if (args.positionals.length > 0) throw new TandemError("badInput", `unexpected argument '${args.positionals[0]}'`);
    return args;
  } catch (err) {
    console.error(`tandem ${name}: ${asTandemError(err).message}\n${usage}`);
    return 2;
  }
}

/** `tandem compress`: raw stdin to one LZ4 frame on stdout. */
export async function runCompress(argv: string[]): Promise<number> {
  const args = parseOrUsage(argv, ["block-bytes"], ["high", "linked", "block-checksum", "no-content-checksum"], compressUsage, "compress");
  if (typeof args === "number") return args;
  let encoder: Lz4FrameEncoder;
  try {
    const blockBytes = intOption(args, "block-bytes", 4194304, lz4FrameBlockBytesChoices[0], lz4FrameBlockBytesChoices[3]);
    encoder = new Lz4FrameEncoder({
      blockBytes,
      highCompression: args.flags.has("high"),
      linkedBlocks: args.flags.has("linked"),
      blockChecksum: args.flags.has("block-checksum"),
      contentChecksum: !args.flags.has("no-content-checksum"),
    });
  } catch (err) {
    console.error(`tandem compress: ${asTandemError(err).message}\n${compressUsage}`);
    return 2;
  }
  try {
    await pump((chunk) => encoder.push(chunk), () => encoder.finish());
    return 0;
  } catch (err) {
    console.error(`tandem compress: ${asTandemError(err).message}`);
    return 1;
  }
}

/** `tandem decompress`: LZ4 frames on stdin (as `lz4` writes them) to raw bytes on stdout. */
export async function runDecompress(argv: string[]): Promise<number> {
  const args = parseOrUsage(argv, ["raw-bytes-max"], [], decompressUsage, "decompress");
  if (typeof args === "number") return args;
  let decoder: Lz4FrameDecoder;
  try {
    const rawBytesMax = intOption(args, "raw-bytes-max", Number.MAX_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER);
    decoder = new Lz4FrameDecoder({ rawBytesMax });
  } catch (err) {
    console.error(`tandem decompress: ${asTandemError(err).message}\n${decompressUsage}`);
    return 2;
  }
  try {
    await pump((chunk) => decoder.push(chunk), () => {
      decoder.finish();
      return [];
    });
    return 0;
  } catch (err) {
    console.error(`tandem decompress: ${asTandemError(err).message}`);
    return 1;
  }
}
