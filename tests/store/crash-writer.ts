// Child process of the crash test: writes to a store as fast as it can until it is
// killed: batches of new segments with a meta cursor in the same transaction, several
// calls in flight so they coalesce, at a small capacity so eviction runs all the
// time, plus peer writes in at-rest form, deletes, trims, verified reads, LRU
// touches and the odd clear(). After every durable commit it prints `acked SEQ`
// so the test knows what must survive a SIGKILL.
// Usage: bun tests/store/crash-writer.ts DIR SEED
import { compressSegment } from "../../agent/store/codec.ts";
import { openSegmentStore, type SegmentInput, type StoredSegment } from "../../agent/store/index.ts";
import { blake3 } from "../../wasm/index.ts";

const [dir, seedText] = process.argv.slice(2);
if (!dir) throw new Error("usage: crash-writer.ts DIR SEED");
let seed = (Number(seedText ?? 1) >>> 0) || 1;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}

const policy = random() < 0.5 ? "lru" : "fifo";
const store = await openSegmentStore({
  dir, model: "crash", softwareVersion: "1", capacityBytes: 3 * 1024 * 1024, policy,
});
const words = ["segment", "store", "tandem", "lmdb", "replica", "label", "change", "evict", "bytes", "crash"];

function makeSegment(): SegmentInput {
  const length = 256 + Math.floor(random() * 12000);
  const data = new Uint8Array(length);
  if (random() < 0.5) {
    for (let i = 0; i < length; i++) data[i] = Math.floor(random() * 256);
  } else {
    const text = Array.from({ length: Math.ceil(length / 6) }, () => words[Math.floor(random() * words.length)]).join(" ");
    data.set(new TextEncoder().encode(text).subarray(0, length));
  }
  return { label: blake3(data), data };
}

function toStored(segment: SegmentInput): StoredSegment {
  const block = compressSegment(segment.data);
  return { label: segment.label, encoding: block ? "lz4" : "raw", rawBytes: segment.data.length, payload: block ?? segment.data };
}

const recent: Uint8Array[] = [];
let batches = 0;
const inFlightMax = 4;
let inFlight = 0;

async function writeOne(): Promise<void> {
  const segments = Array.from({ length: 1 + Math.floor(random() * 48) }, makeSegment);
  // Re-put a recent label now and then: duplicates must cost nothing and log nothing.
  if (recent.length > 0 && random() < 0.3) {
    const again = recent[Math.floor(random() * recent.length)]!;
    const data = store.get(again);
    if (data) segments.push({ label: again, data });
  }
  batches++;
  const meta = { cursor: { batch: batches, at: Date.now() } };
  // A third of the batches arrive as from the sync peer, in at-rest form.
  const entries = random() < 0.33
    ? await store.putStored(segments.map(toStored), "peer", meta)
    : await store.putSegments(segments, "local", meta);
  for (const e of entries.slice(-4)) recent.push(e.label);
  while (recent.length > 64) recent.shift();
  process.stdout.write(`acked ${store.lastSeq()}\n`);
}

let announced = false;
while (true) {
  while (inFlight < inFlightMax) {
    inFlight++;
    void writeOne().finally(() => inFlight--);
  }
  const roll = random();
  if (roll < 0.05 && recent.length > 0) await store.deleteSegments([recent[Math.floor(random() * recent.length)]!]);
  else if (roll < 0.08) await store.trimChangesThrough(Math.floor(store.lastSeq() * random()));
  else if (roll < 0.2 && recent.length > 0) store.get(recent[Math.floor(random() * recent.length)]!, { verify: true });
  else if (roll < 0.25) await store.putMeta("writer", { pid: process.pid, batches });
  else if (roll < 0.26) {
    await store.clear();
    recent.length = 0;
  }
  await store.idle();
  if (!announced) {
    announced = true;
    process.stdout.write("ready\n");
  }
}
