// `tandem compress` and `tandem decompress`: stdin to stdout in the LZ4 frame format,
// interoperable with the `lz4` command. Streams in bounded memory (one frame block
// plus one stdin chunk; output is written before more input is read), so inputs of
// any size work. Corrupt or truncated input ends with a message on stderr
// and exit code 1; bad options with exit code 2.
import { readSync, writeSync } from "node:fs";
import { TandemError, asTandemError } from "../errors.ts";
import { intOption, parseArgs } from "./args.ts";
import { Lz4FrameDecoder, Lz4FrameEncoder, lz4FrameBlockBytesChoices, type Lz4Sink } from "../../wasm/lz4.ts";

const compressUsage = `usage: tandem compress [--block-bytes 65536|262144|1048576|4194304] [--high] [--linked] [--block-checksum] [--no-content-checksum] < in > out.lz4`;
const decompressUsage = `usage: tandem decompress [--raw-bytes-max N] < in.lz4 > out`;

/** Waits between retries when stdin or stdout is a non-blocking pipe that is not ready. */
export const ioRetryMs = 2;
const retryClock = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `bytes` to stdout before returning. Blocking is the backpressure: the
 * process does nothing else, and memory stays at one block while the reader is slow.
 * A closed reader (EPIPE) ends the command with a TandemError.
 */
function writeStdout(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset, bytes.length - offset);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Atomics.wait(retryClock, 0, 0, ioRetryMs); // a synchronous sleep: the sink may not await
        continue;
      }
      if (code === "EPIPE") throw new TandemError("unavailable", "output closed before the end (broken pipe)");
      throw err;
    }
  }
}

/** Bytes read from stdin at a time. */
export const stdinChunkBytes = 1024 * 1024;

/**
 * Feeds stdin to `feed` chunk by chunk, then calls `end`; both write through
 * `writeStdout`. With `reuseBuffer` every chunk is the same buffer (no garbage), for
 * consumers that copy what they keep; otherwise each chunk is a fresh array.
 */
function pump(reuseBuffer: boolean, feed: (chunk: Uint8Array, sink: Lz4Sink) => void, end: (sink: Lz4Sink) => void): void {
  const buffer = new Uint8Array(stdinChunkBytes);
  for (;;) {
    let read: number;
    try {
      read = readSync(0, buffer, 0, buffer.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") {
        Atomics.wait(retryClock, 0, 0, ioRetryMs);
        continue;
      }
      throw err;
    }
    if (read === 0) break;
    feed(reuseBuffer ? buffer.subarray(0, read) : buffer.slice(0, read), writeStdout);
  }
  end(writeStdout);
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
    // The encoder copies what it keeps of each chunk, so one read buffer serves all.
    pump(true, (chunk, sink) => encoder.pushInto(chunk, sink), (sink) => encoder.finishInto(sink));
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
    // The decoder keeps references to input it has not consumed yet: fresh chunks.
    pump(false, (chunk, sink) => decoder.pushInto(chunk, sink), () => decoder.finish());
    return 0;
  } catch (err) {
    console.error(`tandem decompress: ${asTandemError(err).message}`);
    return 1;
  }
}
