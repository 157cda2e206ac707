// Login rate limiting: failed attempts are counted per client address and in total
// within a sliding window; past either bound, logins are refused (HTTP 429 with
// Retry-After) until the oldest failure leaves the window, even with the right
// password, so guessing costs time. Success clears the client's failures.
import type { WebLimits } from "./limits.ts";

type LimiterLimits = Pick<WebLimits, "loginFailuresPerClientMax" | "loginFailuresGlobalMax" | "loginWindowMs" | "limiterClientsMax">;

export class LoginLimiter {
  private readonly byClient = new Map<string, number[]>();
  private global: number[] = [];

  constructor(private readonly limits: LimiterLimits, private readonly now: () => number = Date.now) {}

  private recent(times: number[], t: number): number[] {
    return times.filter((x) => t - x < this.limits.loginWindowMs);
  }

  /** Seconds to wait before this client may try again; 0 when it may try now. */
  retryAfterS(client: string): number {
    const t = this.now();
    this.global = this.recent(this.global, t);
    const mine = this.recent(this.byClient.get(client) ?? [], t);
    if (mine.length === 0) this.byClient.delete(client);
    else this.byClient.set(client, mine);
    let until = 0;
    if (mine.length >= this.limits.loginFailuresPerClientMax) until = Math.max(until, mine[mine.length - this.limits.loginFailuresPerClientMax]! + this.limits.loginWindowMs);
    if (this.global.length >= this.limits.loginFailuresGlobalMax) until = Math.max(until, this.global[this.global.length - this.limits.loginFailuresGlobalMax]! + this.limits.loginWindowMs);
    return until > t ? Math.ceil((until - t) / 1000) : 0;
  }

  /** Counts an attempt as failed before the password is checked, so parallel guesses
   *  cannot all pass the bound while the (slow) hash runs; `succeed` takes it back. */
  attempt(client: string): number {
    return this.fail(client);
  }

  fail(client: string): number {
    const t = this.now();
    const mine = this.recent(this.byClient.get(client) ?? [], t);
    mine.push(t);
    this.byClient.delete(client);
    this.byClient.set(client, mine.slice(-this.limits.loginFailuresPerClientMax));
    while (this.byClient.size > this.limits.limiterClientsMax) this.byClient.delete(this.byClient.keys().next().value as string);
    this.global.push(t);
    if (this.global.length > this.limits.loginFailuresGlobalMax) this.global = this.global.slice(-this.limits.loginFailuresGlobalMax);
    return t;
  }

  /** The client proved the password: its failures are forgotten, and the attempt made at
   *  `attemptMs` (if any) no longer counts against the global bound. */
  succeed(client: string, attemptMs?: number): void {
    this.byClient.delete(client);
    if (attemptMs === undefined) return;
    const at = this.global.lastIndexOf(attemptMs);
    if (at >= 0) this.global.splice(at, 1);
  }
}
