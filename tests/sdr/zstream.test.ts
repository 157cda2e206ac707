// The channel's zstd stream: pieces small enough for the synchronous path and large
// ones through the thread pool, interleaved on one stream, each decompress whole on
// arrival and keep one history (a repeat compresses to almost nothing whichever path
// carried the first copy); bounds and corrupt input fail on both paths.
import { describe, expect, test } from "bun:test";
import { StreamCompressor, StreamDecompressor, syncBytesMax } from "../../agent/sdr/zstream.ts";
import { randomBytes, textBytes } from "./helpers.ts";

describe("zstd stream", () => {
  test("small and large pieces interleaved round-trip in order, sharing one history", async () => {
    const c = new StreamCompressor();
    const d = new StreamDecompressor();
    const pieces = [
      textBytes(300, 1), randomBytes(200_000, 2), textBytes(syncBytesMax, 3), randomBytes(syncBytesMax + 1, 4),
      textBytes(50, 5), randomBytes(syncBytesMax, 6), textBytes(1_000_000, 7), randomBytes(1, 8),
    ];
    for (const piece of pieces) {
      const z = await c.compress(piece);
      expect(Buffer.compare(await d.decompress(z, piece.length), piece)).toBe(0);
    }
    // Repeats of pieces the other path carried: found in the shared window.
    for (const piece of [pieces[5]!, pieces[3]!]) {
      const z = await c.compress(piece);
      expect(z.length * 20).toBeLessThan(piece.length);
      expect(Buffer.compare(await d.decompress(z, piece.length), piece)).toBe(0);
    }
    c.close();
    d.close();
  });

  test("a piece that decompresses to more than announced, or is not zstd, is refused on the synchronous path", async () => {
    const c = new StreamCompressor();
    const piece = textBytes(4000, 9);
    const z = await c.compress(piece);
    const d = new StreamDecompressor();
    await expect(d.decompress(z, 1000)).rejects.toThrow(/decompress/);
    const d2 = new StreamDecompressor();
    await expect(d2.decompress(randomBytes(500, 10), 400)).rejects.toThrow(/decompress/);
    // A failed stream stays failed: later pieces are refused, not misdecoded.
    await expect(d2.decompress(z, piece.length)).rejects.toThrow(/decompress/);
    c.close();
    d.close();
    d2.close();
  });
});
