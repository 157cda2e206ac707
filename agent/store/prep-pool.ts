// A worker thread that prepares large write batches (hash check + LZ4, prepare.ts)
// off the caller's thread, so that the agent's main thread (SDR, sockets, LMDB
// transaction callbacks) and the preparation run on two cores. One worker per
// process, shared by every store, created on first use, kept referenced only while
// it has work so it never holds the process open. If the worker cannot be started or
// dies, batches are prepared inline: same results, one core (worker-path.ts finds the
// worker's module and logs which way it went).
import { prepareValues, type PrepInput, type PrepOutput } from "./prepare.ts";
import { registerStoreWorker, startStoreWorker, type RefWorker } from "./worker-path.ts";

/** Batches smaller than this are prepared inline (the hop costs more than it saves). */
export const prepPoolSegmentsMin = 32;
/** Batches waiting in or for the worker before further ones are prepared inline. */
export const prepPoolJobsMax = 64;
/** A batch the worker has not answered by then is prepared inline (its late answer is
 *  ignored): a lost worker message must cost time, never a write that never ends. */
export const prepJobTimeoutMs = 5_000;

interface Job {
  input: PrepInput;
  resolve(output: PrepOutput): void;
}

class PrepPool {
  private worker: RefWorker | null = null;
  private broken = false;
  private nextId = 1;
  private readonly jobs = new Map<number, Job>();

  /** Prepares on the worker when there is one, else inline. */
  async run(input: PrepInput): Promise<PrepOutput> {
    const worker = this.jobs.size < prepPoolJobsMax ? this.ensureWorker() : null;
    if (!worker) return prepareValues(input);
    const id = this.nextId++;
    const done = new Promise<PrepOutput>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.jobs.delete(id)) return;
        if (this.jobs.size === 0) worker.unref();
        resolve(prepareValues(input));
      }, prepJobTimeoutMs);
      this.jobs.set(id, { input, resolve: (output) => { clearTimeout(timer); resolve(output); } });
    });
    if (this.jobs.size === 1) worker.ref();
    // Shared, not transferred (packSegments): the input stays here for the inline fallback.
    worker.postMessage({ id, input });
    return done;
  }

  /** The worker, started on first use (or at appliance startup); null when inline. */
  ensureWorker(): RefWorker | null {
    if (this.worker || this.broken) return this.worker;
    const worker = startStoreWorker(import.meta.dir, "prep-worker", {
      onMessage: (data: { id: number; output?: PrepOutput; error?: string }) => {
        const job = this.jobs.get(data.id);
        if (!job) return;
        this.jobs.delete(data.id);
        if (this.jobs.size === 0) this.worker?.unref();
        job.resolve(data.output ?? prepareValues(job.input));
      },
      onFail: () => this.fail(),
    });
    if (!worker) this.broken = true;
    this.worker = worker;
    return worker;
  }

  /** The worker died: finish its jobs inline and stop using it. */
  private fail(): void {
    this.broken = true;
    const worker = this.worker;
    this.worker = null;
    worker?.terminate();
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.resolve(prepareValues(job.input));
  }
}

const pool = new PrepPool();
registerStoreWorker("prep-worker", () => void pool.ensureWorker());

/** Whether a batch of `segments` goes to the worker (large enough, and wanted). */
export function worthWorker(segments: number, useWorker: boolean): boolean {
  return useWorker && segments >= prepPoolSegmentsMin;
}

/** Prepares a packed batch on the worker when there is one, else inline. */
export function prepareOnWorker(input: PrepInput): Promise<PrepOutput> {
  return pool.run(input);
}
