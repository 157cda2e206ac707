// What every service module receives from the appliance (the composition root,
// agent/appliance.ts): the optimization service, data store sync and the web server
// are each created with one ApplianceContext. `config()` always returns the current
// running configuration (it changes when the operator configures; services get the
// new one through `applyConfig` as well). Services must not keep their own copy of
// the store or the event log beyond what this object hands them.
import type { ApplianceConfig } from "./config/types.ts";
import type { ControlApi } from "./control/types.ts";
import type { EventLog } from "./events.ts";
import type { MetricsRegistry } from "./metrics/registry.ts";
import type { SyncService } from "./services.ts";
import type { SegmentStore } from "./store/types.ts";
import type { ApplianceVersion } from "./version.ts";

export interface ApplianceContext {
  /** Model and software version (after `--model` / `--sw-version` overrides). */
  version: ApplianceVersion;
  /** The data directory (`--data`, default ./data); exists when services start. */
  dataDir: string;
  /** The running configuration (a getter: never cache the returned object). */
  config(): ApplianceConfig;
  /** The segment store, open for the lifetime of the process (restart clean clears it in place). */
  store: SegmentStore;
  events: EventLog;
  metrics: MetricsRegistry;
  /** The one control API (the web UI mounts it behind login). */
  control: ControlApi;
  /** The data store sync service while it runs (null when stopped or not installed).
   *  The optimization service uses it for the sync-mode commit gate
   *  (`ctx.sync?.()?.awaitReplicated?.(entries)`). Optional so test harnesses may omit it. */
  sync?: () => SyncService | null;
}
