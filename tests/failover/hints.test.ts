// Failover at the codec level, on real stores: segments copied from a master's store to
// a backup's the way data store sync moves them (at-rest form with the codec's hints,
// through withSuccessorHints on both ends, in change-log order) let the backup's encoder
// send a warm stream for no more bytes than the master's, the changed response header
// at its start included (a delta, found by resemblance even when another stream began
// last), while the branch decodes it byte for byte without a REQ.
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { SdrDecoder, SdrEncoder } from "../../agent/sdr/index.ts";
import type { SegmentStore } from "../../agent/store/types.ts";
import { withSuccessorHints } from "../../agent/sync/hints.ts";
import { packageTar } from "../bench/corpus.ts";
import { decodeAll, frameBytes, openStore, randomBytes, removeTempDirs, same, textBytes, xorshift } from "../sdr/helpers.ts";

afterAll(removeTempDirs);

/** Copies every segment of `master` to `backup` the way data store sync moves them: in
 *  change-log order, at-rest form with the codec's hints, through withSuccessorHints. */
async function replicate(master: SegmentStore, backup: SegmentStore): Promise<void> {
  const from = withSuccessorHints(master);
  const to = withSuccessorHints(backup);
  const labels = master.changesSince(0, 1_000_000).map((entry) => entry.label);
  await to.store.putStored(labels.map((label) => from.store.getStored(label)!), "peer");
  await from.close();
  await to.close();
}

test("a backup fed by sync sends a warm stream for the master's bytes, header delta included", async () => {
  const [master, backup, branch] = [await openStore(), await openStore(), await openStore()];
  const body = Buffer.concat([textBytes(600_000, 1), randomBytes(500_000, 2), textBytes(400_000, 3)]);
  const response = (day: number) => new Uint8Array(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nDate: day ${day}\r\n\r\n`), body]));
  const random = xorshift(5);

  /** One connection: a fresh encoder/decoder pair, the input in random pieces with idle flushes. */
  const connection = async (store: SegmentStore, input: Uint8Array) => {
    const encoder = new SdrEncoder({ store });
    const decoder = new SdrDecoder({ store: branch, fetchMissing: async (labels) => encoder.answer(labels) });
    const frames: Uint8Array[] = [];
    for (let at = 0; at < input.length;) {
      const piece = 1 + Math.floor(random() * 64_000);
      frames.push(...(await encoder.encode(input.subarray(at, at + piece))));
      at += piece;
      if (random() < 0.1) frames.push(...(await encoder.deliverTail()));
    }
    frames.push(...(await encoder.flush()));
    expect(same(await decodeAll(decoder, frames), input)).toBe(true);
    await encoder.close();
    await decoder.close();
    return { bytes: frameBytes(frames), sent: encoder.stats, received: decoder.stats };
  };

  await connection(master, response(1));
  const warmViaMaster = await connection(master, response(2));
  // Another stream starts last on the master: the stream-start link no longer points
  // at the response, so the backup must find the header's base by resemblance.
  await connection(master, randomBytes(50_000, 9));

  await replicate(master, backup);
  expect(backup.count()).toBe(master.count());

  const warmViaBackup = await connection(backup, response(3));
  expect(warmViaBackup.sent.defSegments).toBe(0);
  expect(warmViaBackup.sent.deltaSegments).toBe(1);
  expect(warmViaBackup.received.reqSegments).toBe(0);
  expect(warmViaBackup.bytes).toBeLessThanOrEqual(warmViaMaster.bytes * 1.05);
  for (const store of [master, backup, branch]) await store.close();
});

test("segments repeated in real data (two successors each) give the backup the master's single RUN, without a REQ", async () => {
  const [master, backup, branch] = [await openStore(), await openStore(), await openStore()];
  // A real npm tarball: licence texts and common headers repeat inside it, so many
  // segments have two successors and the master's warm pass is RUNs with forks.
  const input = new Uint8Array(readFileSync(packageTar("typescript", "5.6.3")));
  const connection = async (store: SegmentStore) => {
    const encoder = new SdrEncoder({ store });
    const decoder = new SdrDecoder({ store: branch, fetchMissing: async (labels) => encoder.answer(labels) });
    const frames: Uint8Array[] = [];
    for (let at = 0; at < input.length; at += 64 * 1024) frames.push(...(await encoder.encode(input.subarray(at, at + 64 * 1024))));
    frames.push(...(await encoder.flush()));
    expect(same(await decodeAll(decoder, frames), input)).toBe(true);
    await encoder.close();
    await decoder.close();
    return { bytes: frameBytes(frames), received: decoder.stats };
  };
  await connection(master);
  const warmViaMaster = await connection(master);
  await replicate(master, backup);
  const warmViaBackup = await connection(backup);
  expect(warmViaBackup.received.reqSegments).toBe(0);
  expect(warmViaBackup.bytes).toBeLessThanOrEqual(warmViaMaster.bytes * 1.05);
  for (const store of [master, backup, branch]) await store.close();
}, 60_000);
