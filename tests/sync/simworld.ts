// A seeded, deterministic world for the sync core: virtual clock and event queue, two
// appliances (master A, backup B) on in-memory stores, and a network that delivers
// each session's messages in order (TCP) after random delays, through the real message
// codecs. Faults: session cuts, partitions, delay spikes (sync-mode stalls), crashes and
// restarts (writes not yet durable are lost), bit flips in stored values, small
// capacity. `runSchedule(seed)` plays one random fault schedule, heals, and returns
// the list of invariant violations (empty = pass).
import { SyncCore, type SyncClock, type SyncLink } from "../../agent/sync/core.ts";
import { fromWire, toWire, type SyncMessage } from "../../agent/sync/messages.ts";
import { decodeBody, encodeFrame, frameHeaderBytes } from "../../agent/wire/framing.ts";
import type { ChangeEntry, Label } from "../../agent/store/types.ts";
import { hex, MemStore, sha256 } from "./memstore.ts";

/** xorshift32: small, seedable, good enough for schedules. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.s = x;
    return x / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

interface Ev { at: number; n: number; fn: () => void; cancelled: boolean }

export class SimClock implements SyncClock {
  t = 0;
  private n = 0;
  private q: Ev[] = [];
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const ev: Ev = { at: this.t + Math.max(0, ms), n: this.n++, fn, cancelled: false };
    // binary insert, stable by sequence number
    let lo = 0, hi = this.q.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.q[mid]!;
      if (m.at < ev.at || (m.at === ev.at && m.n < ev.n)) lo = mid + 1;
      else hi = mid;
    }
    this.q.splice(lo, 0, ev);
    return () => void (ev.cancelled = true);
  }
  /** Runs events up to time `until`, letting promise chains settle after each. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      const ev = this.q[0];
      if (!ev || ev.at > until) break;
      this.q.shift();
      if (ev.cancelled) continue;
      this.t = ev.at;
      ev.fn();
      await settle();
    }
    this.t = Math.max(this.t, until);
  }
}

// Promise continuations are deterministic microtasks; a bounded number of turns lets
// the chains started by an event run before the clock moves (what is left runs later).
async function settle(): Promise<void> {
  for (let i = 0; i < 24; i++) await Promise.resolve();
}

interface Node {
  name: "A" | "B";
  role: "master" | "backup";
  store: MemStore;
  core: SyncCore | null;
  up: boolean;
  /** Local writes and the seq they got; acked = durable at the peer (seen through acks). */
  writes: Array<{ label: Label; seq: number }>;
  ackedLabels: Set<string>;
  alarms: string[];
}

export interface ScheduleOptions {
  mode: "async" | "sync";
  durationMs: number;
  capacity?: number;
}

export class World {
  readonly clock = new SimClock();
  readonly rng: Rng;
  readonly a: Node;
  readonly b: Node;
  private sessionId = 0;
  private session: { id: number; cutAt: number | null } | null = null;
  partitionedUntil = 0;
  delayHigh = false;
  private connecting = false;
  messages = 0;
  /** Reconciliation steps given up for want of an answer (a flow-control stall shows here). */
  readonly stalls: string[] = [];

  constructor(seed: number, readonly mode: "async" | "sync") {
    this.rng = new Rng(seed);
    const disk = () => 1 + this.rng.int(5);
    const mk = (name: "A" | "B", role: "master" | "backup"): Node => ({
      name, role, store: new MemStore(this.clock, disk, name), core: null, up: false, writes: [], ackedLabels: new Set(), alarms: [],
    });
    this.a = mk("A", "master");
    this.b = mk("B", "backup");
  }

  private delay(): number {
    return this.delayHigh ? 1000 + this.rng.int(4000) : 1 + this.rng.int(20);
  }

  boot(node: Node): void {
    if (node.up) return;
    node.up = true;
    const core = new SyncCore(node.store, this.clock, {
      role: node.role, mode: this.mode, scrub: true,
      bounds: {
        indexFineBits: 10, scrubTickMs: 2000, scrubSegmentsPerTick: 32, repBatchEntriesMax: 16,
        repBatchBytesMax: 8 * 1024, pushBatchBytesMax: 8 * 1024, overwriteWindowBuckets: 4, unionWindowBuckets: 16,
        inflightBatchesMax: 3, reconStepTimeoutMs: 20_000, syncAckTimeoutMs: 1500, trimEverySeqs: 8,
        congestionMarkSegments: 200,
        // Tight flow control, so that pausing and push windows are exercised often.
        inboxMessagesMax: 2, pushesInFlightMax: 1, commitsInFlightMax: 2,
      },
      log: (_sev, _msg, alarm) => {
        if (process.env.SIMLOG) console.log(this.clock.now(), node.name, _sev, _msg);
        if (alarm) node.alarms.push(alarm);
      },
    });
    node.core = core;
    core.start();
    core.onAck((after, through) => {
      for (const w of node.writes) if (w.seq > after && w.seq <= through) node.ackedLabels.add(hex(w.label));
    });
    this.maybeConnect();
  }

  crash(node: Node): void {
    if (!node.up) return;
    node.up = false;
    node.store.crash();
    node.core?.stop();
    node.core = null;
    this.cut("crash");
  }

  cut(_why: string): void {
    if (process.env.SIMLOG) console.log(this.clock.now(), "cut", _why, !!this.session);
    if (!this.session) return;
    this.session = null;
    this.a.core?.detach("link cut");
    this.b.core?.detach("link cut");
    this.clock.setTimer(100 + this.rng.int(400), () => this.maybeConnect());
  }

  maybeConnect(): void {
    if (this.session || this.connecting) return;
    if (!this.a.up || !this.b.up || this.clock.now() < this.partitionedUntil) {
      if (this.a.up || this.b.up) {
        this.connecting = true;
        this.clock.setTimer(500, () => {
          this.connecting = false;
          this.maybeConnect();
        });
      }
      return;
    }
    this.connecting = true;
    this.clock.setTimer(this.delay(), () => {
      this.connecting = false;
      if (this.session || !this.a.up || !this.b.up || this.clock.now() < this.partitionedUntil) return this.maybeConnect();
      const id = ++this.sessionId;
      this.session = { id, cutAt: null };
      const last = { AtoB: 0, BtoA: 0 };
      // A node that pauses reading (its inbox is full) gets nothing until it resumes, as
      // over TCP: what arrives meanwhile is held, in order.
      const paused = { A: false, B: false };
      const held: Record<"A" | "B", unknown[]> = { A: [], B: [] };
      const deliver = (to: Node) => {
        while (held[to.name].length > 0 && !paused[to.name] && this.session?.id === id) to.core?.receive(fromWire(held[to.name].shift()));
      };
      const link = (from: Node, to: Node, dir: "AtoB" | "BtoA"): SyncLink => ({
        send: (m: SyncMessage) => {
          if (this.session?.id !== id) return 0;
          // Through the real frame codec, as on a socket (bulk parts arrive as one view).
          const wire = decodeBody(encodeFrame(toWire(m)).subarray(frameHeaderBytes));
          const at = Math.max(last[dir], this.clock.now() + this.delay());
          last[dir] = at;
          this.messages++;
          this.clock.setTimer(at - this.clock.now(), () => {
            if (this.session?.id !== id) return;
            held[to.name].push(wire);
            deliver(to);
          });
          return 0;
        },
        writable: () => true,
        close: (reason: string) => {
          if (this.session?.id !== id) return;
          if (/^peer did not/.test(reason)) this.stalls.push(`${this.clock.now()} ${from.name}: ${reason}`);
          this.cut(`${from.name} closed`);
        },
        pause: () => {
          paused[from.name] = true;
        },
        resume: () => {
          paused[from.name] = false;
          deliver(from);
        },
      });
      this.a.core!.attach(link(this.a, this.b, "AtoB"));
      this.b.core!.attach(link(this.b, this.a, "BtoA"));
    });
  }

  /** A local write on `node` of `n` new random segments (as the optimizer would). */
  write(node: Node, n: number): void {
    if (!node.up || !node.core) return;
    const core = node.core;
    const segs = [];
    for (let i = 0; i < n; i++) {
      const data = new Uint8Array(50 + this.rng.int(400));
      for (let j = 0; j < data.length; j++) data[j] = this.rng.int(256);
      segs.push({ label: sha256(data), data });
    }
    void node.store.putSegments(segs, "local").then(async (entries: ChangeEntry[]) => {
      for (const e of entries) node.writes.push({ label: e.label, seq: e.seq });
      await core.awaitReplicated(entries);
    });
  }

  /** Seeds both stores before pairing: some shared segments, some only on each side. */
  seedStores(shared: number, onlyA: number, onlyB: number): void {
    const mk = () => {
      const data = new Uint8Array(64 + this.rng.int(200));
      for (let j = 0; j < data.length; j++) data[j] = this.rng.int(256);
      return { label: sha256(data), data };
    };
    const s = Array.from({ length: shared }, mk);
    const a = Array.from({ length: onlyA }, mk);
    const b = Array.from({ length: onlyB }, mk);
    void this.a.store.putSegments([...s, ...a], "local");
    void this.b.store.putSegments([...s, ...b], "local");
    this.bOnlyInitial = b.map((x) => hex(x.label));
  }
  bOnlyInitial: string[] = [];

  flipShared(): void {
    // Only a value both sides hold, so the other side can repair it.
    const keys = this.a.store.allKeys().filter((k) => this.b.store.has(Buffer.from(k, "hex")));
    if (keys.length === 0) return;
    const k = keys[this.rng.int(keys.length)]!;
    const side = this.rng.chance(0.5) ? this.a : this.b;
    if (this.flipped.has(k)) return;
    this.flipped.add(k);
    side.store.flipBit(new Uint8Array(Buffer.from(k, "hex")), this.rng.int(8 * 64));
  }
  flipped = new Set<string>();

  /** Plays a random schedule, heals, and checks the invariants. */
  async run(options: ScheduleOptions): Promise<string[]> {
    const r = this.rng;
    if (options.capacity) {
      this.a.store.capacitySegments = options.capacity;
      this.b.store.capacitySegments = options.capacity;
    }
    this.seedStores(r.int(40), r.int(30), r.int(30));
    await this.clock.runUntil(50);
    this.boot(this.a);
    if (r.chance(0.8)) this.boot(this.b);
    else this.clock.setTimer(r.int(3000), () => this.boot(this.b));
    // The fault schedule.
    const end = options.durationMs;
    for (let t = 100; t < end; t += 50 + r.int(400)) {
      const x = r.next();
      this.clock.setTimer(t, () => {
        if (x < 0.45) this.write(r.chance(0.6) ? this.a : this.b, 1 + r.int(6));
        else if (x < 0.55) this.cut("fault");
        else if (x < 0.62) {
          this.partitionedUntil = this.clock.now() + 500 + r.int(3000);
          this.cut("partition");
        } else if (x < 0.70) {
          const n = r.chance(0.5) ? this.a : this.b;
          this.crash(n);
          this.clock.setTimer(200 + r.int(2000), () => this.boot(n));
        } else if (x < 0.75) {
          this.delayHigh = true;
          this.clock.setTimer(500 + r.int(3000), () => (this.delayHigh = false));
        } else if (x < 0.80 && !options.capacity) this.flipShared();
        else if (x < 0.85) void this.a.core?.checkNow().catch(() => undefined);
        else this.write(this.a, 1 + r.int(3));
      });
    }
    await this.clock.runUntil(end);
    // Heal: everybody up, no partition, normal delays; then checks until quiet.
    this.delayHigh = false;
    this.partitionedUntil = 0;
    if (!this.a.up) this.boot(this.a);
    if (!this.b.up) this.boot(this.b);
    this.maybeConnect();
    const healEnd = end + 40_000;
    for (let t = end + 5000; t < healEnd; t += 5000) {
      this.clock.setTimer(t - this.clock.now(), () => void this.a.core?.checkNow().catch(() => undefined));
    }
    await this.clock.runUntil(healEnd);
    return this.violations(options);
  }

  violations(options: ScheduleOptions): string[] {
    const out: string[] = [];
    const ka = this.a.store.allKeys();
    const kb = this.b.store.allKeys();
    if (!this.a.core?.paired || !this.b.core?.eligibleForTakeover()) out.push("initial sync did not complete");
    if (ka.join() !== kb.join()) {
      const sa = new Set(ka), sb = new Set(kb);
      out.push(`key sets differ: ${ka.filter((k) => !sb.has(k)).length} only on A, ${kb.filter((k) => !sa.has(k)).length} only on B`);
    }
    for (const node of [this.a, this.b]) {
      for (const k of node.store.rehashFailures()) out.push(`${node.name}: ${k.slice(0, 12)} does not re-hash`);
    }
    if (!options.capacity) {
      const sa = new Set(ka);
      for (const w of this.a.writes) if (!sa.has(hex(w.label))) out.push(`A lost its own write ${hex(w.label).slice(0, 12)}`);
      for (const k of this.b.ackedLabels) if (!sa.has(k)) out.push(`B's acknowledged write ${k.slice(0, 12)} lost`);
      for (const k of this.a.ackedLabels) if (!new Set(kb).has(k)) out.push(`A's acknowledged write ${k.slice(0, 12)} missing on B`);
      const written = new Set(this.b.writes.map((w) => hex(w.label)));
      for (const k of this.bOnlyInitial) if (sa.has(k) && !written.has(k)) out.push(`B's pre-pairing extra ${k.slice(0, 12)} survived the overwrite`);
    }
    if (this.a.store.identity().storeId !== this.b.store.identity().storeId) out.push("backup did not adopt the master's storeId");
    return out;
  }
}
