// One store worker thread and the jobs waiting on it, shared by the prep pool
// (prep-pool.ts) and the verify pool (bulk.ts). Jobs carry an id; the worker answers
// each with a message the pool turns into the job's result. The worker is started on
// first use (or at appliance startup), kept referenced only while it has jobs so it
// never holds the process open, and every job has an inline fallback: when the pool
// is full, when the worker cannot start, dies, answers malformed or not within the
// job timeout, the job is done inline instead (same result, one core).
import { registerStoreWorker, startStoreWorker, type RefWorker, type StoreWorkerName } from "./worker-path.ts";

export interface WorkerPoolBounds {
  /** Jobs waiting in or for the worker before further ones run inline. */
  jobsMax: number;
  /** A job not answered by then runs inline (its late answer is ignored): a lost
   *  worker message must cost time, never a write that never ends. */
  jobTimeoutMs: number;
}

interface Job<Out> {
  inline(): Out;
  resolve(out: Out): void;
}

export class StoreWorkerPool<Out> {
  private worker: RefWorker | null = null;
  private broken = false;
  private nextId = 1;
  private readonly jobs = new Map<number, Job<Out>>();

  /** `answerOf` turns the worker's reply into a result, or undefined when the reply
   *  holds none (the job then runs inline). */
  constructor(
    private readonly name: StoreWorkerName,
    private readonly callerDir: string,
    private readonly bounds: WorkerPoolBounds,
    private readonly answerOf: (reply: Record<string, unknown>) => Out | undefined,
  ) {
    registerStoreWorker(name, () => void this.ensureWorker());
  }

  /** Jobs posted to the worker and not yet answered. */
  get pending(): number {
    return this.jobs.size;
  }

  /** Runs a job on the worker when there is room and a worker, else `inline()` now. */
  run(message: Record<string, unknown>, transfer: Transferable[], inline: () => Out): Promise<Out> | Out {
    const worker = this.jobs.size < this.bounds.jobsMax ? this.ensureWorker() : null;
    if (!worker) return inline();
    const id = this.nextId++;
    const done = new Promise<Out>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.jobs.delete(id)) return;
        if (this.jobs.size === 0) worker.unref();
        resolve(inline());
      }, this.bounds.jobTimeoutMs);
      this.jobs.set(id, { inline, resolve: (out) => (clearTimeout(timer), resolve(out)) });
    });
    if (this.jobs.size === 1) worker.ref();
    worker.postMessage({ ...message, id }, transfer);
    return done;
  }

  /** The worker, started on first use (or at appliance startup); null when inline. */
  ensureWorker(): RefWorker | null {
    if (this.worker || this.broken) return this.worker;
    const worker = startStoreWorker(this.callerDir, this.name, {
      onMessage: (reply: Record<string, unknown> & { id: number }) => {
        const job = this.jobs.get(reply.id);
        if (!job) return;
        this.jobs.delete(reply.id);
        if (this.jobs.size === 0) this.worker?.unref();
        job.resolve(this.answerOf(reply) ?? job.inline());
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
    for (const job of jobs) job.resolve(job.inline());
  }
}
