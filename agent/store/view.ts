// A view of a segment store with some methods replaced and every other member passed
// through to the store itself (bound to it, so the store's own state stays its own).
// Services use it to add behaviour around the store without wrapping every method:
// data store sync adds codec hints to segments, the optimization path adds the
// sync-mode commit gate to writes.
import type { SegmentStore } from "./types.ts";

export function storeView(store: SegmentStore, overrides: Partial<SegmentStore>): SegmentStore {
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof SegmentStore];
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
