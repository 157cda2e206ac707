// Admin sessions of the web UI, in memory: a random id in an HttpOnly SameSite=Strict
// cookie maps to the session, which carries its own CSRF token (sent back in a form
// field or the X-CSRF-Token header on every change) and a one-shot flash message for
// the next page. Bounded by count, idle time and lifetime (web/limits.ts).
import { timingSafeEqual } from "node:crypto";
import type { WebLimits } from "./limits.ts";

export interface Flash {
  kind: "ok" | "error";
  text: string;
}

export interface Session {
  id: string;
  username: string;
  csrf: string;
  createdMs: number;
  lastSeenMs: number;
  flash: Flash | null;
}

export function randomToken(bytes = 32): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  const ha = new Bun.CryptoHasher("sha256").update(a).digest();
  const hb = new Bun.CryptoHasher("sha256").update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly limits: Pick<WebLimits, "sessionsMax" | "sessionIdleMs" | "sessionLifetimeMs">, private readonly now: () => number = Date.now) {}

  create(username: string): Session {
    const t = this.now();
    while (this.sessions.size >= this.limits.sessionsMax) {
      // Map keeps insertion order and get() re-inserts on use: the first key is the least recently used.
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const session: Session = { id: randomToken(), username, csrf: randomToken(), createdMs: t, lastSeenMs: t, flash: null };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session for this id, touched; expired sessions are removed and not returned. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    const t = this.now();
    if (t - session.lastSeenMs > this.limits.sessionIdleMs || t - session.createdMs > this.limits.sessionLifetimeMs) {
      this.sessions.delete(id);
      return null;
    }
    session.lastSeenMs = t;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  destroyAll(): void {
    this.sessions.clear();
  }

  size(): number {
    return this.sessions.size;
  }
}
