// The one JSON view of the appliance that pages render first and the browser polls
// (/api/status): everything is read from the control API; the only additions are
// display ratios (usage, hit rate) and the chart history.
import type { ControlRead, DatastoreInfo, VersionInfo } from "../agent/control/types.ts";
import type { ApplianceEvent } from "../agent/events.ts";
import type { ConnectionInfo, OptimizerStats, SyncStatus } from "../agent/services.ts";
import type { HistoryPoint, StatusHistory } from "./history.ts";

/** Connections listed in one status answer (the rest are counted, not listed). */
export const connectionsListedMax = 500;

export interface StatusView {
  timeMs: number;
  version: VersionInfo;
  stats: OptimizerStats;
  datastore: DatastoreInfo;
  sync: SyncStatus;
  derived: {
    usagePercent: number;
    hitRatePercent: number | null;
    syncPercent: number | null;
    connectionsListed: number;
  };
  connections: ConnectionInfo[];
  history: HistoryPoint[];
  events: ApplianceEvent[];
}

export function buildStatus(control: ControlRead, history: StatusHistory, options: { historyAfterMs?: number; eventsAfterId?: number; eventsMax: number }): StatusView {
  const datastore = control.datastore();
  const sync = control.syncStatus();
  const connections = control.connections();
  const { stats: s } = datastore;
  const lookups = s.hits + s.misses;
  return {
    timeMs: Date.now(),
    version: control.version(),
    stats: control.stats(),
    datastore,
    sync,
    derived: {
      usagePercent: s.capacityBytes > 0 ? Math.min(100, (100 * s.storedBytes) / s.capacityBytes) : 0,
      hitRatePercent: lookups > 0 ? (100 * s.hits) / lookups : null,
      syncPercent: sync.initialSync ? sync.initialSync.percent : sync.state === "in-sync" ? 100 : null,
      connectionsListed: Math.min(connections.length, connectionsListedMax),
    },
    connections: connections.slice(0, connectionsListedMax),
    history: history.list(options.historyAfterMs ?? 0),
    events: control.events(options.eventsAfterId ?? 0, options.eventsMax),
  };
}
