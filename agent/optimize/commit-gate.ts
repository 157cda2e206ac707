// The sync-mode commit gate on the optimization path: in synchronous data store sync,
// a segment learned from traffic counts as committed only once the backup holds it
// durably. The store view handed to the SDR codec awaits the sync service's
// `awaitReplicated` after each write; the codec's bounded write-behind then holds the
// connection back while the backup catches up. In async mode, or once the pair has
// dropped to async after a stall, the gate resolves at once.
import type { ApplianceContext } from "../appliance-context.ts";
import type { SegmentStore } from "../store/types.ts";
import { storeView } from "../store/view.ts";

export function commitGatedStore(ctx: ApplianceContext): SegmentStore {
  const store = ctx.store;
  const putSegments: SegmentStore["putSegments"] = async (segments, origin, meta) => {
    const entries = await store.putSegments(segments, origin, meta);
    if (entries.length > 0) await ctx.sync?.()?.awaitReplicated?.(entries);
    return entries;
  };
  return storeView(store, { putSegments });
}
