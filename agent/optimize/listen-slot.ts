// One listener the optimization service wants up: the inner-channel port, or an in-path
// rule's listen port. A bind that fails is not final (the address may be added to the
// interface later, or whoever holds the port may let it go), so the slot keeps retrying
// with a bounded backoff and, while it fails, says why in plain words: that is what
// `show version`, the UI, the alarm and /metrics report. The slot reports each change
// once (failed, failed differently, recovered, withdrawn), never each retry.
import { listenFailureOf } from "../wire/listen-failure.ts";

/** First retry after a failed bind; each further retry waits twice as long... */
export const listenRetryFirstMs = 500;
/** ...up to this (a failed bind is one cheap syscall; a freed port is taken within it). */
export const listenRetryMaxMs = 5000;

export interface ListenFailure {
  /** The system error code when there is one (EADDRINUSE, EADDRNOTAVAIL, EACCES), else "error". */
  code: string;
  /** In words, e.g. "address not available". */
  reason: string;
  sinceMs: number;
  attempts: number;
}

export type SlotChange = "up" | "failed" | "recovered" | "withdrawn";

/** Binds and returns how to unbind (closing what it accepted), or throws. */
export type Bind = () => () => void;

export class ListenSlot {
  private unbind: (() => void) | null = null;
  failure: ListenFailure | null = null;
  private timer: Timer | null = null;
  private retryMs = listenRetryFirstMs;
  private stopped = false;

  constructor(
    /** What listens, for the operator: "inner channels", "in-path rule 8080". */
    readonly what: string,
    readonly host: string,
    readonly port: number,
    private readonly bind: Bind,
    private readonly report: (slot: ListenSlot, change: SlotChange) => void,
  ) {}

  get up(): boolean {
    return this.unbind !== null;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** One line for the operator while the slot is down, else null. */
  problem(): string | null {
    return this.failure ? `${this.what} cannot listen on ${this.address} (${this.failure.reason})` : null;
  }

  /** Tries to bind now; on failure keeps retrying in the background. */
  start(): void {
    this.attempt();
  }

  private attempt(): void {
    this.timer = null;
    if (this.stopped) return;
    try {
      this.unbind = this.bind();
    } catch (err) {
      const { code, reason } = listenFailureOf(err);
      const before = this.failure;
      this.failure = { code, reason, sinceMs: before?.sinceMs ?? Date.now(), attempts: (before?.attempts ?? 0) + 1 };
      if (!before || before.code !== code) this.report(this, "failed");
      this.timer = setTimeout(() => this.attempt(), this.retryMs);
      this.timer.unref?.();
      this.retryMs = Math.min(this.retryMs * 2, listenRetryMaxMs);
      return;
    }
    const recovered = this.failure !== null;
    this.failure = null;
    this.retryMs = listenRetryFirstMs;
    this.report(this, recovered ? "recovered" : "up");
  }

  /** Unbinds (or stops retrying) for good. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unbind?.();
    this.unbind = null;
    if (this.failure) this.report(this, "withdrawn");
  }
}
