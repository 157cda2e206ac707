// The control API served on Unix sockets in the data directory; file permissions are
// the access control. `<data dir>/control.sock` (mode 0600: the appliance's user)
// allows every method; `<data dir>/control-ro.sock` (mode 0666) allows only the read
// methods and masks the pairing secret. Protocol: JSON lines. On connect the server
// sends {"hello":{"product":"Tandem","protocol":1,"readOnly":bool}}; then each request
// {"id":N,"method":"name","params":[...]} gets exactly one {"id":N,"result":...} or
// {"id":N,"error":{"code","message","detail"}}, preceded, for write methods, by any
// number of {"id":N,"progress":"text"} lines (the events logged while it runs).
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { maskSecretLines } from "../config/render.ts";
import type { ApplianceConfig } from "../config/types.ts";
import { asTandemError, TandemError } from "../errors.ts";
import type { EventLog } from "../events.ts";
import { controlReadMethods, controlWriteMethods, type ControlApi } from "./types.ts";

export const controlProtocolVersion = 1;
/** Longest request line. */
export const requestBytesMax = 1024 * 1024;
/** Requests one connection may have in flight. */
export const inFlightPerConnectionMax = 16;
/** Connections served at once per socket. */
export const connectionsMax = 64;
/** Longest Unix socket path the kernel accepts (sun_path holds 108 bytes with the NUL). */
export const socketPathBytesMax = 107;
/** Unsent response bytes after which a client that does not read is dropped. */
export const outputBytesMax = 8 * 1024 * 1024;

export interface ControlServer {
  socketPath: string;
  readOnlySocketPath: string;
  stop(): Promise<void>;
}

const readSet = new Set<string>(controlReadMethods);
const writeSet = new Set<string>(controlWriteMethods);

function maskSecret<T>(method: string, result: T): T {
  if (method === "config") {
    const c = structuredClone(result) as unknown as ApplianceConfig;
    if (c.datastore.sync.secret !== null) c.datastore.sync.secret = "********";
    if (c.serviceSecret) c.serviceSecret = "********";
    return c as T;
  }
  if (method === "runningConfig") return maskSecretLines(result as string) as T;
  return result;
}

function serve(api: ControlApi, events: EventLog | undefined, readOnly: boolean, socket: Socket): void {
  let buffer = "";
  let inFlight = 0;
  const send = (message: unknown) => {
    if (socket.destroyed) return;
    socket.write(JSON.stringify(message) + "\n");
    if (socket.writableLength > outputBytesMax) socket.destroy();
  };
  const handle = async (line: string) => {
    let id: unknown = null;
    try {
      let request: { id?: unknown; method?: unknown; params?: unknown };
      try {
        request = JSON.parse(line);
      } catch {
        throw new TandemError("badInput", "request is not JSON");
      }
      id = request?.id ?? null;
      if (typeof id !== "number" && typeof id !== "string") throw new TandemError("badInput", "request needs an id (number or string)");
      const method = request.method;
      const params = request.params ?? [];
      if (typeof method !== "string" || !(readSet.has(method) || writeSet.has(method))) {
        throw new TandemError("notFound", `unknown method '${String(method)}'`);
      }
      if (!Array.isArray(params)) throw new TandemError("badInput", "params must be an array");
      if (readOnly && !readSet.has(method)) {
        throw new TandemError("forbidden", `'${method}' changes the appliance: not allowed on the read-only control socket`);
      }
      let unsubscribe = () => {};
      if (writeSet.has(method) && events) {
        unsubscribe = events.subscribe((e) => send({ id, progress: `${e.subsystem}: ${e.message}` }));
      }
      try {
        const fn = (api as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
        let result = await fn(...params);
        if (readOnly) result = maskSecret(method, result);
        send({ id, result: result === undefined ? null : result });
      } finally {
        unsubscribe();
      }
    } catch (err) {
      const e = asTandemError(err);
      if (e.code === "internal") events?.emit("error", "control", `control request failed: ${e.message}`);
      send({ id, error: { code: e.code, message: e.message, ...(e.detail ? { detail: e.detail } : {}) } });
    }
  };
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    if (buffer.length > requestBytesMax && !buffer.includes("\n")) {
      send({ id: null, error: { code: "limitExceeded", message: `request longer than ${requestBytesMax} bytes` } });
      socket.end();
      buffer = "";
      return;
    }
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      if (inFlight >= inFlightPerConnectionMax) {
        let id: unknown = null;
        try { id = JSON.parse(line)?.id ?? null; } catch { /* answered with id null */ }
        send({ id, error: { code: "limitExceeded", message: `more than ${inFlightPerConnectionMax} requests in flight on one connection` } });
        continue;
      }
      inFlight++;
      void handle(line).finally(() => inFlight--);
    }
  });
  socket.on("error", () => socket.destroy());
  send({ hello: { product: "Tandem", protocol: controlProtocolVersion, readOnly } });
}

/** True if something answers on the socket (another appliance on this data dir). */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

async function listen(path: string, mode: number, onSocket: (s: Socket) => void): Promise<Server> {
  if (Buffer.byteLength(path) > socketPathBytesMax) {
    throw new TandemError("badInput", `control socket path ${path} is ${Buffer.byteLength(path)} bytes, more than a Unix socket allows (${socketPathBytesMax}): use a shorter --data directory`);
  }
  if (existsSync(path)) {
    if (await socketAlive(path)) {
      throw new TandemError("unavailable", `${path} is in use: another appliance runs on this data directory`);
    }
    unlinkSync(path);
  }
  const server = createServer(onSocket);
  server.maxConnections = connectionsMax;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => { server.off("error", reject); resolve(); });
  });
  chmodSync(path, mode);
  return server;
}

export async function startControlServer(api: ControlApi, options: { dataDir: string; events?: EventLog }): Promise<ControlServer> {
  const socketPath = join(options.dataDir, "control.sock");
  const readOnlySocketPath = join(options.dataDir, "control-ro.sock");
  const sockets = new Set<Socket>();
  const track = (readOnly: boolean) => (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    serve(api, options.events, readOnly, s);
  };
  const rw = await listen(socketPath, 0o600, track(false));
  let ro: Server;
  try {
    ro = await listen(readOnlySocketPath, 0o666, track(true));
  } catch (err) {
    rw.close();
    throw err;
  }
  return {
    socketPath,
    readOnlySocketPath,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([rw, ro].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
      for (const p of [socketPath, readOnlySocketPath]) {
        try { unlinkSync(p); } catch { /* already gone */ }
      }
    },
  };
}
