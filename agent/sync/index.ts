// Entry of data store sync for the appliance (agent/appliance.ts loads this module):
// `createSyncService(ctx)` returns the SyncService of agent/services.ts, plus
// `awaitReplicated(entries)` — the commit gate the optimization service calls in sync
// mode after a local putSegments (it resolves at once in async mode, or when the pair
// has dropped to async). The pieces: core.ts (pure state machine), messages.ts
// (codecs), keyindex.ts (fingerprints for reconciliation), service.ts (sockets).
import type { ApplianceContext } from "../appliance-context.ts";
import type { SyncService } from "../services.ts";
import { createSyncServiceWith, type SyncServiceExtras } from "./service.ts";

export type { SyncServiceExtras } from "./service.ts";
export { SyncCore, defaultBounds, type SyncBounds, type SyncClock, type SyncLink, type SyncStore } from "./core.ts";

export function createSyncService(ctx: ApplianceContext): SyncService & SyncServiceExtras {
  return createSyncServiceWith(ctx);
}
