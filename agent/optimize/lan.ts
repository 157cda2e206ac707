// A LAN-side TCP socket of an optimized (or passed-through) connection: the client's
// socket accepted on a rule's listen port, or the server-side appliance's socket to
// the destination. Wraps a socket opened with allowHalfOpen so a FIN from one side is
// carried faithfully (the other direction keeps flowing): accepted sockets are Bun's
// (`Bun.listen`), outgoing ones node:net's, because Bun.connect closes a client socket
// as soon as the peer's FIN arrives whatever allowHalfOpen says. It honours partial
// writes (the rest goes out on `drain`), and lets the producer wait for the write
// backlog to fall (`whenWritable`) and pause/resume reading for backpressure.
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import net from "node:net";
import { TandemError } from "../errors.ts";

/** Write backlog (bytes accepted by us, not yet by the kernel) above which producers wait. */
export const lanWriteHighBytes = 1024 * 1024;
/** Backlog below which waiting producers resume. */
export const lanWriteLowBytes = 256 * 1024;
/** Runs of small pieces (a decoded frame's segments, ~8 KiB each) are copied into one
 *  reused staging buffer of this size and written at once: on loopback, 64 MiB written
 *  in 8 KiB pieces cost 2.5x the CPU of 256 KiB writes (syscalls, and wake-ups of the
 *  reader), more than the extra copy. */
export const lanWriteJoinBytes = 256 * 1024;
/** Bound on establishing a LAN connection to a destination. */
export const lanConnectTimeoutMs = 5000;

export interface LanSocketData {
  lan?: LanSocket;
}

/** The operations LanSocket needs from a socket (Bun's or node:net's). */
export interface LanTransport {
  remote: string;
  /** Bytes accepted now (the rest must wait for drain); negative when closed. */
  write(bytes: Uint8Array): number;
  /** Whether write() copies what it accepts and keeps no reference (the caller may then
   *  reuse the buffer at once). */
  unbuffered: boolean;
  /** Bytes write() accepted that the transport still holds (not yet in the kernel). */
  bufferedBytes(): number;
  /** Half-close: FIN, keep reading. */
  shutdown(): void;
  /** Release the socket once both directions are done. */
  end(): void;
  /** Abort with RST. */
  terminate(): void;
  pause(): void;
  resume(): void;
}

function bunTransport(socket: Socket<LanSocketData>): LanTransport {
  socket.setNoDelay(true);
  return {
    remote: `${socket.remoteAddress}:${(socket as unknown as { remotePort?: number }).remotePort ?? "?"}`,
    write: (bytes) => socket.write(bytes),
    // Bun's socket.write is unbuffered: it sends what the kernel takes and returns the count.
    unbuffered: true,
    bufferedBytes: () => 0,
    // shutdown(), not end(): Bun's end() closes both directions, and the peer may still send.
    shutdown: () => socket.shutdown(),
    end: () => socket.end(),
    terminate: () => socket.terminate(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}

function nodeTransport(socket: net.Socket, lan: () => LanSocket | undefined): LanTransport {
  socket.setNoDelay(true);
  socket.on("data", (chunk: Buffer) => lan()?.handleData(chunk, false));
  socket.on("end", () => lan()?.handleEnd());
  socket.on("drain", () => lan()?.handleDrain());
  socket.on("error", (err) => lan()?.handleClose(err.message));
  socket.on("close", (hadError) => lan()?.handleClose(hadError ? "socket error" : null));
  return {
    remote: `${socket.remoteAddress}:${socket.remotePort}`,
    write: (bytes) => {
      if (socket.destroyed) return -1;
      // node buffers everything; it says `drain` only after a write() returned false.
      if (socket.writableNeedDrain) return 0;
      socket.write(bytes);
      return bytes.length;
    },
    unbuffered: false,
    bufferedBytes: () => socket.writableLength,
    shutdown: () => socket.end(),
    end: () => socket.end(),
    terminate: () => {
      const s = socket as net.Socket & { resetAndDestroy?: () => void };
      if (s.resetAndDestroy) s.resetAndDestroy();
      else s.destroy();
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}

export class LanSocket {
  bytesIn = 0;
  bytesOut = 0;
  readonly remote: string;
  private backlog: Uint8Array[] = [];
  /** Reused by writeAll() for unbuffered transports; allocated on first use. */
  private staging: Uint8Array | undefined;
  private backlogBytes = 0;
  private waiters: (() => void)[] = [];
  private endRequested = false;
  private ended = false;
  private remoteEnded = false;
  private closedFlag = false;
  private paused = false;
  /** Chunks that arrived before a data handler was set (bounded by pausing). */
  private early: Uint8Array[] = [];
  private earlyEof = false;
  private dataHandler: ((chunk: Uint8Array) => void) | null = null;
  private endHandler: (() => void) | null = null;
  private closeHandlers: ((error: string | null) => void)[] = [];
  private closeError: string | null = null;

  constructor(private readonly socket: LanTransport) {
    this.remote = socket.remote;
  }

  static fromBun(socket: Socket<LanSocketData>): LanSocket {
    const lan = new LanSocket(bunTransport(socket));
    socket.data = { lan };
    return lan;
  }

  static fromNode(socket: net.Socket): LanSocket {
    let lan: LanSocket | undefined;
    lan = new LanSocket(nodeTransport(socket, () => lan));
    return lan;
  }

  get closed(): boolean {
    return this.closedFlag;
  }
  get writeBacklogBytes(): number {
    return this.backlogBytes;
  }
  get writable(): boolean {
    return this.backlogBytes < lanWriteHighBytes;
  }
  /** Bytes written here that have not reached the kernel yet (a reset would lose them). */
  get unsentBytes(): number {
    return this.closedFlag ? 0 : this.backlogBytes + this.socket.bufferedBytes();
  }

  /** Sets the reader; chunks (copied, safe to keep) and EOF that came earlier are delivered now. */
  onData(handler: (chunk: Uint8Array) => void, onEnd: () => void): void {
    this.dataHandler = handler;
    this.endHandler = onEnd;
    const early = this.early;
    this.early = [];
    // Reading was paused while nobody listened; the handler pauses again if it must.
    this.resume();
    for (const chunk of early) handler(chunk);
    if (this.earlyEof) onEnd();
  }

  onClose(handler: (error: string | null) => void): void {
    if (this.closedFlag) handler(this.closeError);
    else this.closeHandlers.push(handler);
  }

  pause(): void {
    if (this.paused || this.closedFlag) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused || this.closedFlag) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Queues bytes (kept by reference: the caller must not reuse the buffer). */
  write(bytes: Uint8Array): void {
    if (this.closedFlag || this.endRequested || bytes.length === 0) return;
    this.bytesOut += bytes.length;
    this.backlog.push(bytes);
    this.backlogBytes += bytes.length;
    if (this.backlog.length === 1) this.flush();
  }

  /** Queues `pieces` in order, like write() each; runs of small pieces are joined into
   *  one socket write when the transport allows it (the pieces are not kept then). */
  writeAll(pieces: Uint8Array[]): void {
    if (!this.socket.unbuffered) {
      for (const piece of pieces) this.write(piece);
      return;
    }
    let i = 0;
    while (i < pieces.length && this.backlog.length === 0 && !this.closedFlag && !this.endRequested) {
      if (pieces[i]!.length >= lanWriteJoinBytes || i + 1 === pieces.length) {
        this.write(pieces[i++]!);
        continue;
      }
      const staging = (this.staging ??= new Uint8Array(lanWriteJoinBytes));
      let bytes = 0;
      while (i < pieces.length && bytes + pieces[i]!.length <= lanWriteJoinBytes) {
        staging.set(pieces[i]!, bytes);
        bytes += pieces[i++]!.length;
      }
      this.bytesOut += bytes;
      const written = this.socket.write(staging.subarray(0, bytes));
      if (written < 0) {
        this.reset();
        return;
      }
      // The staging buffer is reused: what the kernel did not take waits as a copy.
      if (written < bytes) {
        const rest = staging.slice(written, bytes);
        this.backlog.push(rest);
        this.backlogBytes += rest.length;
      }
    }
    // Backpressure (or a closed socket): the rest waits in the backlog, by reference.
    for (; i < pieces.length; i++) this.write(pieces[i]!);
  }

  /** Resolves when the backlog is below the low mark (or the socket closed). */
  whenWritable(): Promise<void> {
    if (this.backlogBytes < lanWriteHighBytes || this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Half-closes (FIN) once the backlog is written. */
  end(): void {
    if (this.endRequested || this.closedFlag) return;
    this.endRequested = true;
    this.flush();
  }

  /** Aborts the connection (RST): for a peer that died or a protocol failure. */
  reset(): void {
    if (this.closedFlag) return;
    this.socket.terminate();
    this.handleClose("reset");
  }

  /** @internal socket callbacks */
  handleData(chunk: Uint8Array, reused = true): void {
    // Bun may reuse its receive buffer: keep a copy.
    const copy = reused ? chunk.slice() : chunk;
    this.bytesIn += copy.length;
    if (this.dataHandler) this.dataHandler(copy);
    else {
      this.early.push(copy);
      this.pause();
    }
  }

  handleEnd(): void {
    this.remoteEnded = true;
    // Both directions done: release the socket (with allowHalfOpen nothing does it for us).
    if (this.ended) this.socket.end();
    if (this.endHandler) this.endHandler();
    else this.earlyEof = true;
  }

  handleDrain(): void {
    this.flush();
  }

  handleClose(error: string | null): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeError = error;
    this.backlog = [];
    this.backlogBytes = 0;
    for (const w of this.waiters.splice(0)) w();
    for (const h of this.closeHandlers.splice(0)) h(error);
  }

  private flush(): void {
    while (this.backlog.length > 0 && !this.closedFlag) {
      const head = this.backlog[0]!;
      const written = this.socket.write(head);
      if (written < 0) {
        this.reset();
        return;
      }
      this.backlogBytes -= written;
      if (written < head.length) {
        this.backlog[0] = head.subarray(written);
        break;
      }
      this.backlog.shift();
    }
    if (this.backlogBytes < lanWriteLowBytes && this.waiters.length > 0) for (const w of this.waiters.splice(0)) w();
    if (this.endRequested && !this.ended && this.backlog.length === 0 && !this.closedFlag) {
      this.ended = true;
      if (this.remoteEnded) this.socket.end();
      else this.socket.shutdown();
    }
  }
}

/** Socket handlers that route Bun's callbacks to the LanSocket in `socket.data`. */
export function lanHandlers(onOpen?: (socket: Socket<LanSocketData>) => void): SocketHandler<LanSocketData> {
  return {
    open(socket) {
      onOpen?.(socket);
    },
    data(socket, chunk) {
      socket.data.lan?.handleData(chunk);
    },
    drain(socket) {
      socket.data.lan?.handleDrain();
    },
    end(socket) {
      socket.data.lan?.handleEnd();
    },
    close(socket, error) {
      socket.data.lan?.handleClose(error ? error.message : null);
    },
    error(socket, error) {
      socket.data.lan?.handleClose(error.message);
    },
  };
}

/** Listens for LAN connections; each accepted socket becomes a LanSocket. */
export function listenLan(hostname: string, port: number, onAccept: (lan: LanSocket) => void): TCPSocketListener<LanSocketData> {
  try {
    return Bun.listen<LanSocketData>({
      hostname, port, allowHalfOpen: true, data: {},
      socket: lanHandlers((socket) => onAccept(LanSocket.fromBun(socket))),
    });
  } catch (err) {
    throw new TandemError("unavailable", `cannot listen on ${hostname}:${port}: ${(err as Error).message}`, { errno: (err as { code?: unknown }).code });
  }
}

/** Connects to a LAN destination within `timeoutMs`; rejects with TandemError("unavailable"/"timeout"). */
export function connectLan(hostname: string, port: number, timeoutMs = lanConnectTimeoutMs): Promise<LanSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TandemError("timeout", `no answer from ${hostname}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new TandemError("unavailable", `cannot connect to ${hostname}:${port}: ${err.message}`));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve(LanSocket.fromNode(socket));
    });
  });
}
