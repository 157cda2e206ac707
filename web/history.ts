// A bounded ring of dashboard samples taken from the control API (optimizer byte
// counters and sync lag), so the charts show the recent past on first paint and not
// only what the open page happened to poll. Rates and the per-interval reduction are
// derived from successive cumulative counters; a counter that goes down (restart)
// starts a new baseline instead of drawing a negative rate.
import type { ControlRead } from "../agent/control/types.ts";

export interface HistoryPoint {
  tMs: number;
  lanBytesPerS: number;
  wanBytesPerS: number;
  /** LAN bytes / WAN bytes within the interval; null when nothing crossed the WAN. */
  reduction: number | null;
  lagS: number;
  lagSegments: number;
  syncPercent: number | null;
}

interface Totals {
  tMs: number;
  lan: number;
  wan: number;
}

export class StatusHistory {
  private readonly points: HistoryPoint[] = [];
  private last: Totals | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly control: Pick<ControlRead, "stats" | "syncStatus">,
    private readonly sampleMs: number,
    private readonly samplesMax: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one sample now (the first only sets the baseline). */
  sample(): void {
    const stats = this.control.stats();
    const sync = this.control.syncStatus();
    const totals: Totals = {
      tMs: this.now(),
      lan: stats.lanBytesIn + stats.lanBytesOut,
      wan: stats.wanBytesIn + stats.wanBytesOut,
    };
    const prev = this.last;
    this.last = totals;
    if (!prev || totals.lan < prev.lan || totals.wan < prev.wan || totals.tMs <= prev.tMs) return;
    const dtS = (totals.tMs - prev.tMs) / 1000;
    const dLan = totals.lan - prev.lan;
    const dWan = totals.wan - prev.wan;
    this.points.push({
      tMs: totals.tMs,
      lanBytesPerS: dLan / dtS,
      wanBytesPerS: dWan / dtS,
      reduction: dWan > 0 ? dLan / dWan : null,
      lagS: sync.lagS,
      lagSegments: sync.lagSegments,
      syncPercent: sync.initialSync ? sync.initialSync.percent : null,
    });
    if (this.points.length > this.samplesMax) this.points.splice(0, this.points.length - this.samplesMax);
  }

  /** Samples now if the last sample is older than the interval (used when no timer runs). */
  sampleIfDue(): void {
    if (!this.last || this.now() - this.last.tMs >= this.sampleMs) this.sample();
  }

  list(afterMs = 0): HistoryPoint[] {
    return this.points.filter((p) => p.tMs > afterMs);
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      try {
        this.sample();
      } catch {
        // The control API may be mid-restart; the next tick samples again.
      }
    };
    tick();
    this.timer = setInterval(tick, this.sampleMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
