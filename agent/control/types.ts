// The control API: the one surface for every read and every change. The console
// (over the Unix socket in the data directory) and the web UI (in process, behind
// login) are both clients of it. Methods are grouped by the permission they need.
import type { ApplianceConfig } from "../config/types.ts";
import type { ApplianceEvent } from "../events.ts";
import type { StoreIdentity, StoreStats } from "../store/types.ts";
import type { ApplyResult, CheckResult, ConnectionInfo, OptimizerStats, SyncStatus } from "../services.ts";

export interface VersionInfo {
  product: "Tandem";
  model: string;
  softwareVersion: string;
  hostname: string;
  uptimeS: number;
  dataDir: string;
  /** Set while part of the running config waits for `restart` to take effect. */
  restartRequired?: string | null;
}

export interface DatastoreInfo {
  stats: StoreStats;
  identity: StoreIdentity;
  policy: "lru" | "fifo";
}

export interface ServiceInfo {
  name: string;               // "optimization", "sync", "web", "store"
  state: "running" | "degraded" | "stopped" | "starting" | "stopping" | "failed" | "not installed";
  detail: string | null;      // why it failed or is degraded, where it listens...
}

export interface ControlRead {
  version(): VersionInfo;
  datastore(): DatastoreInfo;
  syncStatus(): SyncStatus;
  connections(): ConnectionInfo[];
  stats(): OptimizerStats;
  config(): ApplianceConfig;
  /** The running configuration in the console grammar, one command per line. */
  runningConfig(): string;
  events(afterId?: number, limit?: number): ApplianceEvent[];
  metricsText(): string;
  /** Each service of the appliance and its state ("not installed" when its module is absent). */
  services(): ServiceInfo[];
}

export interface ControlWrite {
  /** Validates and applies configuration-mode commands (all or nothing). A bad line
   *  throws TandemError("badConfig") naming the line and reason; nothing changes. */
  configure(lines: string[]): Promise<ApplyResult>;
  /** Saves the running config atomically to the startup config file; returns its path. */
  writeMemory(): Promise<{ path: string }>;
  /** Restarts the services; with clean, clears the data store (new identity) first. */
  restart(options: { clean: boolean }): Promise<void>;
  syncCheck(): Promise<CheckResult>;
}

export type ControlApi = ControlRead & ControlWrite;

/** Names of the read methods (allowed on the read-only socket) and the write methods. */
export const controlReadMethods = [
  "version", "datastore", "syncStatus", "connections", "stats", "config", "runningConfig",
  "events", "metricsText", "services",
] as const satisfies readonly (keyof ControlRead)[];
export const controlWriteMethods = ["configure", "writeMemory", "restart", "syncCheck"] as const satisfies readonly (keyof ControlWrite)[];
