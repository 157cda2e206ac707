// The sync core against a peer that stops reading: a handler that must send more than the
// link's high-water mark waits for room, and meanwhile the peer's next messages fill the
// inbox, reading pauses and the connection stops counting the peer's silence. The wait is
// bounded (reconStepTimeoutMs), so the session ends instead of hanging for ever.
// Deterministic: the simulator's clock and in-memory store.
import { expect, test } from "bun:test";
import { SyncCore, defaultBounds, type SyncLink } from "../../agent/sync/core.ts";
import type { StateMsg } from "../../agent/sync/messages.ts";
import { MemStore, sha256 } from "./memstore.ts";
import { SimClock } from "./simworld.ts";

test("a fetch answered into a link that never drains ends the session after reconStepTimeoutMs", async () => {
  const clock = new SimClock();
  const store = new MemStore(clock, () => 1, "A");
  const segs = Array.from({ length: 80 }, (_, i) => {
    const data = new Uint8Array(16 * 1024).fill(i);
    return { label: sha256(data), data };
  });
  void store.putSegments(segs, "local");
  await clock.runUntil(10);
  // Already paired with B: A is master, B adopted A's store id, both know the generations.
  const me = store.identity();
  const identitySet = store.setIdentity({ ...me, peerGeneration: "gen-B" });
  await clock.runUntil(20);
  await identitySet;
  const core = new SyncCore(store, clock, { role: "master", mode: "async", scrub: false, reconOnConnect: false });
  core.start();
  let closed: string | null = null;
  let paused = false;
  const link: SyncLink = {
    send: () => 64,
    writable: () => false, // the peer reads nothing
    close: (reason) => void (closed ??= reason),
    pause: () => void (paused = true),
    resume: () => void (paused = false),
  };
  core.attach(link);
  const peer: StateMsg = {
    t: "state", storeId: me.storeId, generation: "gen-B", peerGeneration: me.generation, initialDone: true,
    initGeneration: null, initCursor: null, recvGeneration: me.generation, recvSeq: store.lastSeq(),
    count: segs.length, lastSeq: 0, storedBytes: 0,
  };
  core.receive(peer);
  await clock.runUntil(30);
  expect(core.paired).toBe(true);
  // 1.25 MiB asked for: more than one push batch, so the answer waits for the link.
  core.receive({ t: "fetch", labels: segs.map((s) => s.label) });
  for (let i = 0; i < defaultBounds.inboxMessagesMax; i++) core.receive({ t: "fetch", labels: [segs[0]!.label] });
  await clock.runUntil(1000);
  expect(paused).toBe(true);
  expect(closed).toBeNull();
  await clock.runUntil(1000 + defaultBounds.reconStepTimeoutMs + 1000);
  expect(closed).not.toBeNull();
  expect(core.connected).toBe(false);
}, 10_000);
