// WAN emulator: a TCP proxy that makes a loopback path look like a WAN link, for
// tests, benchmarks and the lab. Each direction of each proxied connection is shaped
// by a shared per-direction link (bandwidth in bits/s, so concurrent connections
// share it like a real link), delayed by a one-way delay, and can suffer loss-like
// stalls (a direction freezes for `stallMs`, as TCP does while it retransmits).
// `cut()` resets every current connection at once (a cable pulled, a peer gone).
//
// Importable (`startWanEm`) and runnable as a process:
//   bun tests/tools/wanem.ts --listen 127.0.5.9:0 --target 127.0.5.2:7800 \
//       [--bandwidth-bps 20000000] [--delay-ms 20] [--stall-probability 0.01 --stall-ms 200]
// It prints `wanem listening HOST:PORT` on stdout, then reads commands on stdin:
// `cut`, `bandwidth BPS`, `delay MS`, `stall PROBABILITY MS`, `stats`, `quit`.
import type { TCPSocketListener } from "bun";
import net from "node:net";

export interface WanEmOptions {
  listenHost: string;
  listenPort?: number;          // 0 (default): the OS picks
  targetHost: string;
  targetPort: number;
  bandwidthBps?: number;        // 0 or absent: unlimited
  delayMs?: number;             // one-way delay, each direction
  stallProbability?: number;    // chance per forwarded piece that the direction stalls
  stallMs?: number;
  seed?: number;                // PRNG seed for stalls (reproducible runs)
}

export interface WanEmStats {
  connectionsTotal: number;
  connectionsCurrent: number;
  bytesUp: number;              // client -> target
  bytesDown: number;            // target -> client
  stalls: number;
  cuts: number;
}

export interface WanEm {
  host: string;
  port: number;
  /** Resets every current connection (RST both ways). */
  cut(): void;
  set(options: Partial<Pick<WanEmOptions, "bandwidthBps" | "delayMs" | "stallProbability" | "stallMs">>): void;
  stats(): WanEmStats;
  stop(): Promise<void>;
}

/** Forwarded pieces are cut to this size so shaping stays smooth at low rates. */
const pieceBytesMax = 16 * 1024;
/** Bytes a direction may hold (in flight in the emulated link plus waiting to be
 *  written) before it stops reading its source: the emulated link's buffer. */
const directionQueueBytesMax = 1024 * 1024;

interface Piece {
  bytes: Uint8Array;
  deliverAtMs: number;
}

/** The shared serialization state of one direction of the emulated link. */
class Link {
  busyUntilMs = 0;
  constructor(public bandwidthBps: number) {}
  /** When a piece of `bytes` finishes serializing, starting no earlier than now. */
  schedule(bytes: number, nowMs: number): number {
    const start = Math.max(nowMs, this.busyUntilMs);
    const txMs = this.bandwidthBps > 0 ? (bytes * 8 * 1000) / this.bandwidthBps : 0;
    this.busyUntilMs = start + txMs;
    return this.busyUntilMs;
  }
}

/** What a side needs from its socket (Bun's for the client side, node:net's for the target). */
interface SideSocket {
  write(bytes: Uint8Array): number;
  pause(): void;
  resume(): void;
  shutdown(): void;
  end(): void;
  terminate(): void;
}

interface Side {
  socket: SideSocket | null;
  pending: Uint8Array[];        // written before the socket opened or while it was full
  pendingBytes: number;
  ended: boolean;               // we called end() on it
  endRequested: boolean;
  closed: boolean;              // the socket closed cleanly
  remoteEnded: boolean;         // its peer sent FIN
}

interface SideData {
  conn: Conn;
  which: "client" | "target";
}

/** One direction of one connection: from `src` to `dst`. */
class Direction {
  queue: Piece[] = [];
  queuedBytes = 0;
  timer: ReturnType<typeof setTimeout> | null = null;
  stalledUntilMs = 0;
  sourceEof = false;
  paused = false;
  constructor(readonly conn: Conn, readonly src: Side, readonly dst: Side, readonly link: Link, readonly up: boolean) {}
}

class Conn {
  client: Side = { socket: null, pending: [], pendingBytes: 0, ended: false, endRequested: false, closed: false, remoteEnded: false };
  target: Side = { socket: null, pending: [], pendingBytes: 0, ended: false, endRequested: false, closed: false, remoteEnded: false };
  up: Direction;
  down: Direction;
  closed = false;
  constructor(readonly em: WanEmImpl) {
    this.up = new Direction(this, this.client, this.target, em.upLink, true);
    this.down = new Direction(this, this.target, this.client, em.downLink, false);
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class WanEmImpl implements WanEm {
  host: string;
  port = 0;
  upLink: Link;
  downLink: Link;
  private delayMs: number;
  private stallProbability: number;
  private stallMs: number;
  private readonly random: () => number;
  private readonly conns = new Set<Conn>();
  private listener: TCPSocketListener<SideData> | null = null;
  private readonly counters: WanEmStats = { connectionsTotal: 0, connectionsCurrent: 0, bytesUp: 0, bytesDown: 0, stalls: 0, cuts: 0 };

  constructor(private readonly options: WanEmOptions) {
    this.host = options.listenHost;
    this.upLink = new Link(options.bandwidthBps ?? 0);
    this.downLink = new Link(options.bandwidthBps ?? 0);
    this.delayMs = options.delayMs ?? 0;
    this.stallProbability = options.stallProbability ?? 0;
    this.stallMs = options.stallMs ?? 0;
    this.random = mulberry32(options.seed ?? 1);
  }

  start(): void {
    const em = this;
    type Which = "client" | "target";
    const on = {
      data(conn: Conn, which: Which, bytes: Uint8Array) {
        em.onData(which === "client" ? conn.up : conn.down, bytes);
      },
      drain(conn: Conn, which: Which) {
        em.flushPending(which === "client" ? conn.client : conn.target, which === "client" ? conn.down : conn.up);
      },
      end(conn: Conn, which: Which, socket: SideSocket) {
        const dir = which === "client" ? conn.up : conn.down;
        const side = which === "client" ? conn.client : conn.target;
        side.remoteEnded = true;
        if (side.ended) socket.end();
        dir.sourceEof = true;
        em.pump(dir);
      },
      close(conn: Conn, which: Which, error: boolean) {
        if (error) return em.closeConn(conn);
        // A clean close ends what this side sends; the other direction drains first.
        const side = which === "client" ? conn.client : conn.target;
        side.closed = true;
        const dir = which === "client" ? conn.up : conn.down;
        dir.sourceEof = true;
        em.pump(dir);
        if (conn.client.closed && conn.target.closed) em.closeConn(conn);
      },
    };
    this.listener = Bun.listen<SideData>({
      hostname: this.options.listenHost,
      port: this.options.listenPort ?? 0,
      allowHalfOpen: true,
      socket: {
        data: (socket, bytes) => on.data(socket.data.conn, "client", bytes),
        drain: (socket) => on.drain(socket.data.conn, "client"),
        end: (socket) => on.end(socket.data.conn, "client", socket),
        close: (socket, error) => on.close(socket.data.conn, "client", !!error),
        error: (socket) => em.closeConn(socket.data.conn),
        open(socket) {
          socket.setNoDelay(true);
          const conn = new Conn(em);
          socket.data = { conn, which: "client" };
          conn.client.socket = socket;
          em.conns.add(conn);
          em.counters.connectionsTotal++;
          // node:net for the target side: a Bun.connect socket closes as soon as the
          // peer's FIN arrives, which would break server-first half-close.
          const target = net.connect({ host: em.options.targetHost, port: em.options.targetPort, allowHalfOpen: true });
          target.setNoDelay(true);
          const adapter: SideSocket = {
            write: (bytes) => {
              if (target.destroyed) return -1;
              if (target.writableNeedDrain) return 0;
              target.write(bytes);
              return bytes.length;
            },
            pause: () => target.pause(),
            resume: () => target.resume(),
            shutdown: () => target.end(),
            end: () => target.end(),
            terminate: () => {
              const t = target as net.Socket & { resetAndDestroy?: () => void };
              if (t.resetAndDestroy) t.resetAndDestroy();
              else t.destroy();
            },
          };
          target.on("connect", () => {
            if (conn.closed) return adapter.terminate();
            conn.target.socket = adapter;
            em.flushPending(conn.target, conn.up);
          });
          target.on("data", (bytes: Buffer) => on.data(conn, "target", bytes));
          target.on("drain", () => on.drain(conn, "target"));
          target.on("end", () => on.end(conn, "target", adapter));
          target.on("close", (hadError: boolean) => on.close(conn, "target", hadError));
          target.on("error", () => em.closeConn(conn));
        },
      },
    });
    this.port = this.listener.port;
  }

  private onData(dir: Direction, bytes: Uint8Array): void {
    if (dir.conn.closed) return;
    const now = performance.now();
    for (let offset = 0; offset < bytes.length; offset += pieceBytesMax) {
      // Bun reuses the buffer it hands to `data`, so each piece is copied.
      const piece = bytes.slice(offset, Math.min(bytes.length, offset + pieceBytesMax));
      let departMs = dir.link.schedule(piece.length, now);
      if (this.stallProbability > 0 && this.random() < this.stallProbability) {
        this.counters.stalls++;
        dir.stalledUntilMs = Math.max(dir.stalledUntilMs, departMs + this.stallMs);
      }
      departMs = Math.max(departMs, dir.stalledUntilMs);
      dir.queue.push({ bytes: piece, deliverAtMs: departMs + this.delayMs });
      dir.queuedBytes += piece.length;
      if (dir.up) this.counters.bytesUp += piece.length;
      else this.counters.bytesDown += piece.length;
    }
    if (dir.queuedBytes + dir.dst.pendingBytes > directionQueueBytesMax && !dir.paused) {
      dir.paused = true;
      dir.src.socket?.pause();
    }
    this.pump(dir);
  }

  /** Delivers every piece whose time has come; re-arms one timer for the next. */
  pump(dir: Direction): void {
    if (dir.conn.closed) return;
    const now = performance.now();
    while (dir.queue.length > 0 && dir.queue[0]!.deliverAtMs <= now + 0.5) {
      const piece = dir.queue.shift()!;
      dir.queuedBytes -= piece.bytes.length;
      dir.dst.pending.push(piece.bytes);
      dir.dst.pendingBytes += piece.bytes.length;
    }
    if (dir.queue.length === 0 && dir.sourceEof) dir.dst.endRequested = true;
    this.flushPending(dir.dst, dir);
    if (dir.timer === null && dir.queue.length > 0) {
      const waitMs = Math.max(0, dir.queue[0]!.deliverAtMs - now);
      dir.timer = setTimeout(() => {
        dir.timer = null;
        this.pump(dir);
      }, waitMs);
    }
    if (dir.paused && dir.queuedBytes + dir.dst.pendingBytes <= directionQueueBytesMax / 2) {
      dir.paused = false;
      dir.src.socket?.resume();
    }
  }

  /** Writes what `side` has pending, honouring partial writes. */
  flushPending(side: Side, dir: Direction): void {
    const socket = side.socket;
    if (!socket || side.closed || dir.conn.closed) return;
    while (side.pending.length > 0) {
      const head = side.pending[0]!;
      const written = socket.write(head);
      if (written < 0) return;
      side.pendingBytes -= written;
      if (written < head.length) {
        side.pending[0] = head.subarray(written);
        return;
      }
      side.pending.shift();
    }
    if (side.endRequested && !side.ended) {
      side.ended = true;
      // shutdown() half-closes; Bun's end() would close both directions.
      if (side.remoteEnded) socket.end();
      else socket.shutdown();
    }
    if (dir.paused && dir.queuedBytes + side.pendingBytes <= directionQueueBytesMax / 2) {
      dir.paused = false;
      dir.src.socket?.resume();
    }
  }

  closeConn(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    for (const dir of [conn.up, conn.down]) if (dir.timer) clearTimeout(dir.timer);
    // A close on one side is a reset for the other: pending bytes are lost.
    conn.client.socket?.terminate();
    conn.target.socket?.terminate();
  }

  cut(): void {
    this.counters.cuts++;
    for (const conn of [...this.conns]) this.closeConn(conn);
  }

  set(options: Partial<Pick<WanEmOptions, "bandwidthBps" | "delayMs" | "stallProbability" | "stallMs">>): void {
    if (options.bandwidthBps !== undefined) {
      this.upLink.bandwidthBps = options.bandwidthBps;
      this.downLink.bandwidthBps = options.bandwidthBps;
    }
    if (options.delayMs !== undefined) this.delayMs = options.delayMs;
    if (options.stallProbability !== undefined) this.stallProbability = options.stallProbability;
    if (options.stallMs !== undefined) this.stallMs = options.stallMs;
  }

  stats(): WanEmStats {
    return { ...this.counters, connectionsCurrent: this.conns.size };
  }

  async stop(): Promise<void> {
    this.cut();
    this.listener?.stop(true);
  }
}

export async function startWanEm(options: WanEmOptions): Promise<WanEm> {
  const em = new WanEmImpl(options);
  em.start();
  return em;
}

function parseHostPort(text: string | undefined, what: string): [string, number] {
  const m = /^([\d.]+):(\d+)$/.exec(text ?? "");
  if (!m) throw new Error(`${what} must be A.B.C.D:PORT`);
  return [m[1]!, Number(m[2])];
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const [listenHost, listenPort] = parseHostPort(arg("--listen"), "--listen");
  const [targetHost, targetPort] = parseHostPort(arg("--target"), "--target");
  const em = await startWanEm({
    listenHost, listenPort, targetHost, targetPort,
    bandwidthBps: Number(arg("--bandwidth-bps") ?? 0),
    delayMs: Number(arg("--delay-ms") ?? 0),
    stallProbability: Number(arg("--stall-probability") ?? 0),
    stallMs: Number(arg("--stall-ms") ?? 0),
    seed: Number(arg("--seed") ?? 1),
  });
  console.log(`wanem listening ${em.host}:${em.port}`);
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of Bun.stdin.stream()) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const [cmd, a, b] = buffered.slice(0, nl).trim().split(/\s+/);
      buffered = buffered.slice(nl + 1);
      if (cmd === "cut") em.cut();
      else if (cmd === "bandwidth") em.set({ bandwidthBps: Number(a) });
      else if (cmd === "delay") em.set({ delayMs: Number(a) });
      else if (cmd === "stall") em.set({ stallProbability: Number(a), stallMs: Number(b) });
      else if (cmd === "quit") {
        await em.stop();
        process.exit(0);
      }
      if (cmd) console.log(JSON.stringify({ ok: cmd, stats: em.stats() }));
    }
  }
  await em.stop();
  process.exit(0);
}

if (import.meta.main) await main(process.argv.slice(2));
