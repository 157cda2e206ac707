// The in-process implementation of the control API. It reads from and drives the
// appliance (the composition root, agent/appliance.ts) through the small
// ControlledAppliance interface below, so it can be tested and reused without the
// process around it. Configuration changes are parsed and validated by agent/config
// (the one place), applied live through the appliance, kept as running config, and
// saved only by `writeMemory`. Changes are serialized: one configure/restart at a time.
import { applyConfigLines, maskSecretLines, renderConfig, saveConfigFile } from "../config/index.ts";
import { cloneConfig, type ApplianceConfig } from "../config/types.ts";
import { TandemError } from "../errors.ts";
import type { EventLog } from "../events.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { ApplyResult, CheckResult, OptimizationService, OptimizerStats, SyncService, SyncStatus } from "../services.ts";
import type { SegmentStore } from "../store/types.ts";
import type { ApplianceVersion } from "../version.ts";
import type { ControlApi, ServiceInfo } from "./types.ts";

/** What the control API needs from the appliance process. */
export interface ControlledAppliance {
  version: ApplianceVersion;
  dataDir: string;
  startedMs: number;
  /** Where `write memory` saves (the `--config` file, else <data dir>/tandem.conf). */
  startupConfigPath: string;
  events: EventLog;
  metrics: MetricsRegistry;
  config(): ApplianceConfig;
  store(): SegmentStore | null;
  optimizer(): OptimizationService | null;
  sync(): SyncService | null;
  services(): ServiceInfo[];
  /** What waits for `restart` (null: nothing). */
  restartRequired(): string | null;
  /** Makes `next` (already validated) the running config and hands it to each service. */
  applyConfig(next: ApplianceConfig): Promise<ApplyResult>;
  restart(options: { clean: boolean }): Promise<void>;
}

/** Most lines one `configure` call accepts (a whole config file fits easily). */
export const configureLinesMax = 2000;
/** Most events one `events` call returns. */
export const eventsPerCallMax = 1000;

const zeroStats: OptimizerStats = {
  connectionsCurrent: 0, connectionsTotal: 0, connectionsPassThrough: 0,
  lanBytesIn: 0, lanBytesOut: 0, wanBytesIn: 0, wanBytesOut: 0,
  segmentsDef: 0, segmentsRef: 0, segmentsReq: 0, reduction: 1,
};

function syncUnavailable(config: ApplianceConfig, reason: string): SyncStatus {
  const s = config.datastore.sync;
  return {
    state: "disabled", role: s.master ? "master" : "backup",
    peer: s.peerIp ? `${s.peerIp}:${s.port}` : null, mode: s.mode, effectiveMode: s.mode,
    refusedReason: reason, eligibleForTakeover: false, initialSync: null,
    lagSegments: 0, lagS: 0, sentSegments: 0, receivedSegments: 0, sentBytes: 0, receivedBytes: 0,
    lastCheck: null, restartRequired: null,
  };
}

export function createControlApi(appliance: ControlledAppliance): ControlApi {
  // One change at a time: a configure during a restart waits for it.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const serviceState = (name: string) => appliance.services().find((s) => s.name === name);

  return {
    version: () => ({
      product: "Tandem",
      model: appliance.version.model,
      softwareVersion: appliance.version.softwareVersion,
      hostname: appliance.config().hostname,
      uptimeS: Math.floor((Date.now() - appliance.startedMs) / 1000),
      dataDir: appliance.dataDir,
      restartRequired: appliance.restartRequired(),
    }),
    datastore: () => {
      const store = appliance.store();
      if (!store) throw new TandemError("unavailable", `data store ${serviceState("store")?.state ?? "not open"}`);
      return { stats: store.stats(), identity: store.identity(), policy: appliance.config().datastore.replacementPolicy };
    },
    syncStatus: () => {
      const sync = appliance.sync();
      if (sync) return sync.status();
      const info = serviceState("sync");
      return syncUnavailable(appliance.config(), info?.detail ?? `data store sync ${info?.state ?? "not installed"}`);
    },
    connections: () => appliance.optimizer()?.connections() ?? [],
    stats: () => appliance.optimizer()?.stats() ?? { ...zeroStats },
    config: () => cloneConfig(appliance.config()),
    runningConfig: () => renderConfig(appliance.config()),
    events: (afterId = 0, limit = 100) =>
      appliance.events.recent(Math.max(1, Math.min(eventsPerCallMax, limit)), afterId),
    metricsText: () => appliance.metrics.render(),
    services: () => appliance.services(),

    configure: (lines) => serialized(async () => {
      if (!Array.isArray(lines) || lines.some((l) => typeof l !== "string")) {
        throw new TandemError("badInput", "configure takes a list of command lines");
      }
      if (lines.length > configureLinesMax) {
        throw new TandemError("limitExceeded", `Too many lines (${lines.length}, at most ${configureLinesMax})`);
      }
      const current = appliance.config();
      const { config: next, notes, canonical } = applyConfigLines(current, lines);
      if (JSON.stringify(next) === JSON.stringify(current)) return { notes: [...notes] };
      const result = await appliance.applyConfig(next);
      const logged = canonical.map(maskSecretLines);
      appliance.events.emit("notice", "config", `configured: ${logged.join("; ")}`);
      return { notes: [...notes, ...result.notes], ...(result.restartRequired ? { restartRequired: result.restartRequired } : {}) };
    }),
    writeMemory: () => serialized(async () => {
      const path = appliance.startupConfigPath;
      try {
        saveConfigFile(path, appliance.config(), `Tandem ${appliance.version.model} ${appliance.version.softwareVersion}, saved ${new Date().toISOString()}`);
      } catch (err) {
        throw new TandemError("internal", `could not save ${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
      appliance.events.emit("notice", "config", `running configuration saved to ${path}`);
      return { path };
    }),
    restart: (options) => serialized(() => appliance.restart({ clean: options?.clean === true })),
    syncCheck: async (): Promise<CheckResult> => {
      const sync = appliance.sync();
      if (!sync) throw new TandemError("unavailable", `data store sync ${serviceState("sync")?.state ?? "not installed"}`);
      return sync.checkNow();
    },
  };
}
