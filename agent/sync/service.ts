// The data store sync service: puts the pure core (core.ts) on real sockets. It listens
// on the aux address (primary when there is no aux) at `datastore sync port`, dials the
// configured peer every `reconnectS` while there is no session, runs the authenticated
// handshake (agent/wire/handshake.ts) with the sync-specific checks (two masters, two
// backups), and bridges frames to the core through the message codecs. Everything the
// operator can configure is applied online: a role, mode, peer, port, secret or
// interval change never needs `restart`. Status, alarms and tandem_sync_* metrics are
// derived here from the core and the connection state.
//
// Connection rule: both sides listen and dial while they have no session; when two
// sessions race, the one dialed by the master wins on both sides, so the pair always
// converges on one session, and a live session is never replaced by a new dial.
import { withSuccessorHints } from "./hints.ts";
import { hostname as osHostname } from "node:os";
import type { ApplianceContext } from "../appliance-context.ts";
import type { ApplianceConfig, SyncConfig } from "../config/types.ts";
import { TandemError } from "../errors.ts";
import type { Counter } from "../metrics/registry.ts";
import type { ApplyResult, CheckResult, SyncService, SyncState, SyncStatus } from "../services.ts";
import type { ChangeEntry } from "../store/types.ts";
import { connectTcp, listenTcp, type Connection, type TcpListener } from "../wire/connection.ts";
import { listenFailureOf } from "../wire/listen-failure.ts";
import { clientHandshake, serverHandshake, type LocalHello, type PeerHello } from "../wire/handshake.ts";
import { SyncCore, type SyncBounds, type SyncClock, type SyncLink } from "./core.ts";
import { fromWire, toWire } from "./messages.ts";

/** How long a connection may sit in the handshake. */
export const syncHandshakeTimeoutMs = 5000;
/** Heartbeat on the sync connection, and the silence after which the peer is down. */
export const syncHeartbeatMs = 1000;
export const syncPeerDownMs = 5000;
/** Random extra wait before a redial, so two dialing peers do not keep colliding. */
export const redialJitterMs = 500;
/** A lost session not replaced within this long raises peer_down (a raced duplicate does not). */
export const peerDownGraceMs = 1000;
/** Connections accepted at once while handshaking (an unauthenticated flood is capped). */
export const pendingHandshakesMax = 8;
/** Alarm raised while the sync port cannot be bound (cleared by a notice once it can). */
export const syncPortAlarm = "sync_port_unavailable";

export type SyncContext = Pick<ApplianceContext, "version" | "config" | "store" | "events" | "metrics"> & { dataDir?: string };

const realClock: SyncClock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

interface Live {
  conn: Connection;
  masterDialed: boolean;
  peer: PeerHello;
}

export interface SyncServiceExtras {
  /** Sync mode: resolves once the peer durably holds these entries (else at once). */
  awaitReplicated(entries: ChangeEntry[]): Promise<void>;
  /** The core, for tests and the benchmark. */
  readonly core: SyncCore;
  /** The port actually listened on (useful with port 0), or null. */
  listenPort(): number | null;
  /** The state alone, without the store reads of status(): for loops that wait on it. */
  state(): SyncState;
}

export function createSyncServiceWith(ctx: SyncContext, bounds: Partial<SyncBounds> = {}): SyncService & SyncServiceExtras {
  const log = (severity: "error" | "warning" | "notice" | "info" | "debug", message: string, alarm?: string) =>
    ctx.events.emit(severity, "sync", message, alarm);
  let cfg: SyncConfig = structuredClone(ctx.config().datastore.sync);
  let bindAddr = bindOf(ctx.config());
  const hinted = withSuccessorHints(ctx.store);
  const core = new SyncCore(hinted.store, realClock, { role: cfg.master ? "master" : "backup", mode: cfg.mode, bounds, log });
  let running = false;
  let listener: TcpListener | null = null;
  let live: Live | null = null;
  let everConnected = false;
  let refusedReason: string | null = null;
  let lastRefusalLogged: string | null = null;
  let dialTimer: Timer | null = null;
  let checkTimer: Timer | null = null;
  let metricsTimer: Timer | null = null;
  let dialing = false;
  // Bumped whenever sync is disabled or its peer, role, port or secret change: a dial or
  // an accepted connection still in its handshake then belongs to the old settings and is
  // dropped when it completes, instead of pairing an appliance that was just disabled.
  let settingsEpoch = 0;
  let pending = 0;
  let lastCheck: CheckResult | null = null;
  let throughput = { atMs: Date.now(), bytes: 0, rateBps: 0 };

  const m = {
    sentSegments: ctx.metrics.counter("tandem_sync_sent_segments_total", "Segments sent to the sync peer"),
    receivedSegments: ctx.metrics.counter("tandem_sync_received_segments_total", "Segments received from the sync peer"),
    sentBytes: ctx.metrics.counter("tandem_sync_sent_bytes_total", "Bytes of sync messages sent"),
    receivedBytes: ctx.metrics.counter("tandem_sync_received_bytes_total", "Segment bytes received from the sync peer"),
    corruptRepaired: ctx.metrics.counter("tandem_sync_corruption_repaired_total", "Corrupt segments fetched again from the peer"),
    droppedToAsync: ctx.metrics.counter("tandem_sync_dropped_to_async_total", "Times sync mode dropped to async"),
    checks: ctx.metrics.counter("tandem_sync_checks_total", "Reconciliation runs"),
  };
  const seen: Record<keyof typeof m, number> = {
    sentSegments: 0, receivedSegments: 0, sentBytes: 0, receivedBytes: 0, corruptRepaired: 0, droppedToAsync: 0, checks: 0,
  };
  ctx.metrics.gauge("tandem_sync_lag_segments", "Change-log entries not yet acknowledged by the peer", () => core.lag().segments);
  ctx.metrics.gauge("tandem_sync_lag_seconds", "Age of the oldest unacknowledged replication batch", () => lagS());
  ctx.metrics.gauge("tandem_sync_connected", "1 while a sync session is up", () => (core.connected ? 1 : 0));
  ctx.metrics.gauge("tandem_sync_initial_sync_ratio", "Initial sync progress (0..1; 1 when done)", () =>
    (core.initialProgress ? core.initialProgress.percent / 100 : 1));

  function syncMetrics(): void {
    const c = core.counters;
    const now: Record<keyof typeof m, number> = {
      sentSegments: c.sentSegments, receivedSegments: c.receivedSegments, sentBytes: c.sentBytes,
      receivedBytes: c.receivedBytes, corruptRepaired: c.corruptRepaired, droppedToAsync: c.droppedToAsync, checks: c.reconRuns,
    };
    for (const k of Object.keys(m) as Array<keyof typeof m>) {
      const d = now[k] - seen[k];
      if (d > 0) (m[k] as Counter).inc(d);
      seen[k] = now[k];
    }
    const t = Date.now();
    const total = c.sentBytes + c.receivedBytes;
    if (t - throughput.atMs >= 1000) {
      throughput = { atMs: t, bytes: total, rateBps: ((total - throughput.bytes) * 1000) / (t - throughput.atMs) };
    }
  }

  function lagS(): number {
    const o = core.lag().oldestUnackedMs;
    return o === null ? 0 : Math.max(0, (Date.now() - o) / 1000);
  }

  function localHello(): LocalHello {
    const id = ctx.store.identity();
    return {
      service: "sync", model: ctx.version.model, softwareVersion: ctx.version.softwareVersion,
      storeId: id.storeId, generation: id.generation, role: cfg.master ? "master" : "backup",
      hostname: ctx.config().hostname || osHostname(),
    };
  }

  function roleProblem(peer: PeerHello): string | null {
    const mine = cfg.master ? "master" : "backup";
    if (peer.role === null) return "the peer did not say whether it is master or backup";
    if (peer.role === mine) {
      return mine === "master"
        ? `two masters: both this appliance and ${peer.hostname} are configured as master`
        : `two backups: both this appliance and ${peer.hostname} are configured as backup`;
    }
    // A backup promoted before its initial sync completed would overwrite the store it
    // was still copying: refuse, and say how to go on.
    const copied = mine === "master" ? core.unfinishedCopyOf(peer.generation) : null;
    if (copied !== null) {
      return `this master's store is an unfinished copy (${copied}%) of ${peer.hostname}'s: make ${peer.hostname} master ` +
        `again to finish the initial sync, or 'restart clean' it to take this store`;
    }
    return null;
  }

  function noteRefusal(reason: string): void {
    refusedReason = reason;
    if (lastRefusalLogged !== reason) {
      lastRefusalLogged = reason;
      log("error", `sync peer refused: ${reason}`, "peer_refused");
    }
  }

  function adopt(conn: Connection, peer: PeerHello, dialedByMe: boolean, epoch: number): void {
    const masterDialed = dialedByMe === cfg.master;
    if (!running) return conn.close("sync stopped");
    if (!cfg.enabled || epoch !== settingsEpoch) return conn.close("sync configuration changed during the handshake");
    if (live && !live.conn.closed) {
      // Two sessions raced: keep the one the master dialed, on both sides.
      if (live.masterDialed || !masterDialed) return conn.close("duplicate sync session");
      const old = live.conn;
      live = null;
      old.close("replaced by the master's session");
    }
    live = { conn, masterDialed, peer };
    refusedReason = null;
    lastRefusalLogged = null;
    everConnected = true;
    log("notice", `sync session up with ${peer.hostname} (${conn.remote}, ${peer.role})`);
    const link: SyncLink = {
      send: (msg) => {
        const before = conn.bytesQueuedTotal;
        conn.send(toWire(msg)).catch(() => undefined);
        return conn.bytesQueuedTotal - before;
      },
      writable: () => conn.writable,
      close: (reason) => conn.close(reason),
      pause: () => conn.pauseReading(),
      resume: () => conn.resumeReading(),
    };
    conn.onClose((reason) => {
      if (live?.conn !== conn) return;
      live = null;
      core.detach(reason);
      if (running) {
        setTimeout(() => {
          if (running && !live && cfg.enabled) log("warning", `sync peer down: ${reason}`, "peer_down");
        }, peerDownGraceMs);
        scheduleDial(cfg.reconnectS * 1000);
      }
    });
    core.attach(link);
    conn.onMessage((raw) => {
      let msg;
      try {
        msg = fromWire(raw);
      } catch (err) {
        conn.close(`bad sync message: ${(err as Error).message}`);
        return;
      }
      core.receive(msg);
    });
  }

  function scheduleDial(delayMs: number): void {
    if (dialTimer) clearTimeout(dialTimer);
    dialTimer = null;
    if (!running || !cfg.enabled || !cfg.peerIp) return;
    dialTimer = setTimeout(() => void dial(), delayMs + Math.floor(Math.random() * redialJitterMs));
  }

  async function dial(): Promise<void> {
    dialTimer = null;
    if (!running || !cfg.enabled || !cfg.peerIp || dialing) return;
    // A live session stays, whoever dialed it: replacing a backup-dialed one would cut an
    // initial sync short. Only two dials that race are settled (adopt keeps the master's).
    if (live && !live.conn.closed) return scheduleDial(cfg.reconnectS * 1000);
    dialing = true;
    const peerIp = cfg.peerIp;
    const epoch = settingsEpoch;
    try {
      const conn = await connectTcp(peerIp, cfg.port, { label: "sync", heartbeatMs: syncHeartbeatMs, idleMs: syncPeerDownMs });
      try {
        const peer = await clientHandshake(conn, localHello(), {
          secret: cfg.secret, check: roleProblem, timeoutMs: syncHandshakeTimeoutMs,
        });
        adopt(conn, peer, true, epoch);
      } catch (err) {
        conn.close(`handshake: ${(err as Error).message}`);
        if (err instanceof TandemError && err.code === "refused") noteRefusal(err.message);
      }
    } catch {
      // Nobody listening yet: try again at the next interval.
    } finally {
      dialing = false;
      if (running) scheduleDial(cfg.reconnectS * 1000);
    }
  }

  function accept(conn: Connection): void {
    if (!running || pending >= pendingHandshakesMax) return conn.close("too many handshakes in progress");
    pending++;
    const epoch = settingsEpoch;
    serverHandshake(conn, localHello(), { secret: cfg.secret, check: roleProblem, timeoutMs: syncHandshakeTimeoutMs })
      .then((peer) => adopt(conn, peer, false, epoch))
      .catch((err) => {
        conn.close(`handshake: ${(err as Error).message}`);
        if (err instanceof TandemError && err.code === "refused") noteRefusal(err.message);
        else log("info", `sync connection from ${conn.remote} rejected: ${(err as Error).message}`);
      })
      .finally(() => pending--);
  }

  let listenRetry: Timer | null = null;
  /** Why the sync port cannot be bound, while it cannot (health() and the alarm say it). */
  let listenProblem: string | null = null;
  function listen(): void {
    if (listenRetry) clearTimeout(listenRetry);
    listenRetry = null;
    listener?.stop();
    listener = null;
    if (!running || !cfg.enabled) {
      if (listenProblem) log("notice", `data store sync no longer listens (configuration changed); alarm ${syncPortAlarm} cleared`);
      listenProblem = null;
      return;
    }
    try {
      listener = listenTcp(bindAddr, cfg.port, accept, { label: "sync", heartbeatMs: syncHeartbeatMs, idleMs: syncPeerDownMs });
      if (listenProblem) log("notice", `data store sync listening on ${bindAddr}:${cfg.port}; alarm ${syncPortAlarm} cleared`);
      listenProblem = null;
    } catch (err) {
      // The address may come up later, or the port be freed: keep trying at the reconnect pace.
      const problem = `data store sync cannot listen on ${bindAddr}:${cfg.port} (${listenFailureOf(err).reason})`;
      if (problem !== listenProblem) log("error", `${problem}; retrying`, syncPortAlarm);
      listenProblem = problem;
      listenRetry = setTimeout(listen, Math.max(1, cfg.reconnectS) * 1000);
    }
  }

  function scheduleChecks(): void {
    if (checkTimer) clearInterval(checkTimer);
    checkTimer = setInterval(() => {
      if (cfg.master && core.paired) void runCheck().catch(() => undefined);
    }, Math.max(1, cfg.checkIntervalS) * 1000);
  }

  async function runCheck(): Promise<CheckResult> {
    const started = Date.now();
    try {
      const r = await core.checkNow();
      const inSync = r.inSync;
      lastCheck = {
        timeMs: started, inSync, missingHere: r.missingHere, missingThere: r.missingThere,
        corruptRepaired: core.counters.corruptRepaired, roundTrips: r.roundTrips, bytes: r.bytes,
        message: inSync
          ? "in sync"
          : `difference found and repaired: ${r.missingHere} fetched, ${r.missingThere} sent, ${r.deletedHere + r.deletedThere} evicted on one side removed`,
      };
    } catch (err) {
      lastCheck = {
        timeMs: started, inSync: false, missingHere: 0, missingThere: 0, corruptRepaired: core.counters.corruptRepaired,
        roundTrips: 0, bytes: 0, message: `check not run: ${(err as Error).message}`,
      };
    }
    return lastCheck;
  }

  async function start(): Promise<void> {
    if (running) return;
    running = true;
    core.start();
    metricsTimer = setInterval(syncMetrics, 1000);
    if (cfg.enabled) enable();
  }

  function enable(): void {
    listen();
    // The master dials at once; the backup a little later, so two fresh dials rarely race
    // (the loser of a race is dropped, and with it what its session had in flight). A
    // backup that comes up next to a running master still pairs at once: its own dial
    // makes the session, which stays.
    scheduleDial(cfg.master ? 0 : redialJitterMs * 2);
    scheduleChecks();
  }

  function disable(reason: string): void {
    settingsEpoch++;
    if (dialTimer) clearTimeout(dialTimer);
    if (checkTimer) clearInterval(checkTimer);
    dialTimer = null;
    checkTimer = null;
    if (listenRetry) clearTimeout(listenRetry);
    listenRetry = null;
    listener?.stop();
    listener = null;
    const conn = live?.conn;
    live = null;
    core.detach(reason);
    conn?.close(reason);
  }

  async function stop(): Promise<void> {
    if (!running) return;
    disable("sync stopped");
    running = false;
    if (metricsTimer) clearInterval(metricsTimer);
    core.stop();
    await hinted.close();
  }

  async function applyConfig(next: ApplianceConfig): Promise<ApplyResult> {
    const n = next.datastore.sync;
    const notes: string[] = [];
    const nextBind = bindOf(next);
    const was = cfg;
    cfg = structuredClone(n);
    if (!running) return { notes: ["sync configuration saved; the service is not running"] };
    // Role and mode reach the core even while sync is disabled, so `master` typed before
    // `enable` is not lost (setRole and setMode are idempotent).
    const roleChanged = was.master !== n.master;
    core.setRole(n.master ? "master" : "backup");
    if (was.mode !== n.mode) {
      core.setMode(n.mode);
      notes.push(`sync mode ${n.mode} applied online`);
    }
    if (!n.enabled) {
      if (was.enabled) {
        disable("data store sync disabled");
        notes.push("data store sync disabled");
      }
      bindAddr = nextBind;
      return { notes };
    }
    const relisten = !was.enabled || nextBind !== bindAddr || was.port !== n.port;
    const reconnect = roleChanged || was.peerIp !== n.peerIp || was.port !== n.port || was.secret !== n.secret || relisten;
    bindAddr = nextBind;
    if (relisten) listen();
    if (reconnect) {
      settingsEpoch++;
      const conn = live?.conn;
      live = null;
      core.detach("sync configuration changed");
      conn?.close("sync configuration changed");
      refusedReason = null;
      lastRefusalLogged = null;
      scheduleDial(0);
      notes.push(roleChanged ? `sync role ${n.master ? "master" : "backup"} applied online` : "sync peer settings applied online");
    }
    if (!was.enabled || was.checkIntervalS !== n.checkIntervalS) scheduleChecks();
    return { notes };
  }

  function state(): SyncState {
    if (!cfg.enabled || !running) return "disabled";
    if (!core.connected) {
      if (refusedReason) return "refused";
      return everConnected ? "disconnected" : "connecting";
    }
    if (!core.paired) return "initial-sync";
    if (core.behind || core.catchingUp) return "behind";
    return "in-sync";
  }

  function status(): SyncStatus {
    const lag = core.lag();
    const progress = core.initialProgress;
    const c = core.counters;
    return {
      state: state(),
      role: cfg.master ? "master" : "backup",
      peer: cfg.peerIp ? `${cfg.peerIp}:${cfg.port}` : null,
      mode: cfg.mode,
      effectiveMode: core.effectiveMode,
      refusedReason,
      eligibleForTakeover: cfg.master || core.eligibleForTakeover(),
      initialSync: core.connected && !core.paired && progress
        ? { percent: progress.percent, bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal }
        : null,
      lagSegments: lag.segments,
      lagS: lagS(),
      sentSegments: c.sentSegments, receivedSegments: c.receivedSegments,
      sentBytes: c.sentBytes, receivedBytes: c.receivedBytes,
      lastCheck,
      restartRequired: null,
      throughputBps: Math.round(throughput.rateBps),
    };
  }

  return {
    start, stop, applyConfig, status, state,
    health: () => (running && listenProblem ? [listenProblem] : []),
    checkNow: runCheck,
    awaitReplicated: (entries) => core.awaitReplicated(entries),
    core,
    listenPort: () => listener?.port ?? null,
  };
}

function bindOf(c: ApplianceConfig): string {
  return c.interfaces.aux ?? c.interfaces.primary;
}
