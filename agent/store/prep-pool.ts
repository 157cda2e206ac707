// A worker thread that prepares large write batches (hash check + LZ4, prepare.ts)
// off the caller's thread, so that the agent's main thread (SDR, sockets, LMDB
// transaction callbacks) and the preparation run on two cores. One worker per
// process, shared by every store, created on first use, kept referenced only while
// it has work so it never holds the process open. If the worker cannot be started or
// dies, batches are prepared inline: same results, one core (worker-path.ts finds the
// worker's module and logs which way it went).
import { prepareValues, releasePacked, type PrepInput, type PrepOutput } from "./prepare.ts";
import { StoreWorkerPool } from "./worker-pool.ts";

/** Batches smaller than this are prepared inline (the hop costs more than it saves). */
export const prepPoolSegmentsMin = 32;
/** Batches waiting in or for the worker before further ones are prepared inline. */
export const prepPoolJobsMax = 64;
/** A batch the worker has not answered by then is prepared inline (its late answer is
 *  ignored): a lost worker message must cost time, never a write that never ends. */
export const prepJobTimeoutMs = 5_000;

/** Share of a batch prepared on the caller's thread, beside the worker, when the worker
 *  has a backlog: LZ4 (~35 us per 10 KB segment) then runs on both cores instead of
 *  capping the rate at one core's worth while the caller's thread waits. A quarter
 *  balances the two threads (the caller's also runs the LMDB transactions, ~15-20 us
 *  per segment). */
export const prepInlineShareWhenBusy = 0.25;
/** Jobs posted and unanswered that make a backlog (one running, one waiting): with
 *  fewer, the worker keeps up and the caller's thread (the SDR encoder's) is left alone. */
export const prepBacklogJobsMin = 2;

const pool = new StoreWorkerPool<PrepOutput>("prep-worker", import.meta.dir, { jobsMax: prepPoolJobsMax, jobTimeoutMs: prepJobTimeoutMs },
  (reply) => reply.output as PrepOutput | undefined);

/** Whether a batch of `segments` goes to the worker (large enough, and wanted). */
export function worthWorker(segments: number, useWorker: boolean): boolean {
  return useWorker && segments >= prepPoolSegmentsMin;
}

/** How many of a batch's `segments` (the tail) to prepare inline beside the worker. */
export function inlineShare(segments: number): number {
  return pool.pending >= prepBacklogJobsMin ? Math.floor(segments * prepInlineShareWhenBusy) : 0;
}

/** Prepares a packed batch on the worker when there is one, else inline. */
export async function prepareOnWorker(input: PrepInput): Promise<PrepOutput> {
  // Shared, not transferred (packSegments): the input stays here for the inline fallback,
  // and its buffer is reused once the batch is prepared (either way).
  try {
    return await pool.run({ input }, [], () => prepareValues(input));
  } finally {
    releasePacked(input);
  }
}
