// Client of the control socket (agent/control/server.ts): `connectControl(path)` gives
// an object with every ControlApi method, each returning a Promise, plus `call` for
// progress-reporting calls. The console (`tandem console --connect SOCKET`) and tests
// use it; it never reaches into the appliance any other way.
import { createConnection, type Socket } from "node:net";
import { TandemError } from "../errors.ts";
import { controlReadMethods, controlWriteMethods, type ControlApi } from "./types.ts";

/** How long a read call may take before the client gives up. */
export const readCallTimeoutMs = 30_000;
/** How long a write call (restart clean, sync check, ...) may take. */
export const writeCallTimeoutMs = 30 * 60_000;
/** How long to wait for the server's greeting. */
export const connectTimeoutMs = 5_000;
/** Calls one client may have waiting for an answer. */
export const pendingCallsMax = 256;
/** Longest response line accepted. */
export const responseBytesMax = 64 * 1024 * 1024;

type Remote<T> = { [K in keyof T]: T[K] extends (...args: infer P) => infer R ? (...args: P) => Promise<Awaited<R>> : never };

export type RemoteControl = Remote<ControlApi> & {
  readonly readOnly: boolean;
  readonly socketPath: string;
  call(method: string, params: unknown[], onProgress?: (text: string) => void): Promise<unknown>;
  /** Called once when the connection ends (appliance stopped). */
  onClose(listener: () => void): void;
  close(): void;
};

interface Pending { resolve(v: unknown): void; reject(e: unknown): void; onProgress?: (text: string) => void; timer: Timer }

export function connectControl(socketPath: string): Promise<RemoteControl> {
  return new Promise((resolveConnect, rejectConnect) => {
    const socket: Socket = createConnection({ path: socketPath });
    const pending = new Map<number, Pending>();
    const closeListeners: (() => void)[] = [];
    let nextId = 1;
    let buffer = "";
    let readOnly = false;
    let greeted = false;
    let closed = false;
    const connectTimer = setTimeout(() => {
      socket.destroy();
      rejectConnect(new TandemError("timeout", `${socketPath}: no greeting from the appliance within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);

    const failAll = (err: TandemError) => {
      for (const p of pending.values()) { clearTimeout(p.timer); p.reject(err); }
      pending.clear();
    };
    socket.setEncoding("utf8");
    socket.on("error", (err: NodeJS.ErrnoException) => {
      const reason = err.code === "ENOENT" || err.code === "ECONNREFUSED" ? "no appliance is running there"
        : err.code === "EACCES" ? "permission denied" : err.message;
      const e = new TandemError(err.code === "EACCES" ? "forbidden" : "unavailable", `${socketPath}: ${reason}`);
      if (!greeted) { clearTimeout(connectTimer); rejectConnect(e); }
      failAll(e);
    });
    socket.on("close", () => {
      closed = true;
      failAll(new TandemError("unavailable", "connection to the appliance closed"));
      if (!greeted) { clearTimeout(connectTimer); rejectConnect(new TandemError("unavailable", `${socketPath}: closed before greeting`)); }
      for (const l of closeListeners.splice(0)) l();
    });
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.length > responseBytesMax) { socket.destroy(); return; }
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let msg: { hello?: { product?: string; readOnly?: boolean }; id?: number; result?: unknown; error?: unknown; progress?: string };
        try { msg = JSON.parse(line); } catch { continue; }
        if (!greeted) {
          if (msg.hello?.product !== "Tandem") { socket.destroy(); continue; }
          greeted = true;
          readOnly = msg.hello.readOnly === true;
          clearTimeout(connectTimer);
          resolveConnect(client);
          continue;
        }
        const p = typeof msg.id === "number" ? pending.get(msg.id) : undefined;
        if (!p) continue;
        if (typeof msg.progress === "string") { p.onProgress?.(msg.progress); continue; }
        pending.delete(msg.id!);
        clearTimeout(p.timer);
        if (msg.error !== undefined) {
          const e = TandemError.fromWire(msg.error);
          const detail = (msg.error as { detail?: Record<string, unknown> }).detail;
          p.reject(detail ? new TandemError(e.code, e.message, detail) : e);
        } else p.resolve(msg.result);
      }
    });

    const call = (method: string, params: unknown[], onProgress?: (text: string) => void): Promise<unknown> =>
      new Promise((resolve, reject) => {
        if (closed) { reject(new TandemError("unavailable", "connection to the appliance closed")); return; }
        if (pending.size >= pendingCallsMax) {
          reject(new TandemError("limitExceeded", `more than ${pendingCallsMax} control calls waiting`));
          return;
        }
        const id = nextId++;
        const timeoutMs = (controlWriteMethods as readonly string[]).includes(method) ? writeCallTimeoutMs : readCallTimeoutMs;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new TandemError("timeout", `${method}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, onProgress, timer });
        socket.write(JSON.stringify({ id, method, params }) + "\n");
      });

    const client = {
      get readOnly() { return readOnly; },
      socketPath,
      call,
      onClose: (listener: () => void) => { if (closed) listener(); else closeListeners.push(listener); },
      close: () => { socket.end(); },
    } as unknown as RemoteControl;
    for (const m of [...controlReadMethods, ...controlWriteMethods]) {
      (client as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => call(m, args);
    }
  });
}
