// Data store sync carries the SDR codec's successor hints along with the segments it
// moves: a backup that holds its master's segments but not the order they were learned
// in could only reference them one by one after a failover, where the master sent one
// RUN for thousands. The hints ride on the at-rest segment (StoredSegment.successor,
// .previousSuccessor and .predecessor: the links out of and into a new segment; a
// segment repeated in the data has two successors, and RUN ops may take either);
// it is a hint only, so a stale or missing one costs a round trip, never correctness.
// A segment that began a stream also gets its resemblance features indexed here (one
// per connection, so cheap): the next stream's first segment (a response header that
// differs in its date) is then sent as a small delta via the backup too.
import { superFeatures } from "../sdr/features.ts";
import { LearnedIndex, streamStartLabel } from "../sdr/learned.ts";
import type { SegmentStore, StoredSegment } from "../store/types.ts";
import { storeView } from "../store/view.ts";

export interface HintedStore {
  store: SegmentStore;
  close(): Promise<void>;
}

/** `store` as sync sees it: getStored adds the hints, putStored records them. */
export function withSuccessorHints(store: SegmentStore): HintedStore {
  let hints: LearnedIndex | null = null;
  const index = () => (hints ??= LearnedIndex.forStore(store));

  const getStored = (label: Uint8Array): StoredSegment | undefined => {
    const segment = store.getStored(label);
    if (!segment) return segment;
    const successor = index().successor(label);
    const previousSuccessor = successor ? index().previousSuccessor(label) : undefined;
    const predecessor = index().predecessor(label);
    return successor || predecessor ? { ...segment, successor, previousSuccessor, predecessor } : segment;
  };
  const putStored: SegmentStore["putStored"] = async (segments, origin, meta) => {
    const entries = await store.putStored(segments, origin, meta);
    // The index keeps recent links in memory as it gets them: give it copies, since a
    // label from the peer is a view of the socket chunk it arrived in and would keep
    // that whole chunk alive.
    const own = (label: Uint8Array) => Uint8Array.from(label);
    for (const segment of segments) {
      if (!segment.successor && !segment.predecessor) continue;
      const label = own(segment.label);
      if (segment.successor) {
        index().setLinks(label, own(segment.successor), segment.previousSuccessor && own(segment.previousSuccessor));
      }
      if (segment.predecessor) {
        const predecessor = own(segment.predecessor);
        index().setPredecessor(label, predecessor);
        index().setSuccessor(predecessor, label);
        if (Buffer.compare(predecessor, streamStartLabel) === 0) {
          const data = store.get(label);
          const features = data ? superFeatures(data) : undefined;
          if (features) index().addFeatures(features, label);
        }
      }
    }
    return entries;
  };

  return {
    store: storeView(store, { getStored, putStored }),
    close: async () => {
      await hints?.close();
      hints = null;
    },
  };
}
