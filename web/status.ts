// The one JSON view of the appliance that pages render first and the browser polls
// (/api/status): everything is read from the control API; the only additions are
// display ratios (usage, hit rate) and the chart history.
import type { ControlRead, DatastoreInfo, ServiceInfo, VersionInfo } from "../agent/control/types.ts";
import { asTandemError } from "../agent/errors.ts";
import type { ApplianceEvent } from "../agent/events.ts";
import type { StoreStats } from "../agent/store/types.ts";
import { syncModeText, syncStateText, type ConnectionInfo, type OptimizerStats, type SyncStatus } from "../agent/services.ts";
import type { HistoryPoint, StatusHistory } from "./history.ts";

/** Connections listed in one status answer (the rest are counted, not listed). */
export const connectionsListedMax = 500;

export interface StatusView {
  timeMs: number;
  version: VersionInfo;
  stats: OptimizerStats;
  /** Null while the data store is unavailable (the reason is in `problems`). */
  datastore: DatastoreInfo | null;
  services: ServiceInfo[];
  /** Why parts of the view are missing, e.g. "data store: unavailable ...". */
  problems: string[];
  sync: SyncStatus;
  derived: {
    usagePercent: number | null;
    hitRatePercent: number | null;
    syncPercent: number | null;
    connectionsListed: number;
    /** The problems joined for one banner; null when there are none. */
    problemsText: string | null;
    /** Why sync cannot pair, when the status says it (e.g. "no peer-ip configured"); else null. */
    syncStateNote: string | null;
    /** The state shown (a side with no peer-ip waits: "disconnected", never "connecting"). */
    syncState: SyncStatus["state"];
    /** The mode and why it runs async when sync is configured (as `show datastore sync`). */
    syncModeText: string;
  };
  connections: ConnectionInfo[];
  history: HistoryPoint[];
  events: ApplianceEvent[];
}

export const emptyStoreStats: StoreStats = {
  segments: 0, rawBytes: 0, storedBytes: 0, capacityBytes: 0, hits: 0, misses: 0, evictions: 0,
  corruptFound: 0, writesPerS: 0, lastSeq: 0, oldestSeq: 0,
};

export function buildStatus(control: ControlRead, history: StatusHistory, options: { historyAfterMs?: number; eventsAfterId?: number; eventsMax: number }): StatusView {
  const problems: string[] = [];
  let datastore: DatastoreInfo | null = null;
  try {
    datastore = control.datastore();
  } catch (err) {
    problems.push(`data store: ${asTandemError(err).message}`);
  }
  const services = control.services();
  // A service that runs only in part, or not at all, is a problem the operator must see.
  for (const svc of services) {
    if (svc.state === "degraded" || svc.state === "failed") problems.push(`${svc.name} ${svc.state}: ${svc.detail ?? "no detail"}`);
  }
  const sync = control.syncStatus();
  const stateText = syncStateText(sync);
  const connections = control.connections();
  const s = datastore?.stats;
  const lookups = s ? s.hits + s.misses : 0;
  return {
    timeMs: Date.now(),
    version: control.version(),
    stats: control.stats(),
    datastore,
    services,
    problems,
    sync,
    derived: {
      usagePercent: s && s.capacityBytes > 0 ? Math.min(100, (100 * s.storedBytes) / s.capacityBytes) : null,
      hitRatePercent: s && lookups > 0 ? (100 * s.hits) / lookups : null,
      syncPercent: sync.initialSync ? sync.initialSync.percent : sync.state === "in-sync" ? 100 : null,
      connectionsListed: Math.min(connections.length, connectionsListedMax),
      problemsText: problems.length > 0 ? problems.join("; ") : null,
      syncStateNote: stateText.includes(": ") ? stateText.slice(stateText.indexOf(": ") + 2) : null,
      syncModeText: syncModeText(sync),
      syncState: stateText.startsWith("disconnected") ? "disconnected" : sync.state,
    },
    connections: connections.slice(0, connectionsListedMax),
    history: history.list(options.historyAfterMs ?? 0),
    events: control.events(options.eventsAfterId ?? 0, options.eventsMax),
  };
}
