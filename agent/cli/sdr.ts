// `tandem encode --data DIR < in > ops` and `tandem decode --data DIR < ops > out`:
// the SDR codec offline, against the segment store in DIR. The ops file is the magic
// line "TNDMSDR1" followed by length-prefixed ops frames (u32 big-endian). Encode
// learns every new segment into DIR's store; decode has no peer to ask, so a label
// its store lacks fails the run, naming the missing labels. Both stream: memory stays
// bounded by one frame and the codec's windows, whatever the input size.
import { parseArgs, intOption, usageError } from "./args.ts";
import { TandemError } from "../errors.ts";
import { readApplianceVersion } from "../version.ts";
import { openSegmentStore } from "../store/index.ts";
import { SdrEncoder, SdrDecoder, opsFrameBytesMax } from "../sdr/index.ts";
import { defaultChunkParams } from "../../wasm/index.ts";

export const opsFileMagic = new TextEncoder().encode("TNDMSDR1");
const frameLengthBytes = 4;

async function openStore(dir: string) {
  const version = readApplianceVersion();
  return openSegmentStore({ dir, model: version.model, softwareVersion: version.softwareVersion });
}

function dataDir(argv: string[], extraValued: string[] = []) {
  const args = parseArgs(argv, ["data", ...extraValued]);
  const dir = args.options.get("data");
  if (!dir) throw usageError("--data DIR is required");
  if (args.positionals.length > 0) throw usageError(`unexpected argument '${args.positionals[0]}'`);
  return { dir, args };
}

class Output {
  private readonly sink = Bun.stdout.writer();
  async write(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) this.sink.write(part);
    await this.sink.flush();
  }
  async end(): Promise<void> {
    await this.sink.end();
  }
}

function framed(frames: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const frame of frames) {
    const header = new Uint8Array(frameLengthBytes);
    new DataView(header.buffer).setUint32(0, frame.length, false);
    out.push(header, frame);
  }
  return out;
}

export async function runEncode(argv: string[]): Promise<number> {
  const { dir, args } = dataDir(argv, ["min", "avg", "max", "level"]);
  const params = {
    ...defaultChunkParams,
    minBytes: intOption(args, "min", defaultChunkParams.minBytes, 64, 1 << 20),
    avgBytes: intOption(args, "avg", defaultChunkParams.avgBytes, 256, 1 << 22),
    maxBytes: intOption(args, "max", defaultChunkParams.maxBytes, 1024, 1 << 18),
  };
  const zstdLevel = intOption(args, "level", 3, 0, 19);
  const store = await openStore(dir);
  const encoder = new SdrEncoder({ store, params, zstdLevel });
  const out = new Output();
  try {
    await out.write([opsFileMagic]);
    for await (const chunk of Bun.stdin.stream()) {
      await out.write(framed(await encoder.encode(chunk)));
    }
    await out.write(framed(await encoder.flush()));
    await out.end();
  } finally {
    await encoder.close();
    await store.close();
  }
  const s = encoder.stats;
  process.stderr.write(`encoded ${s.inputBytes} bytes into ${s.outputBytes + opsFileMagic.length} (${s.defSegments} new, ${s.deltaSegments} deltas, ${s.refSegments} known in ${s.runRefs} runs)\n`);
  return 0;
}

/** Splits a byte stream into frames, holding at most one partial frame. */
class FrameReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private magicSeen = false;

  push(chunk: Uint8Array): Uint8Array[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Uint8Array[] = [];
    let at = 0;
    if (!this.magicSeen) {
      if (this.buffer.length < opsFileMagic.length) return frames;
      if (Buffer.compare(this.buffer.subarray(0, opsFileMagic.length), opsFileMagic) !== 0) {
        throw new TandemError("badFrame", "input is not a tandem ops stream (bad magic; expected output of `tandem encode`)");
      }
      this.magicSeen = true;
      at = opsFileMagic.length;
    }
    while (this.buffer.length - at >= frameLengthBytes) {
      const length = new DataView(this.buffer.buffer, this.buffer.byteOffset + at).getUint32(0, false);
      if (length === 0 || length > opsFrameBytesMax) throw new TandemError("badFrame", `ops frame length ${length} is outside 1..${opsFrameBytesMax}`);
      if (this.buffer.length - at - frameLengthBytes < length) break;
      frames.push(this.buffer.slice(at + frameLengthBytes, at + frameLengthBytes + length));
      at += frameLengthBytes + length;
    }
    this.buffer = this.buffer.slice(at);
    return frames;
  }

  finish(): void {
    if (!this.magicSeen) throw new TandemError("badFrame", "input is not a tandem ops stream (too short for its magic)");
    if (this.buffer.length > 0) throw new TandemError("badFrame", `ops stream ends inside a frame (${this.buffer.length} trailing bytes)`);
  }
}

export async function runDecode(argv: string[]): Promise<number> {
  const { dir } = dataDir(argv);
  const store = await openStore(dir);
  // Offline: no peer to answer a REQ.
  const decoder = new SdrDecoder({ store, fetchMissing: async () => [] });
  const out = new Output();
  const reader = new FrameReader();
  let frameIndex = 0;
  try {
    for await (const chunk of Bun.stdin.stream()) {
      for (const frame of reader.push(chunk)) {
        try {
          await out.write(await decoder.decode(frame));
        } catch (err) {
          if (err instanceof TandemError) {
            throw new TandemError(err.code, `decode of frame ${frameIndex} against ${dir} failed: ${err.message}`, err.detail);
          }
          throw err;
        }
        frameIndex++;
      }
    }
    reader.finish();
    await out.end();
  } finally {
    await decoder.close();
    await store.close();
  }
  return 0;
}
