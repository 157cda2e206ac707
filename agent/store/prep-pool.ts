// A worker thread that prepares large write batches (hash check + LZ4, prepare.ts)
// off the caller's thread, so that the agent's main thread (SDR, sockets, LMDB
// transaction callbacks) and the preparation run on two cores. One worker per
// process, shared by every store, created on first use, kept referenced only while
// it has work so it never holds the process open. If the worker cannot be started
// (e.g. the bundled image, where the worker file is absent) or dies, batches are
// prepared inline: same results, one core.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { prepareValues, type PrepInput, type PrepOutput } from "./prepare.ts";

/** Batches smaller than this are prepared inline (the hop costs more than it saves). */
export const prepPoolSegmentsMin = 32;
/** Batches waiting in or for the worker before further ones are prepared inline. */
export const prepPoolJobsMax = 64;
/** A batch the worker has not answered by then is prepared inline (its late answer is
 *  ignored): a lost worker message must cost time, never a write that never ends. */
export const prepJobTimeoutMs = 5_000;

/** Bun's Worker has Node's ref/unref; its typings do not say so. */
type RefWorker = Worker & { ref(): void; unref(): void };

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

  private ensureWorker(): RefWorker | null {
    if (this.worker || this.broken) return this.worker;
    const path = join(import.meta.dir, "prep-worker.ts");
    if (!existsSync(path)) {
      this.broken = true;
      return null;
    }
    try {
      const worker = new Worker(path) as RefWorker;
      worker.unref();
      worker.onmessage = (event: MessageEvent<{ id: number; output?: PrepOutput; error?: string }>) => {
        const job = this.jobs.get(event.data.id);
        if (!job) return;
        this.jobs.delete(event.data.id);
        if (this.jobs.size === 0) worker.unref();
        job.resolve(event.data.output ?? prepareValues(job.input));
      };
      worker.onerror = () => this.fail();
      this.worker = worker;
      return worker;
    } catch {
      this.broken = true;
      return null;
    }
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

/** Whether a batch of `segments` goes to the worker (large enough, and wanted). */
export function worthWorker(segments: number, useWorker: boolean): boolean {
  return useWorker && segments >= prepPoolSegmentsMin;
}

/** Prepares a packed batch on the worker when there is one, else inline. */
export function prepareOnWorker(input: PrepInput): Promise<PrepOutput> {
  return pool.run(input);
}
