// In-process optimization service for unit tests and debugging: a real LMDB store in a
// temporary directory, the real service, the given config; no web UI, no control.
import { join } from "node:path";
import type { ApplianceContext } from "../../agent/appliance-context.ts";
import { defaultConfig, cloneConfig, type ApplianceConfig } from "../../agent/config/types.ts";
import { EventLog } from "../../agent/events.ts";
import { MetricsRegistry } from "../../agent/metrics/registry.ts";
import { createOptimizationService } from "../../agent/optimize/index.ts";
import { openSegmentStore } from "../../agent/store/index.ts";
import type { OptimizationService } from "../../agent/services.ts";

export interface InProcAppliance {
  service: OptimizationService;
  events: EventLog;
  config: ApplianceConfig;
  close(): Promise<void>;
}

export async function startInProc(dir: string, patch: (c: ApplianceConfig) => void): Promise<InProcAppliance> {
  const config = cloneConfig(defaultConfig);
  patch(config);
  const version = { model: "TDM-1000", softwareVersion: "0.1.0" };
  const store = await openSegmentStore({ dir: join(dir, "store"), ...version, durable: false });
  const events = new EventLog(!!process.env.TANDEM_TEST_VERBOSE, "debug");
  const ctx = { version, dataDir: dir, config: () => config, store, events, metrics: new MetricsRegistry(), control: null } as unknown as ApplianceContext;
  const service = createOptimizationService(ctx);
  await service.start();
  return { service, events, config, close: async () => { await service.stop(); await store.close(); } };
}
