// Statistics of the optimization service: one record per current connection (what
// `show connections` lists), totals of finished ones, and the `tandem_optimize_*`
// metrics, which follow the totals (counters advance by the deltas since last sync).
import type { Connection } from "../wire/connection.ts";
import type { MetricsRegistry, Counter } from "../metrics/registry.ts";
import type { ConnectionInfo, OptimizerStats } from "../services.ts";
import type { LanSocket } from "./lan.ts";
import type { Session } from "./session.ts";

/** How often the metrics counters catch up with live connections. */
export const metricsSyncMs = 1000;
/** Connections listed at most by `connections()` (the newest first beyond that). */
export const connectionsListedMax = 1000;

export interface Tracked {
  id: number;
  rule: string;
  side: "client" | "server";
  clientAddr: string;
  serverAddr: string;
  peer: string | null;
  state: ConnectionInfo["state"];
  startedMs: number;
  lan: LanSocket | null;
  /** The socket to the destination of a pass-through connection (it crosses the WAN as is). */
  passThroughDst: LanSocket | null;
  conn: Connection | null;
  session: Session | null;
}

type Totals = Omit<OptimizerStats, "connectionsCurrent" | "reduction">;

function zeroTotals(): Totals {
  return {
    connectionsTotal: 0, connectionsPassThrough: 0, lanBytesIn: 0, lanBytesOut: 0, wanBytesIn: 0, wanBytesOut: 0,
    segmentsDef: 0, segmentsRef: 0, segmentsReq: 0,
  };
}

function usage(t: Tracked): Omit<Totals, "connectionsTotal" | "connectionsPassThrough"> {
  const sdr = t.session?.sdrStats();
  return {
    lanBytesIn: t.lan?.bytesIn ?? 0,
    lanBytesOut: t.lan?.bytesOut ?? 0,
    wanBytesIn: t.conn ? t.conn.bytesReceived : t.passThroughDst?.bytesIn ?? 0,
    wanBytesOut: t.conn ? t.conn.bytesSent : t.passThroughDst?.bytesOut ?? 0,
    segmentsDef: sdr ? sdr.sent.defSegments + sdr.sent.deltaSegments : 0,
    segmentsRef: sdr ? sdr.sent.refSegments : 0,
    segmentsReq: sdr ? sdr.received.reqSegments : 0,
  };
}

export class OptimizerStatistics {
  private readonly live = new Map<number, Tracked>();
  private readonly finished = zeroTotals();
  private nextId = 1;
  private readonly counters: Record<keyof Totals, Counter>;
  private readonly reported = zeroTotals();
  private readonly timer: Timer;

  constructor(metrics: MetricsRegistry) {
    const c = (name: string, help: string) => metrics.counter(`tandem_optimize_${name}`, help);
    this.counters = {
      connectionsTotal: c("connections_total", "Connections handled (optimized and passed through)"),
      connectionsPassThrough: c("passthrough_connections_total", "Connections passed through unoptimized"),
      lanBytesIn: c("lan_in_bytes_total", "Bytes received from LAN sockets"),
      lanBytesOut: c("lan_out_bytes_total", "Bytes written to LAN sockets"),
      wanBytesIn: c("wan_in_bytes_total", "Bytes received over the WAN (inner channels and pass-through)"),
      wanBytesOut: c("wan_out_bytes_total", "Bytes sent over the WAN (inner channels and pass-through)"),
      segmentsDef: c("def_segments_total", "Segments sent whole (DEF) or as deltas"),
      segmentsRef: c("ref_segments_total", "Segments sent as references (REF and runs)"),
      segmentsReq: c("req_segments_total", "Labels asked from the peer (REQ)"),
    };
    metrics.gauge("tandem_optimize_connections", "Current connections", () => this.live.size);
    this.timer = setInterval(() => this.syncMetrics(), metricsSyncMs);
    this.timer.unref?.();
  }

  open(fields: Omit<Tracked, "id" | "startedMs" | "lan" | "passThroughDst" | "conn" | "session"> & Partial<Tracked>): Tracked {
    const t: Tracked = {
      lan: null, passThroughDst: null, conn: null, session: null, ...fields, id: this.nextId++, startedMs: Date.now(),
    };
    this.live.set(t.id, t);
    this.finished.connectionsTotal++;
    return t;
  }

  passThrough(t: Tracked): void {
    t.state = "pass-through";
    t.peer = null;
    this.finished.connectionsPassThrough++;
  }

  close(t: Tracked): void {
    if (!this.live.delete(t.id)) return;
    const u = usage(t);
    for (const key of Object.keys(u) as (keyof typeof u)[]) this.finished[key] += u[key];
    this.syncMetrics();
  }

  liveConnections(): Tracked[] {
    return [...this.live.values()];
  }

  connections(): ConnectionInfo[] {
    return [...this.live.values()].slice(-connectionsListedMax).map((t) => ({
      id: t.id, rule: t.rule, side: t.side, clientAddr: t.clientAddr, serverAddr: t.serverAddr, peer: t.peer,
      state: t.state, startedMs: t.startedMs, ...(({ segmentsDef: _d, segmentsRef: _r, segmentsReq: _q, ...bytes }) => bytes)(usage(t)),
    }));
  }

  stats(): OptimizerStats {
    const total = { ...this.finished };
    for (const t of this.live.values()) {
      const u = usage(t);
      for (const key of Object.keys(u) as (keyof typeof u)[]) total[key] += u[key];
    }
    const lan = total.lanBytesIn + total.lanBytesOut;
    const wan = total.wanBytesIn + total.wanBytesOut;
    return { ...total, connectionsCurrent: this.live.size, reduction: wan > 0 ? lan / wan : 1 };
  }

  syncMetrics(): void {
    const now = this.stats();
    for (const key of Object.keys(this.counters) as (keyof Totals)[]) {
      const delta = now[key] - this.reported[key];
      if (delta > 0) {
        this.counters[key].inc(delta);
        this.reported[key] = now[key];
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.syncMetrics();
  }
}
