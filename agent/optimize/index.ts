// The optimization service. Server side: listens on `interfaces.inpath`:`servicePort`
// for inner channels and connects each to the destination it names. Client side: one
// listener per in-path rule on `inpath`:`listenPort`; each accepted connection gets its
// own inner channel (one channel per connection: simple, and a failure loses only that
// connection) to the rule's target appliance, or to its backup when the target cannot
// be reached within `channelConnectTimeoutMs`; a target that failed is skipped for
// `targetDownMs`, so new connections go straight to the backup. With neither
// reachable the connection is passed through unoptimized (and counted), not refused.
// A port that cannot be bound is retried in the background (listen-slot.ts); until it
// is up the service reports itself degraded, with why, through health().
import type { ApplianceContext } from "../appliance-context.ts";
import type { ApplianceConfig, InPathRule } from "../config/types.ts";
import { asTandemError } from "../errors.ts";
import type { ApplyResult, ConnectionInfo, OptimizationService, OptimizerStats } from "../services.ts";
import { LearnedIndex } from "../sdr/learned.ts";
import type { SegmentStore } from "../store/types.ts";
import { commitGatedStore } from "./commit-gate.ts";
import { connectTcp, listenTcp, type Connection } from "../wire/connection.ts";
import { clientHandshake, serverHandshake, type LocalHello } from "../wire/handshake.ts";
import { connectLan, listenLan, type LanSocket } from "./lan.ts";
import { ListenSlot, type SlotChange } from "./listen-slot.ts";
import { channelFrameBytesMax, messageFromWire, messageToWire } from "./messages.ts";
import { relay } from "./passthrough.ts";
import { Session, windowBytes, type SessionEnd } from "./session.ts";
import { OptimizerStatistics, type Tracked } from "./stats.ts";

/** Bound on reaching a target appliance (TCP connect plus handshake) before trying the next. */
export const channelConnectTimeoutMs = 3000;
/** A target that failed is skipped for this long. */
export const targetDownMs = 10_000;
/** Idle, already handshaken channels kept ready per target appliance: a new connection
 *  then starts without the TCP and handshake round trips (two WAN RTTs). */
export const pooledChannelsPerTarget = 2;
/** A pooled channel older than this is closed rather than used. */
export const pooledChannelAgeMaxMs = 30_000;
/** Bound on the `open` message after the handshake (longer than a pooled channel may idle). */
export const openTimeoutMs = 45_000;
/** Inner channels accepted at once; more are closed at once. */
export const channelsMax = 1024;
/** Messages and ops bytes a server-side channel buffers while it connects to the
 *  destination (the sender's window bounds what an honest peer sends). */
export const earlyMessagesMax = 4096;
export const earlyBytesMax = 2 * windowBytes + channelFrameBytesMax;

function isReset(raw: unknown): boolean {
  try {
    return messageFromWire(raw).t === "reset";
  } catch {
    return false;
  }
}

function ruleText(rule: InPathRule): string {
  const backup = rule.backupAddr ? `, backup ${rule.backupAddr}:${rule.backupPort ?? rule.targetPort}` : "";
  return `${rule.listenPort} -> ${rule.dstAddr}:${rule.dstPort} via ${rule.targetAddr}:${rule.targetPort}${backup}`;
}

interface RuleListener {
  rule: InPathRule;                  // the rule new connections follow (updated in place)
  slot: ListenSlot;
}

/** Alarm raised while a listener cannot bind, by what it is for. */
const serviceAlarm = "service_port_unavailable";
const ruleAlarm = "rule_port_unavailable";

class OptimizationServiceImpl implements OptimizationService {
  private readonly statistics: OptimizerStatistics;
  private serviceSlot: ListenSlot | null = null;
  private readonly rules = new Map<number, RuleListener>();
  private readonly downUntil = new Map<string, number>();
  private channels = 0;
  private running = false;
  private readonly pool = new Map<string, { conn: Connection; openedMs: number }[]>();
  private readonly refilling = new Set<string>();
  /** Held for the service's lifetime so the codec's learned index (an LMDB file plus a
   *  memory overlay) is not closed and reopened between one connection and the next. */
  private learnedIndex: LearnedIndex | null = null;
  private pooledSecret: string | null = null;
  /** The store as the codec sees it: writes pass the sync-mode commit gate. One view for
   *  the service's lifetime, so the codec's per-store caches are shared by every session. */
  private readonly codecStore: SegmentStore;

  constructor(private readonly ctx: ApplianceContext) {
    this.statistics = new OptimizerStatistics(ctx.metrics);
    this.codecStore = commitGatedStore(ctx);
    ctx.metrics.gaugeFamily("tandem_optimize_listener_up", "1 while a listener (inner channels, each in-path rule) is bound, 0 while it cannot bind",
      () => this.slots().map((sl) => ({ labels: { listener: sl.what, address: sl.address }, value: sl.up ? 1 : 0 })));
    ctx.metrics.gauge("tandem_optimize_listeners_failed", "Listeners that cannot bind (retried in the background)",
      () => this.slots().filter((sl) => sl.failure !== null).length);
  }

  private slots(): ListenSlot[] {
    return [...(this.serviceSlot ? [this.serviceSlot] : []), ...[...this.rules.values()].map((r) => r.slot)];
  }

  /** What keeps part of the service from working, one line each; empty when healthy. */
  health(): string[] {
    return this.running ? this.slots().map((sl) => sl.problem()).filter((p): p is string => p !== null) : [];
  }

  /** Logs a listener's change: the alarm when it cannot bind, its clearing when it can. */
  private slotChanged(slot: ListenSlot, change: SlotChange, alarm: string): void {
    const f = slot.failure;
    if (change === "failed" && f) {
      this.log("error", `${slot.problem()}; retrying`, alarm);
    } else if (change === "recovered") {
      this.log("notice", `${slot.what} listening on ${slot.address}; alarm ${alarm} cleared`);
    } else if (change === "withdrawn" && this.running) {
      this.log("notice", `${slot.what} no longer wanted on ${slot.address} (configuration changed); alarm ${alarm} cleared`);
    }
  }

  private log(severity: "error" | "warning" | "notice" | "info" | "debug", message: string, alarm?: string): void {
    this.ctx.events.emit(severity, "optimize", message, alarm);
  }

  private hello(): LocalHello {
    const identity = this.ctx.store.identity();
    return {
      service: "channel", model: this.ctx.version.model, softwareVersion: this.ctx.version.softwareVersion,
      storeId: identity.storeId, generation: identity.generation, role: null, hostname: this.ctx.config().hostname,
    };
  }

  async start(): Promise<void> {
    this.running = true;
    this.learnedIndex ??= LearnedIndex.forStore(this.ctx.store);
    await this.applyConfig(this.ctx.config());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.serviceSlot?.stop();
    this.serviceSlot = null;
    for (const r of this.rules.values()) r.slot.stop();
    this.rules.clear();
    for (const idle of this.pool.values()) for (const p of idle) p.conn.close("optimization service stopped");
    this.pool.clear();
    for (const t of this.statistics.liveConnections()) {
      if (t.session) t.session.abort("optimization service stopped", false);
      else {
        t.lan?.reset();
        t.passThroughDst?.reset();
        t.conn?.close("optimization service stopped");
      }
      this.statistics.close(t);
    }
    this.statistics.stop();
    const index = this.learnedIndex;
    this.learnedIndex = null;
    await index?.close();
  }

  async applyConfig(config: ApplianceConfig): Promise<ApplyResult> {
    const notes: string[] = [];
    if (!this.running) return { notes };
    // The operator changed something (a target, a secret): give every target a new chance.
    this.downUntil.clear();
    const secret = config.serviceSecret ?? null;
    if (secret !== this.pooledSecret) {
      // Pooled channels were authenticated under the old secret: none may be used now.
      for (const idle of this.pool.values()) for (const p of idle) p.conn.close("channel secret changed");
      this.pool.clear();
      this.pooledSecret = secret;
    }
    const inpath = config.interfaces.inpath;
    const say = (slot: ListenSlot, up: string) =>
      notes.push(slot.up ? up : `${slot.problem()}; retrying in the background`);
    const svc = this.serviceSlot;
    if (!svc || svc.host !== inpath || svc.port !== config.servicePort) {
      svc?.stop();
      const slot = new ListenSlot("inner channels", inpath, config.servicePort, () => {
        const l = listenTcp(inpath, config.servicePort, (conn) => void this.acceptChannel(conn), { label: "channel", frameBytesMax: channelFrameBytesMax });
        return () => l.stop();
      }, (sl, change) => this.slotChanged(sl, change, serviceAlarm));
      this.serviceSlot = slot;
      slot.start();
      say(slot, `inner channels listen on ${slot.address}`);
    }
    const wanted = new Map(config.inPathRules.map((r) => [r.listenPort, r]));
    for (const [port, r] of this.rules) {
      if (!wanted.has(port) || r.slot.host !== inpath) {
        r.slot.stop();
        this.rules.delete(port);
        notes.push(`rule listener ${r.slot.address} removed`);
      }
    }
    for (const [port, rule] of wanted) {
      const existing = this.rules.get(port);
      if (existing) {
        existing.rule = rule;
        continue;
      }
      const entry = { rule } as RuleListener;
      entry.slot = new ListenSlot(`in-path rule ${port}`, inpath, port, () => {
        const l = listenLan(inpath, port, (lan) => void this.acceptLan(entry, lan));
        return () => l.stop(true);
      }, (sl, change) => this.slotChanged(sl, change, ruleAlarm));
      this.rules.set(port, entry);
      entry.slot.start();
      say(entry.slot, `rule ${ruleText(rule)} listens on ${entry.slot.address}`);
    }
    const targets = new Set<string>();
    for (const r of config.inPathRules) {
      targets.add(`${r.targetAddr}:${r.targetPort}`);
      if (r.backupAddr) targets.add(`${r.backupAddr}:${r.backupPort ?? r.targetPort}`);
    }
    for (const [target, idle] of this.pool) {
      if (targets.has(target)) continue;
      for (const p of idle) p.conn.close("no rule uses this target any more");
      this.pool.delete(target);
    }
    for (const r of config.inPathRules) this.refillPool(r.targetAddr, r.targetPort);
    return { notes };
  }

  stats(): OptimizerStats {
    return this.statistics.stats();
  }

  connections(): ConnectionInfo[] {
    return this.statistics.connections();
  }

  // ---- client side ----

  private async acceptLan(entry: RuleListener, lan: LanSocket): Promise<void> {
    const rule = entry.rule;
    const t = this.statistics.open({
      rule: ruleText(rule), side: "client", clientAddr: lan.remote, serverAddr: `${rule.dstAddr}:${rule.dstPort}`,
      peer: null, state: "connecting", lan,
    });
    const candidates: [string, number][] = [[rule.targetAddr, rule.targetPort]];
    if (rule.backupAddr) candidates.push([rule.backupAddr, rule.backupPort ?? rule.targetPort]);
    let conn: Connection | null = null;
    for (const [addr, port] of candidates) {
      const target = `${addr}:${port}`;
      if ((this.downUntil.get(target) ?? 0) > Date.now()) continue;
      try {
        conn = this.takePooled(target) ?? (await this.openChannel(addr, port));
        this.downUntil.delete(target);
        t.peer = target;
        this.refillPool(addr, port);
        break;
      } catch (err) {
        this.markDown(target, asTandemError(err).message);
      }
    }
    if (lan.closed) {
      conn?.close("client went away");
      this.statistics.close(t);
      return;
    }
    if (!conn) return this.passThrough(t, rule, lan);
    t.conn = conn;
    t.state = "optimized";
    void conn.send(messageToWire({ t: "open", dstAddr: rule.dstAddr, dstPort: rule.dstPort, connId: t.id })).catch(() => undefined);
    this.runSession(t, lan, conn, t.peer!, []);
  }

  private markDown(target: string, reason: string): void {
    const wasDown = (this.downUntil.get(target) ?? 0) > Date.now();
    this.downUntil.set(target, Date.now() + targetDownMs);
    if (!wasDown) this.log("warning", `target appliance ${target} unreachable (${reason}); skipped for ${targetDownMs / 1000} s`, "target_unreachable");
  }

  /** An idle pooled channel to `target` that is still open and young enough. */
  private takePooled(target: string): Connection | null {
    const idle = this.pool.get(target);
    while (idle && idle.length > 0) {
      const p = idle.shift()!;
      if (!p.conn.closed && Date.now() - p.openedMs < pooledChannelAgeMaxMs) return p.conn;
      p.conn.close("pooled channel too old");
    }
    return null;
  }

  /** Tops the pool of `addr:port` up to pooledChannelsPerTarget, in the background. */
  private refillPool(addr: string, port: number): void {
    const target = `${addr}:${port}`;
    if (!this.running || this.refilling.has(target) || (this.downUntil.get(target) ?? 0) > Date.now()) return;
    this.refilling.add(target);
    void (async () => {
      try {
        for (;;) {
          const idle: { conn: Connection; openedMs: number }[] = [];
          for (const p of this.pool.get(target) ?? []) {
            if (!p.conn.closed && Date.now() - p.openedMs < pooledChannelAgeMaxMs) idle.push(p);
            else p.conn.close("pooled channel too old");
          }
          this.pool.set(target, idle);
          if (idle.length >= pooledChannelsPerTarget || !this.running) return;
          const conn = await this.openChannel(addr, port);
          if (!this.running) {
            conn.close("optimization service stopped");
            return;
          }
          const entry = { conn, openedMs: Date.now() };
          idle.push(entry);
          conn.onClose(() => {
            const list = this.pool.get(target);
            const i = list?.indexOf(entry) ?? -1;
            if (i >= 0) list!.splice(i, 1);
          });
          // Replace it before it ages out, as long as a rule still uses the target.
          setTimeout(() => this.pool.has(target) && this.refillPool(addr, port), pooledChannelAgeMaxMs + 100).unref?.();
        }
      } catch {
        // Not marked down here: a real connection attempt decides that (and logs it).
      } finally {
        this.refilling.delete(target);
      }
    })();
  }

  private async openChannel(addr: string, port: number): Promise<Connection> {
    let timedOut = false;
    let timer: Timer | undefined;
    const attempt = (async () => {
      const conn = await connectTcp(addr, port, { label: "channel", frameBytesMax: channelFrameBytesMax });
      if (timedOut) {
        conn.close("connect timed out");
        throw new Error("late");
      }
      await clientHandshake(conn, this.hello(), { secret: this.ctx.config().serviceSecret ?? null, timeoutMs: channelConnectTimeoutMs });
      if (timedOut) {
        conn.close("connect timed out");
        throw new Error("late");
      }
      return conn;
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`no channel within ${channelConnectTimeoutMs} ms`));
      }, channelConnectTimeoutMs);
    });
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
      attempt.catch(() => undefined);
    }
  }

  private async passThrough(t: Tracked, rule: InPathRule, lan: LanSocket): Promise<void> {
    this.statistics.passThrough(t);
    let dst: LanSocket;
    try {
      dst = await connectLan(rule.dstAddr, rule.dstPort);
    } catch (err) {
      this.log("warning", `pass-through to ${rule.dstAddr}:${rule.dstPort} failed: ${asTandemError(err).message}`);
      lan.reset();
      this.statistics.close(t);
      return;
    }
    t.passThroughDst = dst;
    this.log("notice", `connection ${t.id} from ${lan.remote} passed through to ${rule.dstAddr}:${rule.dstPort}: no appliance answers`, "passthrough");
    relay(lan, dst, () => this.statistics.close(t));
  }

  private runSession(t: Tracked, lan: LanSocket, conn: Connection, peer: string, early: unknown[]): void {
    const session = new Session({
      lan, conn, store: this.codecStore,
      log: (m) => this.log("info", m),
      onEnd: (end: SessionEnd) => {
        this.statistics.close(t);
        if (!end.ok) {
          this.log("info", `connection ${t.id} (${t.rule}) aborted: ${end.reason}`);
          if (end.peerLost && t.side === "client") this.markDown(peer, end.reason);
        }
      },
    });
    t.session = session;
    session.start(early);
  }

  // ---- server side ----

  private async acceptChannel(conn: Connection): Promise<void> {
    if (this.channels >= channelsMax) {
      conn.close(`more than channelsMax ${channelsMax} inner channels`);
      return;
    }
    this.channels++;
    conn.onClose(() => this.channels--);
    let peerName = conn.remote;
    try {
      const peer = await serverHandshake(conn, this.hello(), { secret: this.ctx.config().serviceSecret ?? null });
      peerName = `${peer.hostname} (${conn.remote})`;
    } catch (err) {
      this.log("info", `inner channel from ${conn.remote} refused: ${asTandemError(err).message}`);
      return;
    }
    let open;
    try {
      open = messageFromWire(await conn.receive(openTimeoutMs));
      if (open.t !== "open") throw new Error(`expected open, got ${open.t}`);
    } catch (err) {
      conn.close(`bad open: ${asTandemError(err).message}`);
      this.log("info", `inner channel from ${peerName} closed: bad open: ${asTandemError(err).message}`);
      return;
    }
    // Frames sent right behind `open` wait here while the destination is connected.
    const early: unknown[] = [];
    let earlyBytes = 0;
    conn.onMessage((m) => {
      earlyBytes += m instanceof Object && (m as { ops?: unknown }).ops instanceof Uint8Array ? (m as { ops: Uint8Array }).ops.length : 0;
      if (early.length >= earlyMessagesMax || earlyBytes > earlyBytesMax) conn.close("peer sent too much before the destination answered");
      else early.push(m);
    });
    const dst = `${open.dstAddr}:${open.dstPort}`;
    const t = this.statistics.open({
      rule: `${dst} from ${peerName}`, side: "server", clientAddr: conn.remote, serverAddr: dst, peer: peerName,
      state: "connecting", conn,
    });
    let lan: LanSocket;
    try {
      lan = await connectLan(open.dstAddr, open.dstPort);
    } catch (err) {
      const reason = `destination ${dst} unreachable: ${asTandemError(err).message}`;
      await conn.send(messageToWire({ t: "reset", reason })).catch(() => undefined);
      setTimeout(() => conn.close(reason), 50);
      this.statistics.close(t);
      this.log("info", `connection ${t.id}: ${reason}`);
      return;
    }
    // A peer that sent data and then its client's reset closes the channel at once: the
    // session still delivers that data, then resets (as TCP would have).
    if (conn.closed && !early.some(isReset)) {
      lan.reset();
      this.statistics.close(t);
      return;
    }
    t.lan = lan;
    t.state = "optimized";
    void conn.send(messageToWire({ t: "opened" })).catch(() => undefined);
    this.runSession(t, lan, conn, peerName, early);
  }
}

export function createOptimizationService(ctx: ApplianceContext): OptimizationService {
  return new OptimizationServiceImpl(ctx);
}
