// The store's worker threads (prep-worker: hash check + LZ4 of writes; verify-worker:
// checking what sync receives): where their modules are and how one is started, in one
// place for prep-pool.ts and bulk.ts. In a checkout a worker is a .ts file next to its
// caller; in the appliance image the agent is one bundle and each worker is bundled as
// a .js file beside it (image/build.ts), which is where import.meta.dir then points. A
// worker posts `{ ready: true }` once its module (and with it the WASM module) has
// loaded; only then is it reported running. A worker that cannot start, fails to load,
// or does not report ready in time leaves its pool working inline, and says so in the
// log: same results, one core.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { EventLog } from "../events.ts";

export type StoreWorkerName = "prep-worker" | "verify-worker";

/** A worker that has not loaded by then is given up for the process (its pool works inline). */
export const workerReadyTimeoutMs = 10_000;

/** Bun's Worker has Node's ref/unref; its typings do not say so. */
export type RefWorker = Worker & { ref(): void; unref(): void };

export interface StoreWorkerState {
  state: "starting" | "running" | "inline";
  /** The worker's module, when one was found. */
  path?: string;
  /** Why the pool works inline. */
  reason?: string;
}

/** The worker's module next to `callerDir`: the source in a checkout, the bundle in the image. */
export function workerModulePath(callerDir: string, name: StoreWorkerName): string | null {
  for (const extension of [".ts", ".js"]) {
    const path = join(callerDir, name + extension);
    if (existsSync(path)) return path;
  }
  return null;
}

const states = new Map<StoreWorkerName, StoreWorkerState>();
const starters = new Map<StoreWorkerName, () => void>();
let events: EventLog | undefined;

/** How each store worker of this process stands (those not yet asked for are absent). */
export function storeWorkerStates(): Record<string, StoreWorkerState> {
  return Object.fromEntries(states);
}

/** A pool makes its worker startable by name (called once, when its module loads). */
/** Whether worker threads can pay off here: on one core they only add copies. */
export function workersPayOff(): boolean {
  return availableParallelism() > 1;
}

export function registerStoreWorker(name: StoreWorkerName, start: () => void): void {
  starters.set(name, start);
}

/**
 * Starts every store worker now instead of at the first large batch, and reports to
 * `log` from then on. Used by the appliance at startup, so its log says which workers
 * run (one line once all have settled) and a worker that cannot run is seen at boot.
 */
export function startStoreWorkers(log: EventLog): void {
  events = log;
  if (!workersPayOff()) {
    log.emit("info", "store", "store workers: off (one core), batches are done inline");
    return;
  }
  for (const start of starters.values()) start();
  reportWhenSettled();
}

function reportWhenSettled(): void {
  if (!events || states.size < starters.size || [...states.values()].some((s) => s.state === "starting")) return;
  const parts = [...states].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, s]) => s.state === "running" ? `${name} running (${s.path})` : `${name} inline (${s.reason})`);
  const allRunning = [...states.values()].every((s) => s.state === "running");
  events.emit(allRunning ? "info" : "warning", "store", `store workers: ${parts.join(", ")}`);
}

function settle(name: StoreWorkerName, state: StoreWorkerState): void {
  const before = states.get(name)?.state;
  states.set(name, state);
  // A worker lost after it ran is news of its own; a startup outcome goes into the summary.
  if (before === "running" && state.state === "inline") {
    events?.emit("warning", "store", `store ${name} stopped (${state.reason}); its batches are done inline from now on`);
  } else if (before === "starting") {
    reportWhenSettled();
  }
}

export interface WorkerHandlers {
  /** Every message except the ready report. */
  onMessage(data: any): void;
  /** The worker failed or never became ready: the pool finishes its jobs inline. */
  onFail(): void;
}

/**
 * Starts a store worker (unreferenced, so it never holds the process open), or returns
 * null when its module is missing or cannot be started; the state and the log say which.
 */
export function startStoreWorker(callerDir: string, name: StoreWorkerName, handlers: WorkerHandlers): RefWorker | null {
  const path = workerModulePath(callerDir, name);
  if (!path) {
    settle(name, { state: "inline", reason: `no ${name}.ts or ${name}.js in ${callerDir}` });
    return null;
  }
  let worker: RefWorker;
  try {
    worker = new Worker(path) as RefWorker;
  } catch (err) {
    settle(name, { state: "inline", path, reason: `cannot start: ${err instanceof Error ? err.message : String(err)}` });
    return null;
  }
  worker.unref();
  states.set(name, { state: "starting", path });
  let failed = false;
  const fail = (reason: string) => {
    if (failed) return;
    failed = true;
    clearTimeout(readyTimer);
    worker.terminate();
    settle(name, { state: "inline", path, reason });
    handlers.onFail();
  };
  const readyTimer = setTimeout(() => fail(`not ready after ${workerReadyTimeoutMs} ms`), workerReadyTimeoutMs);
  (readyTimer as { unref?(): void }).unref?.();
  worker.onmessage = (event: MessageEvent) => {
    if (event.data?.ready === true) {
      clearTimeout(readyTimer);
      if (!failed) settle(name, { state: "running", path });
      return;
    }
    handlers.onMessage(event.data);
  };
  worker.onerror = (event: ErrorEvent) => fail(`failed: ${event.message || "worker error"}`);
  return worker;
}
