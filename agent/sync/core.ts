// The data store sync core: a state machine with injected clock, link and store, and no
// I/O of its own, so the seeded simulator (tests/sync/simulator.test.ts) and the real
// service (agent/sync/service.ts) run exactly the same code.
//
// One SyncCore lives per appliance. A session starts with `attach(link)` once the
// handshake succeeded and ends with `detach(reason)`; peer messages go to `receive()`
// and are handled strictly in order (store commits included), which is what makes the
// acknowledgements honest. Within a session:
//  * both sides send `state`; the pair is "paired" when the backup adopted the master's
//    storeId and both remember the other's generation. Otherwise the master runs the
//    initial overwrite: range-based reconciliation in key order, pushes committed with a
//    resume cursor on the backup, a final full pass that collects the backup's extras,
//    deletion last, then `init.done` (the backup adopts the identity).
//  * live replication both ways from the durable change log: the receiver commits each
//    batch together with "received through seq S of that peer generation", then acks;
//    the sender resumes from that S after any disconnect or crash. Entries of origin
//    "peer" are never sent back.
//  * reconciliation (union mode) on every (re)connect of a paired pair, every check
//    interval, and on `checkNow()`; evictions propagate instead of ping-ponging.
//  * sync mode: `awaitReplicated(entries)` resolves once the peer acked them; past
//    `syncAckTimeoutMs` the pair drops to async (logged) and returns once caught up.
//  * a rate-limited scrub re-hashes values and re-fetches corrupt ones from the peer.
import { TandemError } from "../errors.ts";
import type { ChangeEntry, Label, SegmentStore, StoredSegment, StoreIdentity } from "../store/types.ts";
import { bucketStart, KeyIndex, labelAtPrefix32, prefix32 } from "./keyindex.ts";
import { approxBytes, prefixBytes, type FpMsg, type KeysMsg, type ReconMode, type StateMsg, type SyncMessage } from "./messages.ts";

/** The part of the segment store the core uses. */
export type SyncStore = Pick<
  SegmentStore,
  | "identity" | "get" | "getStored" | "putStored" | "deleteSegments" | "changesSince" | "lastSeq"
  | "trimChangesThrough" | "labelsInRange" | "count" | "recentlyEvicted" | "getMeta" | "putMeta" | "setIdentity"
  | "onCommit" | "stats"
> & Partial<Pick<SegmentStore, "onRemove">>;

export interface SyncClock {
  now(): number;
  /** Runs fn after ms; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

export interface SyncLink {
  /** Queues a message; returns the bytes it takes on the wire. */
  send(message: SyncMessage): number;
  /** False while the link's send queue is above its high-water mark. */
  writable(): boolean;
  close(reason: string): void;
  /** Flow control towards the peer: stop / restart reading its messages. */
  pause?(): void;
  resume?(): void;
}

export type SyncLog = (severity: "error" | "warning" | "notice" | "info" | "debug", message: string, alarm?: string) => void;

export interface SyncBounds {
  repBatchBytesMax: number;       // segment bytes per replication batch
  repBatchEntriesMax: number;     // change entries read per batch
  inflightBatchesMax: number;     // unacknowledged batches per session
  pushBatchBytesMax: number;      // segment bytes per reconciliation push
  syncAckTimeoutMs: number;       // sync mode: stall past this drops to async
  congestionMarkSegments: number; // lag past this: "behind"
  reconStepTimeoutMs: number;     // one reconciliation step without an answer: give up, cut
  unionWindowBuckets: number;     // buckets per fingerprint message (union)
  overwriteWindowBuckets: number; // buckets per fingerprint message (initial overwrite)
  bucketKeysMax: number;          // keys listed per bucket
  keysPerMessageMax: number;      // prefixes per rc.keys / rc.want / rc.del message
  inboxMessagesMax: number;       // peer messages waiting for the core before reading pauses
  commitsInFlightMax: number;     // received batches committing at once (the store coalesces them)
  pushesInFlightMax: number;      // reconciliation pushes sent and not yet durable at the peer
  scrubTickMs: number;            // scrub pace
  scrubSegmentsPerTick: number;
  fetchLabelsMax: number;         // corrupt labels per fetch request
  trimEverySeqs: number;          // trim the change log after this many acked entries
  retryMs: number;                // re-check a paused pump
  indexFineBits: number;
}

export const defaultBounds: SyncBounds = {
  repBatchBytesMax: 512 * 1024,
  repBatchEntriesMax: 2048,
  inflightBatchesMax: 16,
  pushBatchBytesMax: 512 * 1024,
  syncAckTimeoutMs: 2000,
  congestionMarkSegments: 50_000,
  reconStepTimeoutMs: 60_000,
  unionWindowBuckets: 65536,
  overwriteWindowBuckets: 4096,
  bucketKeysMax: 100_000,
  keysPerMessageMax: 60_000,
  inboxMessagesMax: 6,
  commitsInFlightMax: 16,
  pushesInFlightMax: 8,
  scrubTickMs: 1000,
  scrubSegmentsPerTick: 256,
  fetchLabelsMax: 1024,
  trimEverySeqs: 1024,
  retryMs: 10,
  indexFineBits: 18,
};

export interface SyncCoreOptions {
  role: "master" | "backup";
  mode: "async" | "sync";
  bounds?: Partial<SyncBounds>;
  log?: SyncLog;
  /** Run the scrub (off in tests that count exact traffic). */
  scrub?: boolean;
  /** Reconcile on every (re)connect of a paired pair (default true; the benchmark times its own). */
  reconOnConnect?: boolean;
}

export interface ReconTally {
  roundTrips: number;
  bytes: number;                  // everything the initiator sent and received for this run
  payloadBytes: number;           // of which segment payloads pushed (the data, not the reconciliation)
  missingHere: number;
  missingThere: number;
  deletedThere: number;
  deletedHere: number;
}

export interface CoreCounters {
  sentSegments: number;
  receivedSegments: number;
  sentBytes: number;
  receivedBytes: number;
  corruptRepaired: number;
  corruptFound: number;
  droppedToAsync: number;
  reconRuns: number;
}

const metaRecv = "sync.recv";           // {generation, seq}: peer log received through
const metaInitial = "sync.initial";     // {masterGeneration, cursor}: interrupted initial sync
const metaInitialDone = "sync.initialDone"; // master generation the initial sync completed with
const metaRepair = "sync.repair";       // hex labels removed as corrupt here, not yet fetched again
/** Initial-sync progress reads store stats at most this often. */
export const progressStatsEveryMs = 250;
/** Corrupt labels remembered for repair (beyond this, anti-entropy still finds them in union mode). */
export const repairLabelsMax = 10_000;

interface RecvMeta { generation: string; seq: number }
interface InitialMeta { masterGeneration: string; cursor: number }

interface Waiter<T> { resolve: (v: T) => void; reject: (e: Error) => void; cancel: () => void }

interface Session {
  link: SyncLink;
  peer: StateMsg | null;
  paired: boolean;
  closed: boolean;
  sendSeq: number;                 // change log read through
  ackedSeq: number;                // known durable at the peer (or covered by the snapshot)
  inflight: number[];              // throughSeq of unacked batches
  pumping: boolean;
  initialRunning: boolean;
  reconRunning: boolean;
  /** The reconciliation that follows a reconnect has not finished: not yet known in sync. */
  catchingUp: boolean;
  waiters: Map<string, Waiter<SyncMessage>>;
  keysAcc: Map<number, KeysMsg[]>;
  pushEvicted: Map<number, Label[]>;
  inbox: SyncMessage[];
  processing: boolean;
  paused: boolean;
  commits: Set<Promise<unknown>>;
  pushesInFlight: number;
  backlog: ChangeEntry[];          // change-log entries read ahead, seq > sendSeq
  wants: Promise<void>;            // the peer's rc.want requests, served in order beside the inbox
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function randomId(): string {
  return crypto.randomUUID();
}

export class SyncCore {
  readonly bounds: SyncBounds;
  role: "master" | "backup";
  mode: "async" | "sync";
  effectiveMode: "async" | "sync";
  readonly index: KeyIndex;
  readonly counters: CoreCounters = {
    sentSegments: 0, receivedSegments: 0, sentBytes: 0, receivedBytes: 0,
    corruptRepaired: 0, corruptFound: 0, droppedToAsync: 0, reconRuns: 0,
  };
  behind = false;
  initialProgress: { percent: number; bytesDone: number; bytesTotal: number } | null = null;
  lastRecon: (ReconTally & { timeMs: number; inSync: boolean }) | null = null;
  private session: Session | null = null;
  private syncWaiters: Array<{ seq: number; resolve: () => void; cancel: () => void }> = [];
  private stopped = false;
  private unsubscribe: (() => void) | null = null;
  private scrubCursor: Label | null = null;
  private scrubCancel: (() => void) | null = null;
  private lastTrimSeq = 0;
  private pendingRepair = new Set<string>();
  private reconId = 1;
  private ackListeners = new Set<(afterSeq: number, throughSeq: number, nowMs: number) => void>();

  constructor(private readonly store: SyncStore, private readonly clock: SyncClock, options: SyncCoreOptions) {
    this.bounds = { ...defaultBounds, ...options.bounds };
    this.role = options.role;
    this.mode = options.mode;
    this.effectiveMode = "async"; // sync once paired and caught up
    this.index = new KeyIndex(this.bounds.indexFineBits);
    this.log = options.log ?? (() => undefined);
    this.scrubEnabled = options.scrub ?? true;
    this.reconOnConnect = options.reconOnConnect ?? true;
  }
  private readonly reconOnConnect: boolean;
  private readonly log: SyncLog;
  private readonly scrubEnabled: boolean;

  /** Builds the key index and starts listening to local commits. */
  start(): void {
    this.rebuildIndex();
    for (const h of this.store.getMeta<string[]>(metaRepair) ?? []) this.pendingRepair.add(h);
    const offCommit = this.store.onCommit((entries) => this.onLocalCommit(entries));
    // Without the optional removal hook, a count mismatch before each reconciliation rebuilds the index.
    const offRemove = this.store.onRemove?.((labels) => labels.forEach((l) => this.index.remove(l)));
    this.unsubscribe = () => {
      offCommit();
      offRemove?.();
    };
    if (this.scrubEnabled) this.scheduleScrub();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.scrubCancel?.();
    this.detach("sync stopped");
    for (const w of this.syncWaiters) (w.cancel(), w.resolve());
    this.syncWaiters = [];
  }

  /** A label the store removed on verify: the store's removal hook (when it has one) says so too. */
  private forgetRemoved(label: Label): void {
    if (!this.store.onRemove) this.index.remove(label);
  }

  rebuildIndex(): void {
    this.index.clear();
    let from: Label | null = null;
    for (;;) {
      const batch = this.store.labelsInRange(from, null, 10_000);
      for (const l of batch) {
        if (from && compare(l, from) === 0) continue;
        this.index.add(l);
      }
      if (batch.length < 10_000) break;
      from = batch[batch.length - 1]!;
    }
  }

  /** When this store holds an initial copy from a master of `peerGeneration` that never
   *  completed (a backup promoted mid initial sync), how far it got (percent); else null.
   *  Such a store must not overwrite that peer's: the peer holds everything it lacks. */
  unfinishedCopyOf(peerGeneration: string): number | null {
    const initial = this.store.getMeta<InitialMeta>(metaInitial);
    if (!initial || initial.masterGeneration !== peerGeneration) return null;
    return Math.floor((initial.cursor / 2 ** 32) * 100);
  }

  /** The backup is eligible to take over once an initial sync completed with this master. */
  eligibleForTakeover(): boolean {
    if (this.role === "master") return true;
    const id = this.store.identity();
    return this.store.getMeta<string>(metaInitialDone) != null && id.peerGeneration != null;
  }

  get connected(): boolean {
    return this.session !== null && this.session.peer !== null;
  }
  get paired(): boolean {
    return this.session?.paired ?? false;
  }
  /** True while the reconciliation after a reconnect runs (the master knows; the backup answers). */
  get catchingUp(): boolean {
    return this.session?.catchingUp ?? false;
  }
  get initialRunning(): boolean {
    return this.session !== null && !this.session.paired;
  }

  lag(): { segments: number; oldestUnackedMs: number | null } {
    const s = this.session;
    if (!s || !s.peer) return { segments: 0, oldestUnackedMs: null };
    return { segments: Math.max(0, this.store.lastSeq() - s.ackedSeq), oldestUnackedMs: this.oldestUnackedMs };
  }
  private oldestUnackedMs: number | null = null;
  private batchSentMs = new Map<number, number>();

  /** Called when the peer durably acknowledged the change-log entries in (afterSeq, throughSeq]. */
  onAck(listener: (afterSeq: number, throughSeq: number, nowMs: number) => void): () => void {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }

  // ---------------------------------------------------------------- sessions

  attach(link: SyncLink): void {
    if (this.session) this.detach("replaced by a new session");
    const s: Session = {
      link, peer: null, paired: false, closed: false, sendSeq: 0, ackedSeq: 0, inflight: [], pumping: false,
      initialRunning: false, reconRunning: false, catchingUp: false, waiters: new Map(), keysAcc: new Map(), pushEvicted: new Map(),
      inbox: [], processing: false, paused: false, commits: new Set(), pushesInFlight: 0, backlog: [], wants: Promise.resolve(),
    };
    this.session = s;
    this.send(s, this.stateMessage());
  }

  detach(reason: string): void {
    const s = this.session;
    if (!s) return;
    this.session = null;
    s.closed = true;
    const err = new TandemError("unavailable", `sync session ended: ${reason}`);
    for (const w of s.waiters.values()) (w.cancel(), w.reject(err));
    s.waiters.clear();
    s.link.close(reason);
    this.batchSentMs.clear();
    this.oldestUnackedMs = null;
    // Sync-mode writers must not hang on a peer that is gone.
    if (this.effectiveMode === "sync" && this.mode === "sync") this.dropToAsync(`peer disconnected (${reason})`);
    this.releaseSyncWaiters();
  }

  receive(message: SyncMessage): void {
    const s = this.session;
    if (!s || s.closed) return;
    if (message.t === "rc.pushed") {
      // Out of band: a sender blocked on its push window may be the inbox's own handler.
      if (s.pushesInFlight > 0) s.pushesInFlight--;
      return;
    }
    s.inbox.push(message);
    if (s.inbox.length >= this.bounds.inboxMessagesMax && !s.paused) {
      s.paused = true;
      s.link.pause?.();
    }
    if (!s.processing) void this.processInbox(s);
  }

  private async processInbox(s: Session): Promise<void> {
    s.processing = true;
    try {
      while (s.inbox.length > 0 && !s.closed) {
        const m = s.inbox.shift()!;
        if (s.paused && s.inbox.length <= this.bounds.inboxMessagesMax / 2) {
          s.paused = false;
          s.link.resume?.();
        }
        await this.handle(s, m);
      }
    } catch (err) {
      this.failSession(s, err);
    } finally {
      s.processing = false;
    }
  }

  private failSession(s: Session, err: unknown): void {
    if (s.closed) return; // the session ended under the handler: nothing to report
    this.log("warning", `sync protocol error: ${(err as Error).message}`);
    if (this.session === s) this.detach(`protocol error: ${(err as Error).message}`);
  }

  private send(s: Session, m: SyncMessage): number {
    if (s.closed) throw new TandemError("unavailable", "sync session closed");
    const bytes = s.link.send(m);
    return bytes || approxBytes(m);
  }

  private stateMessage(): StateMsg {
    const id = this.store.identity();
    const recv = this.store.getMeta<RecvMeta>(metaRecv);
    const initial = this.store.getMeta<InitialMeta>(metaInitial);
    return {
      t: "state", storeId: id.storeId, generation: id.generation, peerGeneration: id.peerGeneration,
      initialDone: this.store.getMeta<string>(metaInitialDone) != null,
      initGeneration: initial?.masterGeneration ?? null, initCursor: initial?.cursor ?? null,
      recvGeneration: recv?.generation ?? null, recvSeq: recv?.seq ?? 0,
      count: this.store.count(), lastSeq: this.store.lastSeq(), storedBytes: this.store.stats().storedBytes,
    };
  }

  private async onPeerState(s: Session, peer: StateMsg): Promise<void> {
    if (s.peer) throw new TandemError("badFrame", "second state message in one session");
    s.peer = peer;
    const me = this.store.identity();
    const backupState = this.role === "backup" ? this.stateMessage() : peer;
    // Paired: the backup adopted the master's storeId and both know the other's generation.
    const masterGen = this.role === "master" ? me.generation : peer.generation;
    const backupGen = this.role === "backup" ? me.generation : peer.generation;
    const masterPeerGen = this.role === "master" ? me.peerGeneration : peer.peerGeneration;
    const backupPeerGen = this.role === "backup" ? me.peerGeneration : peer.peerGeneration;
    s.paired = me.storeId === peer.storeId && masterPeerGen === backupGen && backupPeerGen === masterGen && backupState.initialDone;

    // Where live replication to the peer resumes.
    const last = this.store.lastSeq();
    const oldest = this.store.stats().oldestSeq || last + 1; // empty log: nothing replayable
    const resumable = peer.recvGeneration === me.generation && peer.recvSeq <= last && peer.recvSeq + 1 >= oldest;
    s.sendSeq = resumable ? peer.recvSeq : last;
    s.ackedSeq = s.sendSeq;
    this.lastTrimSeq = Math.min(this.lastTrimSeq, s.ackedSeq);
    this.log("info", `sync session with peer: ${s.paired ? "paired" : "not paired"}; replication ${resumable
      ? `resumes after seq ${s.sendSeq}` : `starts after seq ${s.sendSeq} (earlier changes are covered by reconciliation)`}`);

    if (!s.paired && this.role === "backup") {
      // Not eligible for takeover until an initial sync with this master completes.
      if (this.store.getMeta(metaInitialDone) != null) await this.store.putMeta(metaInitialDone, null);
      const initial = this.store.getMeta<InitialMeta>(metaInitial);
      this.initialProgress = {
        percent: initial?.masterGeneration === peer.generation ? Math.floor((initial.cursor / 2 ** 32) * 100) : 0,
        bytesDone: 0, bytesTotal: peer.storedBytes,
      };
    }
    if (s.paired) {
      this.initialProgress = null;
      this.maybeResumeSync(s);
    }
    void this.pump(s);
    if (this.role === "master") {
      if (!s.paired) void this.runInitial(s);
      else if (this.reconOnConnect) {
        s.catchingUp = true;
        void this.runRecon(s, "reconnect").catch(() => undefined).finally(() => { s.catchingUp = false; });
      }
    }
  }

  // ---------------------------------------------------------------- message handling

  private async handle(s: Session, m: SyncMessage): Promise<void> {
    switch (m.t) {
      case "state": return this.onPeerState(s, m);
      case "rep": return this.onRep(s, m.throughSeq, m.segs);
      case "ack": return this.onAckMsg(s, m.throughSeq, m.corrupt);
      case "rc.fp": return this.onFingerprints(s, m);
      case "rc.keys": {
        const acc = s.keysAcc.get(m.id) ?? [];
        acc.push(m);
        s.keysAcc.set(m.id, acc);
        if (m.last) this.resolveWaiter(s, `keys:${m.id}`, m);
        return;
      }
      case "rc.pushed": return; // handled in receive()
      case "rc.want":
        // Pushing waits for the peer's rc.pushed, which may queue behind what the peer sends
        // meanwhile: served beside the inbox (in order), so reading never pauses on a handler
        // that waits for the peer (both sides would stall until reconStepTimeoutMs).
        s.wants = s.wants.then(() => this.onWant(s, m.id, m.want, m.drop, m.last)).catch((err) => this.failSession(s, err));
        return;
      case "rc.push": return this.onPush(s, m.id, m.segs);
      case "rc.end": {
        await this.flushCommits(s);
        if (m.cursor !== null && this.role === "backup" && !s.paired && s.peer) {
          await this.store.putMeta(metaInitial, { masterGeneration: s.peer.generation, cursor: m.cursor } satisfies InitialMeta);
          this.updateBackupProgress(m.cursor);
        }
        const evicted = s.pushEvicted.get(m.id) ?? [];
        s.pushEvicted.delete(m.id);
        this.send(s, { t: "rc.endack", id: m.id, evicted });
        return;
      }
      case "rc.wdone":
        await this.flushCommits(s); // what the peer pushed for our want is durable first
        return this.resolveWaiter(s, `${m.t}:${m.id}`, m);
      case "rc.endack": return this.resolveWaiter(s, `${m.t}:${m.id}`, m);
      case "rc.del": return this.onDel(s, m.prefixes);
      case "init.done": return this.onInitDone(s, m.storeId, m.generation);
      case "init.ack": return this.resolveWaiter(s, "init.ack", m);
      case "fetch": return this.onFetch(s, m.labels);
      case "fetched": return this.onFetched(m.segs);
    }
  }

  private waitFor(s: Session, key: string): Promise<SyncMessage> {
    const p = new Promise<SyncMessage>((resolve, reject) => {
      if (s.closed) return reject(new TandemError("unavailable", "sync session closed"));
      const cancel = this.clock.setTimer(this.bounds.reconStepTimeoutMs, () => {
        s.waiters.delete(key);
        reject(new TandemError("timeout", `no ${key} from peer within ${this.bounds.reconStepTimeoutMs} ms`));
        if (this.session === s) this.detach(`peer did not answer ${key}`);
      });
      s.waiters.set(key, { resolve, reject, cancel });
    });
    p.catch(() => undefined); // awaited later (or abandoned with the session)
    return p;
  }

  private resolveWaiter(s: Session, key: string, m: SyncMessage): void {
    const w = s.waiters.get(key);
    if (!w) return; // late answer to an abandoned step: harmless
    s.waiters.delete(key);
    w.cancel();
    w.resolve(m);
  }

  // ---------------------------------------------------------------- live replication

  private onLocalCommit(entries: ChangeEntry[]): void {
    let allPeer = true;
    for (const e of entries) {
      this.index.add(e.label);
      if (e.origin !== "peer") allPeer = false;
    }
    const s = this.session;
    if (!s || !s.peer || s.closed || entries.length === 0) return;
    // What the peer just sent us is never sent back: skip it without reading the log.
    if (allPeer && !s.pumping && s.inflight.length === 0 && s.backlog.length === 0 && s.sendSeq === entries[0]!.seq - 1) {
      s.sendSeq = entries[entries.length - 1]!.seq;
      if (s.sendSeq > s.ackedSeq) s.ackedSeq = s.sendSeq;
      return;
    }
    void this.pump(s);
  }

  /** Sends change-log batches while the window and the link allow. */
  private async pump(s: Session): Promise<void> {
    if (s.pumping) return;
    s.pumping = true;
    try {
      while (!s.closed && this.session === s && s.inflight.length < this.bounds.inflightBatchesMax) {
        if (!s.link.writable()) {
          this.clock.setTimer(this.bounds.retryMs, () => void this.pump(s));
          break;
        }
        // The change log is read ahead in blocks, not once per batch.
        while (s.backlog.length > 0 && s.backlog[0]!.seq <= s.sendSeq) s.backlog.shift();
        if (s.backlog.length === 0) s.backlog = this.store.changesSince(s.sendSeq, this.bounds.repBatchEntriesMax);
        if (s.backlog.length === 0) break;
        const segs: StoredSegment[] = [];
        let bytes = 0;
        let through = s.sendSeq;
        let used = 0;
        for (const e of s.backlog) {
          if (bytes >= this.bounds.repBatchBytesMax) break;
          used++;
          through = e.seq;
          if (e.origin !== "local") continue; // never echo what the peer sent us
          const seg = this.store.getStored(e.label);
          if (!seg) continue; // evicted or deleted since: nothing to send
          segs.push(seg);
          bytes += seg.payload.length;
        }
        s.backlog = s.backlog.slice(used);
        s.sendSeq = through;
        if (segs.length === 0 && s.inflight.length === 0) {
          // Only entries the peer sent us (or gone since): nothing to acknowledge.
          if (through > s.ackedSeq) s.ackedSeq = through;
          continue;
        }
        s.inflight.push(through);
        const now = this.clock.now();
        this.batchSentMs.set(through, now);
        if (this.oldestUnackedMs === null) this.oldestUnackedMs = now;
        const wire = this.send(s, { t: "rep", throughSeq: through, segs });
        this.counters.sentSegments += segs.length;
        this.counters.sentBytes += wire;
      }
    } finally {
      s.pumping = false;
    }
    this.updateBehind(s);
  }

  private async onRep(s: Session, throughSeq: number, segs: StoredSegment[]): Promise<void> {
    if (!s.peer) throw new TandemError("badFrame", "rep before state");
    const recv: RecvMeta = { generation: s.peer.generation, seq: throughSeq };
    // Committed in the background (the store keeps call order and coalesces); acked when durable.
    await this.track(s, this.putVerified(segs, { [metaRecv]: recv }).then(async (corrupt) => {
      this.counters.receivedSegments += segs.length - corrupt.length;
      for (const seg of segs) this.counters.receivedBytes += seg.payload.length;
      if (this.pendingRepair.size > 0 && corrupt.length === 0) await this.noteRepaired(segs);
      if (!s.closed) this.send(s, { t: "ack", throughSeq, corrupt });
    }));
  }

  /** Keeps a commit in flight; waits only when commitsInFlightMax are. */
  private async track(s: Session, p: Promise<unknown>): Promise<void> {
    const tracked = p.catch((err) => {
      if (s.closed || this.session !== s) return;
      this.log("warning", `sync commit failed: ${(err as Error).message}`);
      this.detach(`commit failed: ${(err as Error).message}`);
    });
    s.commits.add(tracked);
    void tracked.finally(() => s.commits.delete(tracked));
    if (s.commits.size >= this.bounds.commitsInFlightMax) await s.commits.values().next().value;
  }

  /** Waits until every received batch is durable. */
  private async flushCommits(s: Session): Promise<void> {
    while (s.commits.size > 0) await Promise.all([...s.commits]);
  }

  /** putStored as one transaction; when the batch fails verification, one by one. */
  private async putVerified(segs: StoredSegment[], meta: Record<string, unknown>): Promise<Label[]> {
    if (segs.length === 0) {
      for (const [k, v] of Object.entries(meta)) await this.store.putMeta(k, v);
      return [];
    }
    try {
      await this.store.putStored(segs, "peer", meta);
      return [];
    } catch (err) {
      if (!(err instanceof TandemError) || (err.code !== "corrupt" && err.code !== "badInput")) throw err;
      const corrupt: Label[] = [];
      const good: StoredSegment[] = [];
      for (const seg of segs) {
        try {
          await this.store.putStored([seg], "peer");
          good.push(seg);
        } catch (e) {
          if (!(e instanceof TandemError) || (e.code !== "corrupt" && e.code !== "badInput")) throw e;
          corrupt.push(seg.label);
        }
      }
      this.log("warning", `peer sent ${corrupt.length} segment(s) that do not hash to their label; refused`);
      for (const [k, v] of Object.entries(meta)) await this.store.putMeta(k, v);
      return corrupt;
    }
  }

  private async onAckMsg(s: Session, throughSeq: number, corrupt: Label[]): Promise<void> {
    if (throughSeq > s.sendSeq) throw new TandemError("badFrame", `ack for seq ${throughSeq} never sent`);
    while (s.inflight.length > 0 && s.inflight[0]! <= throughSeq) s.inflight.shift();
    const afterSeq = s.ackedSeq;
    if (throughSeq > s.ackedSeq) s.ackedSeq = throughSeq;
    const now = this.clock.now();
    for (const seq of [...this.batchSentMs.keys()]) if (seq <= throughSeq) this.batchSentMs.delete(seq);
    const nextSent = this.batchSentMs.values().next();
    this.oldestUnackedMs = nextSent.done ? null : nextSent.value;
    if (throughSeq > afterSeq) for (const l of this.ackListeners) l(afterSeq, throughSeq, now);
    const bad: Label[] = [];
    for (const label of corrupt) {
      // Our copy failed at the peer: check it here (a corrupt one is removed by verify).
      if (this.store.get(label, { verify: true }) === undefined) {
        this.forgetRemoved(label);
        this.counters.corruptFound++;
        bad.push(label);
      }
    }
    if (bad.length > 0) await this.noteCorrupt(bad);
    this.releaseSyncWaiters();
    this.maybeResumeSync(s);
    if (s.ackedSeq - this.lastTrimSeq >= this.bounds.trimEverySeqs) {
      this.lastTrimSeq = s.ackedSeq;
      await this.store.trimChangesThrough(s.ackedSeq);
    }
    void this.pump(s);
  }

  private updateBehind(s: Session): void {
    const lag = Math.max(0, this.store.lastSeq() - s.ackedSeq);
    if (!this.behind && lag > this.bounds.congestionMarkSegments) {
      this.behind = true;
      this.log("warning", `sync behind: ${lag} segments not yet acknowledged by the peer`, "sync_behind");
    } else if (this.behind && lag < this.bounds.congestionMarkSegments / 2) {
      this.behind = false;
      this.log("notice", "sync caught up");
    }
  }

  // ---------------------------------------------------------------- sync mode

  /** Resolves once the peer durably holds these entries (sync mode), else at once. */
  awaitReplicated(entries: ChangeEntry[]): Promise<void> {
    const s = this.session;
    if (this.mode !== "sync" || this.effectiveMode !== "sync" || !s || !s.peer || !s.paired || entries.length === 0) {
      return Promise.resolve();
    }
    let seq = 0;
    for (const e of entries) if (e.seq > seq) seq = e.seq;
    if (s.ackedSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      const w = {
        seq, resolve,
        cancel: this.clock.setTimer(this.bounds.syncAckTimeoutMs, () => {
          this.dropToAsync(`backup did not acknowledge within ${this.bounds.syncAckTimeoutMs} ms`);
          this.releaseSyncWaiters();
        }),
      };
      this.syncWaiters.push(w);
    });
  }

  private maybeResumeSync(s: Session): void {
    if (this.mode === "sync" && this.effectiveMode === "async" && s.paired && !s.closed && s.ackedSeq >= this.store.lastSeq()) {
      this.effectiveMode = "sync";
      this.log("notice", "sync mode: peer caught up, replication is synchronous");
    }
  }

  private dropToAsync(why: string): void {
    if (this.effectiveMode === "async") return;
    this.effectiveMode = "async";
    this.counters.droppedToAsync++;
    this.log("warning", `sync mode dropped to async: ${why}`, "sync_dropped_to_async");
  }

  private releaseSyncWaiters(): void {
    const acked = this.session?.ackedSeq ?? Infinity;
    const keep: typeof this.syncWaiters = [];
    for (const w of this.syncWaiters) {
      if (this.effectiveMode === "async" || w.seq <= acked || !this.session) (w.cancel(), w.resolve());
      else keep.push(w);
    }
    this.syncWaiters = keep;
  }

  // ---------------------------------------------------------------- reconciliation: initiator

  private ensureIndex(): void {
    if (this.index.total !== this.store.count()) this.rebuildIndex();
  }

  /** Runs one reconciliation pass over [fromPrefix, 2^32). Initiator side. */
  private async reconcile(
    s: Session, mode: ReconMode, fromPrefix: number, collectDeletes: Uint8Array[] | null, tally: ReconTally,
  ): Promise<void> {
    this.ensureIndex();
    const bits = this.index.bitsFor(Math.max(this.store.count(), s.peer?.count ?? 0));
    const buckets = 2 ** bits;
    const windowSize = mode === "overwrite" ? this.bounds.overwriteWindowBuckets : this.bounds.unionWindowBuckets;
    let from = bits === 0 ? 0 : Math.floor(fromPrefix / 2 ** (32 - bits));
    while (from < buckets) {
      if (s.closed) throw new TandemError("unavailable", "sync session closed");
      const to = Math.min(buckets, from + windowSize);
      const id = this.nextReconId();
      const fp: FpMsg = { t: "rc.fp", id, mode, bits, from, to, fps: this.index.fingerprints(bits, from, to) };
      const keysP = this.waitFor(s, `keys:${id}`);
      tally.bytes += this.send(s, fp);
      await keysP;
      tally.roundTrips++;
      const parts = s.keysAcc.get(id) ?? [];
      s.keysAcc.delete(id);
      // Their prefixes per mismatched bucket, keyed by a 53-bit number (no strings).
      const theirs = new Map<number, Map<number, Uint8Array>>();
      for (const part of parts) {
        tally.bytes += approxBytes(part);
        let o = 0;
        for (let i = 0; i < part.buckets.length; i++) {
          const b = part.buckets[i]!;
          if (b < from || b >= to) throw new TandemError("badFrame", `rc.keys bucket ${b} outside ${from}..${to}`);
          let set = theirs.get(b);
          if (!set) theirs.set(b, (set = new Map()));
          for (let k = 0; k < part.counts[i]!; k++, o += prefixBytes) set.set(prefixKey(part.prefixes, o), part.prefixes.subarray(o, o + prefixBytes));
        }
      }
      const repair = mode === "overwrite" && this.pendingRepair.size > 0 ? this.repairPrefixes() : null;
      const want: Uint8Array[] = [];
      const push: Label[] = [];
      for (const b of [...theirs.keys()].sort((x, y) => x - y)) {
        const set = theirs.get(b)!;
        const mine = this.store.labelsInRange(labelAtPrefix32(bucketStart(b, bits)), labelAtPrefix32(bucketStart(b + 1, bits)), this.bounds.bucketKeysMax);
        const minePrefixes = new Set<number>();
        for (const l of mine) {
          const k = prefixKey(l, 0);
          minePrefixes.add(k);
          if (!set.has(k)) push.push(l);
        }
        for (const [k, p] of set) {
          if (minePrefixes.has(k)) continue;
          // A segment we lost to corruption is fetched back, even while overwriting.
          if (mode === "union" || repair?.has(hex(p))) want.push(p);
          else if (collectDeletes) collectDeletes.push(p.slice());
        }
      }
      const wdoneP = this.waitFor(s, `rc.wdone:${id}`);
      const endackP = this.waitFor(s, `rc.endack:${id}`);
      for (let i = 0; i === 0 || i < want.length; i += this.bounds.keysPerMessageMax) {
        const part = want.slice(i, i + this.bounds.keysPerMessageMax);
        const last = i + this.bounds.keysPerMessageMax >= want.length;
        tally.bytes += this.send(s, { t: "rc.want", id, want: concatPrefixes(part), drop: new Uint8Array(0), last });
      }
      tally.missingHere += want.length;
      // Push what the peer lacks, in key order, paced by the link.
      let batch: StoredSegment[] = [];
      let batchBytes = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        await this.waitPushWindow(s);
        const wire = this.send(s, { t: "rc.push", id, segs: batch });
        tally.bytes += wire;
        tally.payloadBytes += batchBytes;
        this.counters.sentBytes += wire;
        this.counters.sentSegments += batch.length;
        if (this.initialProgress && mode === "overwrite") {
          this.initialProgress.bytesDone += batchBytes;
          const last = batch[batch.length - 1]!.label;
          this.setMasterProgress(prefix32(last));
        }
        batch = [];
        batchBytes = 0;
      };
      for (const l of push) {
        const seg = this.store.getStored(l);
        if (!seg) continue;
        batch.push(seg);
        batchBytes += seg.payload.length;
        tally.missingThere++;
        if (batchBytes >= this.bounds.pushBatchBytesMax || batch.length >= 4096) await flush();
      }
      await flush();
      const cursor = to >= buckets ? 0xffffffff : bucketStart(to, bits);
      tally.bytes += this.send(s, { t: "rc.end", id, cursor: mode === "overwrite" ? cursor : null });
      await wdoneP;
      const endack = (await endackP) as Extract<SyncMessage, { t: "rc.endack" }>;
      tally.roundTrips++;
      if (endack.evicted.length > 0 && mode === "union") {
        // The peer evicted these recently: follow it rather than ping-pong.
        tally.deletedHere += await this.deleteLocal(endack.evicted);
        tally.missingThere -= endack.evicted.length;
      }
      const dropped = s.pushEvicted.get(-id) ?? [];
      s.pushEvicted.delete(-id);
      if (dropped.length > 0) {
        // We evicted these recently and the peer still had them: evict there too.
        tally.bytes += this.send(s, { t: "rc.del", id, prefixes: concatPrefixes(dropped) });
        tally.deletedThere += dropped.length;
        tally.missingHere -= dropped.length;
      }
      if (mode === "overwrite") this.setMasterProgress(to >= buckets ? 2 ** 32 : bucketStart(to, bits));
      from = to;
    }
  }

  /** Odd ids for the master, even for the backup: both may run a reconciliation at once. */
  private nextReconId(): number {
    const parity = this.role === "master" ? 1 : 0;
    this.reconId += 1;
    return this.reconId * 2 + parity;
  }

  private repairPrefixes(): Set<string> {
    const out = new Set<string>();
    for (const h of this.pendingRepair) out.add(h.slice(0, prefixBytes * 2));
    return out;
  }

  private async noteCorrupt(labels: Label[]): Promise<void> {
    for (const l of labels) {
      if (this.pendingRepair.size >= repairLabelsMax) break;
      this.pendingRepair.add(hex(l));
    }
    await this.store.putMeta(metaRepair, [...this.pendingRepair]);
  }

  private async noteRepaired(segs: StoredSegment[]): Promise<number> {
    let n = 0;
    for (const seg of segs) if (this.pendingRepair.delete(hex(seg.label))) n++;
    if (n > 0) {
      await this.store.putMeta(metaRepair, [...this.pendingRepair]);
      this.counters.corruptRepaired += n;
      this.log("notice", `repaired ${n} corrupt segment(s) from the peer`, "corruption_repaired");
    }
    return n;
  }

  /** Waits while the link's send queue is above its high-water mark; a peer that reads
   *  nothing for reconStepTimeoutMs ends the session (our reading may be paused behind
   *  this handler, and then the connection no longer counts the peer's silence). */
  private async waitWritable(s: Session): Promise<void> {
    const deadline = this.clock.now() + this.bounds.reconStepTimeoutMs;
    while (!s.closed && !s.link.writable()) {
      if (this.clock.now() > deadline) {
        if (this.session === s) this.detach("peer did not read what was sent");
        break;
      }
      await this.sleep(this.bounds.retryMs);
    }
    if (s.closed) throw new TandemError("unavailable", "sync session closed");
  }

  /** Waits for room in the push window: what an interrupted sync must resend stays small. */
  private async waitPushWindow(s: Session): Promise<void> {
    const deadline = this.clock.now() + this.bounds.reconStepTimeoutMs;
    while (!s.closed && (s.pushesInFlight >= this.bounds.pushesInFlightMax || !s.link.writable())) {
      if (this.clock.now() > deadline) {
        if (this.session === s) this.detach("peer did not acknowledge pushed segments");
        break;
      }
      await this.sleep(this.bounds.retryMs);
    }
    if (s.closed) throw new TandemError("unavailable", "sync session closed");
    s.pushesInFlight++;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.clock.setTimer(ms, r));
  }

  private setMasterProgress(prefix: number): void {
    if (!this.initialProgress) return;
    const fraction = Math.min(1, prefix / 2 ** 32);
    this.initialProgress.percent = Math.min(99, Math.floor(fraction * 100));
    const now = this.clock.now();
    if (now - this.progressStatsMs < progressStatsEveryMs) return; // stats() is not free
    this.progressStatsMs = now;
    const total = this.store.stats().storedBytes;
    this.initialProgress.bytesTotal = Math.max(total, this.initialProgress.bytesDone);
  }
  private progressStatsMs = -Infinity;

  private updateBackupProgress(cursor: number): void {
    if (!this.initialProgress) this.initialProgress = { percent: 0, bytesDone: 0, bytesTotal: 0 };
    this.initialProgress.percent = Math.min(99, Math.floor((cursor / 2 ** 32) * 100));
    const now = this.clock.now();
    if (now - this.progressStatsMs < progressStatsEveryMs) return;
    this.progressStatsMs = now;
    this.initialProgress.bytesDone = this.store.stats().storedBytes;
    this.initialProgress.bytesTotal = Math.max(this.initialProgress.bytesTotal, this.initialProgress.bytesDone);
  }

  private async deleteLocal(labels: Label[]): Promise<number> {
    const n = await this.store.deleteSegments(labels);
    for (const l of labels) this.index.remove(l);
    if (n !== labels.length) this.ensureIndex();
    return n;
  }

  /** Master: the initial overwrite of the backup's store. */
  private async runInitial(s: Session): Promise<void> {
    if (s.initialRunning || !s.peer) return;
    s.initialRunning = true;
    const peer = s.peer;
    const tally: ReconTally = { roundTrips: 0, bytes: 0, payloadBytes: 0, missingHere: 0, missingThere: 0, deletedThere: 0, deletedHere: 0 };
    const started = this.clock.now();
    this.initialProgress = { percent: 0, bytesDone: 0, bytesTotal: this.store.stats().storedBytes };
    try {
      const me = this.store.identity();
      const resumeFrom = peer.initGeneration === me.generation && peer.initCursor !== null ? peer.initCursor : 0;
      this.log("notice", resumeFrom > 0
        ? `initial sync resumes at ${((resumeFrom / 2 ** 32) * 100).toFixed(1)}% of the key space`
        : "initial sync starts: this store overwrites the backup's");
      if (resumeFrom > 0) await this.reconcile(s, "overwrite", resumeFrom, null, tally);
      // The final pass over the whole key space finds the backup's extras (deleted last).
      const deletes: Uint8Array[] = [];
      await this.reconcile(s, "overwrite", 0, deletes, tally);
      for (let i = 0; i < deletes.length; i += this.bounds.keysPerMessageMax) {
        const chunk = deletes.slice(i, i + this.bounds.keysPerMessageMax);
        tally.bytes += this.send(s, { t: "rc.del", id: 0, prefixes: concatPrefixes(chunk) });
      }
      tally.deletedThere += deletes.length;
      const ackP = this.waitFor(s, "init.ack");
      this.send(s, { t: "init.done", storeId: me.storeId, generation: me.generation });
      const ack = (await ackP) as Extract<SyncMessage, { t: "init.ack" }>;
      tally.roundTrips++;
      await this.store.setIdentity({ ...this.store.identity(), peerGeneration: ack.generation });
      // Both stores now hold one history: either may be the backup after a role swap.
      await this.store.putMeta(metaInitialDone, ack.generation);
      s.paired = true;
      this.initialProgress = null;
      this.finishRecon(tally, started, `initial sync complete: ${tally.missingThere} segments sent, ${deletes.length} extra removed on the backup`);
      this.log("notice", `initial sync complete: ${tally.missingThere} segments sent, ${deletes.length} removed from the backup`);
      this.maybeResumeSync(s);
    } catch (err) {
      if (!s.closed) this.log("warning", `initial sync interrupted: ${(err as Error).message}`);
    } finally {
      s.initialRunning = false;
    }
  }

  private finishRecon(t: ReconTally, started: number, _message: string): void {
    this.counters.reconRuns++;
    const inSync = t.missingHere === 0 && t.missingThere === 0 && t.deletedHere === 0 && t.deletedThere === 0;
    this.lastRecon = { ...t, timeMs: this.clock.now() - started, inSync };
  }

  /** One union reconciliation (anti-entropy). Resolves with the tally. */
  async runRecon(s: Session | null = this.session, _why = "check"): Promise<ReconTally & { timeMs: number; inSync: boolean }> {
    if (!s || !s.peer || s.closed) throw new TandemError("unavailable", "sync peer not connected");
    if (!s.paired) throw new TandemError("unavailable", "initial sync in progress");
    if (s.reconRunning) throw new TandemError("unavailable", "a consistency check is already running");
    s.reconRunning = true;
    const started = this.clock.now();
    const tally: ReconTally = { roundTrips: 0, bytes: 0, payloadBytes: 0, missingHere: 0, missingThere: 0, deletedThere: 0, deletedHere: 0 };
    try {
      await this.reconcile(s, "union", 0, null, tally);
      this.finishRecon(tally, started, "");
      return this.lastRecon!;
    } finally {
      s.reconRunning = false;
    }
  }

  checkNow(): Promise<ReconTally & { timeMs: number; inSync: boolean }> {
    return this.runRecon(this.session, "operator");
  }

  // ---------------------------------------------------------------- reconciliation: responder

  private async onFingerprints(s: Session, m: FpMsg): Promise<void> {
    this.ensureIndex();
    if (m.bits > this.index.fineBits) throw new TandemError("badFrame", `rc.fp level ${m.bits} finer than ${this.index.fineBits}`);
    if (m.mode === "overwrite" && this.role !== "backup") throw new TandemError("badFrame", "overwrite requested of a master");
    const mine = this.index.fingerprints(m.bits, m.from, m.to);
    const buckets: number[] = [];
    const counts: number[] = [];
    const prefixes: Uint8Array[] = [];
    const flush = (last: boolean) => {
      const p = concatPrefixes(prefixes);
      this.send(s, { t: "rc.keys", id: m.id, buckets: Uint32Array.from(buckets), counts: Uint32Array.from(counts), prefixes: p, last });
      buckets.length = 0;
      counts.length = 0;
      prefixes.length = 0;
    };
    for (let b = m.from; b < m.to; b++) {
      const o = (b - m.from) * 6;
      let same = true;
      for (let i = 0; i < 6; i++) if (mine[o + i] !== m.fps[o + i]) { same = false; break; }
      if (same) continue;
      const labels = this.store.labelsInRange(labelAtPrefix32(bucketStart(b, m.bits)), labelAtPrefix32(bucketStart(b + 1, m.bits)), this.bounds.bucketKeysMax);
      if (prefixes.length + labels.length > this.bounds.keysPerMessageMax && prefixes.length > 0) flush(false);
      buckets.push(b);
      counts.push(labels.length);
      for (const l of labels) prefixes.push(l.subarray(0, prefixBytes));
    }
    flush(true);
  }

  private resolvePrefix(p: Uint8Array): Label | null {
    const found = this.store.labelsInRange(padLabel(p), null, 1)[0];
    if (!found) return null;
    for (let i = 0; i < p.length; i++) if (found[i] !== p[i]) return null;
    return found;
  }

  private async onWant(s: Session, id: number, want: Uint8Array, drop: Uint8Array, last: boolean): Promise<void> {
    let batch: StoredSegment[] = [];
    let bytes = 0;
    for (let o = 0; o < want.length; o += prefixBytes) {
      const label = this.resolvePrefix(want.subarray(o, o + prefixBytes));
      const seg = label ? this.store.getStored(label) : undefined;
      if (!seg) continue;
      batch.push(seg);
      bytes += seg.payload.length;
      if (bytes >= this.bounds.pushBatchBytesMax || batch.length >= 4096) {
        await this.waitPushWindow(s);
        this.sendPush(s, id, batch);
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) {
      await this.waitPushWindow(s);
      this.sendPush(s, id, batch);
    }
    if (drop.length > 0) await this.onDel(s, drop);
    if (last) this.send(s, { t: "rc.wdone", id });
  }

  private sendPush(s: Session, id: number, segs: StoredSegment[]): void {
    const wire = this.send(s, { t: "rc.push", id, segs });
    this.counters.sentBytes += wire;
    this.counters.sentSegments += segs.length;
  }

  private async onPush(s: Session, id: number, segs: StoredSegment[]): Promise<void> {
    // Whether this push answers our own want (we initiated id) or is the peer's push.
    const ours = id % 2 === (this.role === "master" ? 1 : 0);
    const overwrite = this.role === "backup" && !s.paired;
    const accept: StoredSegment[] = [];
    const refused: Label[] = [];
    for (const seg of segs) {
      if (!overwrite && this.store.recentlyEvicted(seg.label)) refused.push(seg.label);
      else accept.push(seg);
    }
    const meta: Record<string, unknown> = {};
    if (overwrite && s.peer && accept.length > 0) {
      const cursor = prefix32(accept[accept.length - 1]!.label);
      meta[metaInitial] = { masterGeneration: s.peer.generation, cursor } satisfies InitialMeta;
      this.updateBackupProgress(cursor);
    }
    if (accept.length > 0) {
      await this.track(s, this.putVerified(accept, meta).then(async (corrupt) => {
        this.counters.receivedSegments += accept.length - corrupt.length;
        for (const seg of accept) this.counters.receivedBytes += seg.payload.length;
        if (this.pendingRepair.size > 0 && corrupt.length === 0) await this.noteRepaired(accept);
        if (!s.closed) this.send(s, { t: "rc.pushed", id });
      }));
    } else if (!s.closed) this.send(s, { t: "rc.pushed", id });
    if (refused.length > 0) {
      const key = ours ? -id : id;
      s.pushEvicted.set(key, [...(s.pushEvicted.get(key) ?? []), ...refused]);
    }
  }

  private async onDel(s: Session, prefixes: Uint8Array): Promise<void> {
    await this.flushCommits(s);
    const overwrite = this.role === "backup" && !s.paired;
    // Local writes the master has not acknowledged yet are not extras: they are on their way.
    const pending = new Set<string>();
    if (overwrite) {
      for (let after = s.ackedSeq; ;) {
        const entries = this.store.changesSince(after, 10_000);
        for (const e of entries) if (e.origin === "local") pending.add(hex(e.label.subarray(0, prefixBytes)));
        if (entries.length < 10_000) break;
        after = entries[entries.length - 1]!.seq;
      }
    }
    const labels: Label[] = [];
    for (let o = 0; o < prefixes.length; o += prefixBytes) {
      const p = prefixes.subarray(o, o + prefixBytes);
      if (pending.has(hex(p))) continue;
      const l = this.resolvePrefix(p);
      if (l) labels.push(l);
    }
    if (labels.length > 0) await this.deleteLocal(labels);
  }

  private async onInitDone(s: Session, storeId: string, generation: string): Promise<void> {
    if (this.role !== "backup") throw new TandemError("badFrame", "init.done sent to a master");
    if (!s.peer || generation !== s.peer.generation) throw new TandemError("badFrame", "init.done for another generation");
    await this.flushCommits(s);
    const id: StoreIdentity = this.store.identity();
    await this.store.setIdentity({ ...id, storeId, peerGeneration: generation });
    await this.store.putMeta(metaInitial, null);
    await this.store.putMeta(metaInitialDone, generation);
    s.paired = true;
    this.initialProgress = null;
    this.maybeResumeSync(s);
    this.log("notice", "initial sync complete: this backup now holds the master's store and may take over");
    this.send(s, { t: "init.ack", generation: id.generation });
  }

  // ---------------------------------------------------------------- scrub and repair

  private scheduleScrub(): void {
    if (this.stopped) return;
    this.scrubCancel = this.clock.setTimer(this.bounds.scrubTickMs, () => {
      void this.scrubTick().finally(() => this.scheduleScrub());
    });
  }

  /** Re-hashes the next few values; corrupt ones (removed by verify) are fetched again. */
  async scrubTick(): Promise<number> {
    const labels = this.store.labelsInRange(this.scrubCursor, null, this.bounds.scrubSegmentsPerTick + 1);
    const start = this.scrubCursor;
    const corrupt: Label[] = [];
    let checked = 0;
    for (const l of labels) {
      if (start && compare(l, start) === 0) continue;
      checked++;
      if (this.store.get(l, { verify: true }) === undefined && !this.store.recentlyEvicted(l)) {
        corrupt.push(l);
        this.forgetRemoved(l);
      }
    }
    this.scrubCursor = labels.length > this.bounds.scrubSegmentsPerTick ? labels[labels.length - 1]! : null;
    if (corrupt.length > 0) {
      this.counters.corruptFound += corrupt.length;
      await this.noteCorrupt(corrupt);
      this.log("warning", `scrub found ${corrupt.length} corrupt segment(s); fetching them again from the peer`);
      const s = this.session;
      if (s && s.peer && !s.closed) {
        for (let i = 0; i < corrupt.length; i += this.bounds.fetchLabelsMax) {
          this.send(s, { t: "fetch", labels: corrupt.slice(i, i + this.bounds.fetchLabelsMax) });
        }
      }
    }
    return checked;
  }

  private async onFetch(s: Session, labels: Label[]): Promise<void> {
    const segs: StoredSegment[] = [];
    let bytes = 0;
    for (const l of labels) {
      if (this.store.get(l, { verify: true }) === undefined) continue;
      const seg = this.store.getStored(l);
      if (!seg) continue;
      segs.push(seg);
      bytes += seg.payload.length;
      if (bytes >= this.bounds.pushBatchBytesMax) {
        await this.waitWritable(s);
        this.send(s, { t: "fetched", segs: segs.splice(0) });
        bytes = 0;
      }
    }
    if (segs.length > 0) this.send(s, { t: "fetched", segs });
  }

  private async onFetched(segs: StoredSegment[]): Promise<void> {
    const corrupt = await this.putVerified(segs, {});
    const bad = new Set(corrupt.map(hex));
    await this.noteRepaired(segs.filter((x) => !bad.has(hex(x.label))));
  }

  // ---------------------------------------------------------------- configuration

  setRole(role: "master" | "backup"): void {
    if (role === this.role) return;
    this.role = role;
    this.detach("role changed");
  }

  setMode(mode: "async" | "sync"): void {
    this.mode = mode;
    if (mode === "async") {
      this.effectiveMode = "async";
      this.releaseSyncWaiters();
    } else if (this.session?.paired && this.session.ackedSeq >= this.store.lastSeq()) this.effectiveMode = "sync";
    else this.effectiveMode = "async";
  }
}

function concatPrefixes(list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.length * prefixBytes);
  list.forEach((p, i) => out.set(p.subarray(0, prefixBytes), i * prefixBytes));
  return out;
}

/** The first 53 bits of the 8-byte prefix at `o`, as an exact number (a Set/Map key). */
function prefixKey(b: Uint8Array, o: number): number {
  const hi = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  const lo = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
  return hi * 2 ** 21 + (lo >>> 11);
}

function padLabel(p: Uint8Array): Label {
  const out = new Uint8Array(32);
  out.set(p.subarray(0, Math.min(32, p.length)));
  return out;
}

export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

