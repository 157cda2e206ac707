// What the control API needs from each service. The optimization service
// (agent/optimize) and data store sync (agent/sync) implement these; agent/appliance.ts
// composes them; agent/control reads and drives them; nothing else reaches in.
import type { ApplianceConfig } from "./config/types.ts";

export interface ApplyResult {
  /** Human-readable notes, e.g. "sync role change applied online". */
  notes: string[];
  /** Set when part of the change only takes effect after `restart`; says which part. */
  restartRequired?: string;
}

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies a validated configuration live, as far as possible. */
  applyConfig(config: ApplianceConfig): Promise<ApplyResult>;
  /** While part of the service cannot work (a port it cannot bind...), one line each
   *  saying what and why; empty when all of it works. The appliance shows the service
   *  as "degraded" with these lines. */
  health?(): string[];
}

export interface ConnectionInfo {
  id: number;
  rule: string;               // e.g. "8081 -> 10.0.0.5:80 via 127.0.0.2:7800"
  side: "client" | "server";  // client-side appliance (accepted on a listen port) or server-side
  clientAddr: string;
  serverAddr: string;
  peer: string | null;        // appliance at the other end of the inner channel; null = pass-through
  state: "optimized" | "pass-through" | "connecting" | "closing";
  startedMs: number;
  lanBytesIn: number; lanBytesOut: number;
  wanBytesIn: number; wanBytesOut: number;
}

export interface OptimizerStats {
  connectionsCurrent: number;
  connectionsTotal: number;
  connectionsPassThrough: number;
  lanBytesIn: number; lanBytesOut: number;
  wanBytesIn: number; wanBytesOut: number;
  segmentsDef: number; segmentsRef: number; segmentsReq: number;
  /** LAN bytes / WAN bytes over all traffic so far (1 when nothing moved). */
  reduction: number;
}

export interface OptimizationService extends Service {
  stats(): OptimizerStats;
  connections(): ConnectionInfo[];
}

export type SyncState =
  | "disabled" | "connecting" | "refused" | "initial-sync" | "in-sync"
  | "behind" | "disconnected";

export interface SyncStatus {
  state: SyncState;
  role: "master" | "backup";
  peer: string | null;        // "addr:port"
  mode: "async" | "sync";
  effectiveMode: "async" | "sync";  // sync drops to async when the peer stalls
  refusedReason: string | null;
  eligibleForTakeover: boolean;     // false on a backup until initial sync completes
  initialSync: { percent: number; bytesDone: number; bytesTotal: number } | null;
  lagSegments: number;
  lagS: number;
  sentSegments: number; receivedSegments: number;
  sentBytes: number; receivedBytes: number;
  lastCheck: CheckResult | null;
  restartRequired: string | null;
  /** Sync traffic both ways over the last second (bytes/s). */
  throughputBps?: number;
}

export interface CheckResult {
  timeMs: number;
  inSync: boolean;
  missingHere: number;        // segments the peer had that we lacked (fetched)
  missingThere: number;       // segments we had that the peer lacked (sent)
  corruptRepaired: number;
  roundTrips: number;
  bytes: number;
  message: string;            // "in sync" or what was found and repaired
}

export interface SyncService extends Service {
  status(): SyncStatus;
  /** Runs one consistency check now (reconciliation plus repair). */
  checkNow(): Promise<CheckResult>;
  /** Sync mode commit gate: resolves once the peer durably holds these change entries
   *  (at once in async mode, or when the pair dropped to async). Optimization calls it
   *  after a local putSegments before it treats the segments as committed. */
  awaitReplicated?(entries: import("./store/types.ts").ChangeEntry[]): Promise<void>;
}

// ---- sync status in words: the console and the UI say the same thing ----

/** The state as the operator reads it. A side with no peer-ip is not "connecting": it
 *  can only wait for the peer to dial in, so it says "disconnected: no peer-ip configured".
 *  (A refusal's reason has its own field, `refusedReason`.) */
export function syncStateText(s: SyncStatus): string {
  if ((s.state === "connecting" || s.state === "disconnected") && s.peer === null) return "disconnected: no peer-ip configured";
  return s.state.replace("-", " ");
}

/** The mode, and why it runs async when sync is configured. */
export function syncModeText(s: SyncStatus): string {
  if (s.effectiveMode === s.mode) return s.mode;
  const connected = s.state === "initial-sync" || s.state === "in-sync" || s.state === "behind";
  const why = !connected ? ": peer not connected" : s.state === "initial-sync" ? ": initial sync in progress" : " until the peer catches up";
  return `${s.mode} (running ${s.effectiveMode}${why})`;
}
