// One framed TCP connection between appliances, over a Bun socket (`Bun.connect` /
// `Bun.listen`). It owns: a bounded outgoing queue that honours partial writes (Bun's
// `socket.write` returns the bytes it accepted; the rest is written on `drain`),
// backpressure (`send()` resolves once the queue is below its low-water mark, and
// `writable` says whether a producer should pause), frame reassembly with
// `frameBytesMax`, heartbeats (a zero-length frame when nothing was sent for
// `heartbeatMs`) and peer-silence detection (`idleMs` without any frame closes the
// connection). Frames go to a handler set with `onMessage`, or wait (bounded) for
// `receive()` during a handshake. Every close carries a reason, logged once.
//
//   const conn = await connectTcp("127.0.7.1", 7744, { label: "sync" });
//   await conn.send({ t: "ping" });           // awaits backpressure, not delivery
//   conn.onMessage((msg) => ...);             // in-order delivery
//   conn.close("shutting down");
import type { Socket, TCPSocketListener } from "bun";
import { TandemError } from "../errors.ts";
import { encodeFrameParts, FrameReader, frameBytesMax, heartbeatFrame } from "./framing.ts";

/** Outgoing bytes queued above which `writable` turns false and `send()` waits. */
export const sendQueueHighBytes = 4 * 1024 * 1024;
/** Outgoing bytes below which waiting senders resume. */
export const sendQueueLowBytes = 1 * 1024 * 1024;
/** Hard bound: a producer that ignores backpressure past this gets limitExceeded. */
export const sendQueueBytesMax = 32 * 1024 * 1024;
/** Queued parts smaller than this are gathered into one write (Bun's socket.write is a
 *  syscall each); larger ones are written as they are. */
export const gatherPartBytesMax = 64 * 1024;
/** The scratch buffer small parts are gathered into (reused: socket.write copies). */
export const gatherBytes = 256 * 1024;
/** Frames held for `receive()` before a handler is set. */
export const inboxFramesMax = 64;
/** A heartbeat goes out when nothing else was sent for this long. */
export const heartbeatMs = 1000;
/** No frame at all from the peer for this long: the peer is down. */
export const idleMs = 5000;

export interface ConnectionOptions {
  label?: string;
  heartbeatMs?: number;
  idleMs?: number;
  frameBytesMax?: number;
  /** Called once with the close reason (after the socket is gone). */
  log?: (message: string) => void;
}

type MessageHandler = (message: unknown) => void;

interface SocketData {
  conn?: Connection;
}

export class Connection {
  readonly label: string;
  readonly remote: string;
  private readonly reader: FrameReader;
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private inbox: unknown[] = [];
  private receivers: Array<{ resolve: (m: unknown) => void; reject: (e: Error) => void; timer: Timer }> = [];
  private handler: MessageHandler | null = null;
  private closeListeners: Array<(reason: string) => void> = [];
  private closedReason: string | null = null;
  private lastSentMs = Date.now();
  private lastReceivedMs = Date.now();
  private readonly timer: Timer;
  bytesSent = 0;
  bytesReceived = 0;
  /** Total frame bytes ever accepted by send() (the wire size of each message). */
  bytesQueuedTotal = 0;

  constructor(private readonly socket: Socket<SocketData>, private readonly options: ConnectionOptions = {}) {
    this.label = options.label ?? "conn";
    this.remote = `${socket.remoteAddress}:${(socket as unknown as { remotePort?: number }).remotePort ?? "?"}`;
    this.reader = new FrameReader(options.frameBytesMax ?? frameBytesMax);
    socket.data.conn = this;
    const hb = options.heartbeatMs ?? heartbeatMs;
    const idle = options.idleMs ?? idleMs;
    this.timer = setInterval(() => {
      const now = Date.now();
      if (this.readingPaused) this.lastReceivedMs = now; // our own choice, not peer silence
      if (now - this.lastReceivedMs > idle) {
        this.close(`peer silent for ${now - this.lastReceivedMs} ms (idleMs ${idle})`);
        return;
      }
      if (now - this.lastSentMs >= hb && this.queue.length === 0) this.writeRaw([heartbeatFrame]);
    }, Math.max(10, Math.min(hb, idle) / 2));
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }
  get closeReason(): string | null {
    return this.closedReason;
  }
  /** False while the outgoing queue is above its high-water mark: pause producers. */
  get writable(): boolean {
    return !this.closed && this.queuedBytes < sendQueueHighBytes;
  }
  get pendingSendBytes(): number {
    return this.queuedBytes;
  }

  /** Queues one message. Resolves when the queue has room again (not on delivery). */
  send(message: unknown): Promise<void> {
    if (this.closedReason !== null) {
      return Promise.reject(new TandemError("unavailable", `connection closed: ${this.closedReason}`));
    }
    const parts = encodeFrameParts(message, this.options.frameBytesMax ?? frameBytesMax);
    let length = 0;
    for (const part of parts) length += part.length;
    if (this.queuedBytes + length > sendQueueBytesMax) {
      const err = new TandemError("limitExceeded", `send queue above sendQueueBytesMax ${sendQueueBytesMax}`);
      this.close(err.message);
      return Promise.reject(err);
    }
    this.bytesQueuedTotal += length;
    this.writeRaw(parts);
    if (this.queuedBytes < sendQueueHighBytes) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private readingPaused = false;

  /** Stops reading from the socket (the peer then sees TCP backpressure), e.g. while the
   *  consumer of our messages is behind. Silence is not counted against the peer meanwhile. */
  pauseReading(): void {
    if (this.readingPaused || this.closed) return;
    this.readingPaused = true;
    (this.socket as unknown as { pause(): void }).pause();
  }

  resumeReading(): void {
    if (!this.readingPaused || this.closed) return;
    this.readingPaused = false;
    this.lastReceivedMs = Date.now();
    (this.socket as unknown as { resume(): void }).resume();
  }

  /** The next message, for handshakes (before a handler is set). */
  receive(timeoutMs: number): Promise<unknown> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
    if (this.closedReason !== null) {
      return Promise.reject(new TandemError("unavailable", `connection closed: ${this.closedReason}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.receivers = this.receivers.filter((r) => r.timer !== timer);
        reject(new TandemError("timeout", `no message from ${this.remote} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.receivers.push({ resolve, reject, timer });
    });
  }

  /** Delivers every later message (and those already waiting) to `handler`, in order. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
    const waiting = this.inbox;
    this.inbox = [];
    for (const m of waiting) {
      if (this.closed) break;
      handler(m);
    }
  }

  onClose(listener: (reason: string) => void): void {
    if (this.closedReason !== null) listener(this.closedReason);
    else this.closeListeners.push(listener);
  }

  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    clearInterval(this.timer);
    // Flush what is queued best-effort, then end; a dead peer is cut by terminate in close handler.
    try {
      this.socket.end();
    } catch {
      // already gone
    }
    this.queue.length = 0;
    this.queuedBytes = 0;
    const err = new TandemError("unavailable", `connection closed: ${reason}`);
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
    for (const r of this.receivers) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.receivers = [];
    this.options.log?.(`${this.label} ${this.remote} closed: ${reason}`);
    for (const l of this.closeListeners) l(reason);
    this.closeListeners = [];
  }

  // --- socket callbacks ---

  /** @internal */
  handleData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.lastReceivedMs = Date.now();
    this.bytesReceived += chunk.length;
    let events;
    try {
      events = this.reader.push(chunk);
    } catch (err) {
      this.close(`bad frame: ${(err as Error).message}`);
      return;
    }
    for (const e of events) {
      if (this.closed) return;
      if (e.heartbeat) continue;
      if (this.handler) this.handler(e.message);
      else if (this.receivers.length > 0) {
        const r = this.receivers.shift()!;
        clearTimeout(r.timer);
        r.resolve(e.message);
      } else if (this.inbox.length >= inboxFramesMax) {
        this.close(`more than inboxFramesMax ${inboxFramesMax} unread frames`);
        return;
      } else this.inbox.push(e.message);
    }
  }

  /** @internal */
  handleDrain(): void {
    this.flush();
  }

  private writeRaw(parts: Uint8Array[]): void {
    this.lastSentMs = Date.now();
    const idle = this.queue.length === 0;
    for (const part of parts) {
      if (part.length === 0) continue;
      this.queue.push(part);
      this.queuedBytes += part.length;
    }
    if (idle) this.flush();
  }

  private gather = new Uint8Array(0);

  /** Writes what the socket takes; small parts go out gathered, so a frame of many
   *  small payloads costs a few writes, not one per payload. */
  private flush(): void {
    while (this.queue.length > 0 && !this.closed) {
      let out = this.queue[0]!;
      let count = 0;
      let n = 0;
      for (; count < this.queue.length; count++) {
        const part = this.queue[count]!;
        if (part.length >= gatherPartBytesMax || n + part.length > gatherBytes) break;
        n += part.length;
      }
      if (count > 1) {
        if (this.gather.length === 0) this.gather = new Uint8Array(gatherBytes);
        for (let i = 0, at = 0; i < count; i++) (this.gather.set(this.queue[i]!, at), (at += this.queue[i]!.length));
        out = this.gather.subarray(0, n);
      }
      const written = this.socket.write(out);
      if (written < 0) {
        this.close("socket write failed");
        return;
      }
      this.bytesSent += written;
      this.queuedBytes -= written;
      // Consume what was written from the queue (the gathered copy is scratch).
      let left = written;
      while (left > 0) {
        const head = this.queue[0]!;
        if (head.length <= left) {
          left -= head.length;
          this.queue.shift();
        } else {
          this.queue[0] = head.subarray(left);
          left = 0;
        }
      }
      if (written < out.length) break; // the rest goes out on drain
    }
    if (this.queuedBytes < sendQueueLowBytes && this.waiters.length > 0) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w.resolve();
    }
  }
}

function handlers(onOpen: (socket: Socket<SocketData>) => void, options: ConnectionOptions) {
  return {
    open(socket: Socket<SocketData>) {
      onOpen(socket);
    },
    data(socket: Socket<SocketData>, data: Uint8Array) {
      socket.data.conn?.handleData(data);
    },
    drain(socket: Socket<SocketData>) {
      socket.data.conn?.handleDrain();
    },
    close(socket: Socket<SocketData>, error?: Error) {
      socket.data.conn?.close(error ? `socket error: ${error.message}` : "peer closed the connection");
    },
    error(socket: Socket<SocketData>, error: Error) {
      socket.data.conn?.close(`socket error: ${error.message}`);
    },
    end(socket: Socket<SocketData>) {
      socket.data.conn?.close("peer ended the connection");
    },
    connectError(_socket: Socket<SocketData>, error: Error) {
      options.log?.(`${options.label ?? "conn"} connect failed: ${error.message}`);
    },
  };
}

/** Opens a connection; rejects with TandemError("unavailable") when nobody listens. */
export async function connectTcp(hostname: string, port: number, options: ConnectionOptions = {}): Promise<Connection> {
  let conn: Connection | undefined;
  try {
    const socket = await Bun.connect<SocketData>({
      hostname,
      port,
      data: {},
      socket: handlers((s) => {
        conn = new Connection(s, options);
      }, options),
    });
    return conn ?? new Connection(socket, options);
  } catch (err) {
    throw new TandemError("unavailable", `cannot connect to ${hostname}:${port}: ${(err as Error).message}`);
  }
}

export interface TcpListener {
  readonly hostname: string;
  readonly port: number;
  stop(): void;
}

/** Listens on hostname:port (0 = any free port) and hands each new connection over. */
export function listenTcp(
  hostname: string,
  port: number,
  onConnection: (conn: Connection) => void,
  options: ConnectionOptions = {},
): TcpListener {
  let listener: TCPSocketListener<SocketData>;
  try {
    listener = Bun.listen<SocketData>({
      hostname,
      port,
      data: {},
      socket: handlers((s) => {
        s.data = {};
        const conn = new Connection(s, options);
        onConnection(conn);
      }, options),
    });
  } catch (err) {
    // The system code (EADDRINUSE, EADDRNOTAVAIL...) is what tells the operator why.
    throw new TandemError("unavailable", `cannot listen on ${hostname}:${port}: ${(err as Error).message}`, { errno: (err as { code?: unknown }).code });
  }
  return {
    hostname,
    port: listener.port,
    stop: () => listener.stop(true),
  };
}
