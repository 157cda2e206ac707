// A failed listen in plain words: the system error code (EADDRINUSE, EADDRNOTAVAIL,
// EACCES) and a short reason, for every service that binds a port (optimization
// listeners, data store sync) to show in `show version`, the UI and its alarm.
import { TandemError } from "../errors.ts";

const reasons: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  EACCES: "permission denied",
  EPERM: "permission denied",
};

/** The system error code and a short reason for a failed listen. */
export function listenFailureOf(err: unknown): { code: string; reason: string } {
  const detail = err instanceof TandemError ? err.detail : undefined;
  const raw = (detail?.errno ?? (err as { code?: unknown } | null)?.code) as unknown;
  const code = typeof raw === "string" && /^E[A-Z]+$/.test(raw) ? raw : "error";
  const reason = reasons[code] ?? (code !== "error" ? code : err instanceof Error ? err.message : String(err));
  return { code, reason };
}
