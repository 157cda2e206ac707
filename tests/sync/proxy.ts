// A small TCP fault proxy for sync tests: forwards every connection accepted on
// listenHost:port to target:port, and on command cuts every open connection,
// blackholes traffic (bytes are read and dropped, connections stay open: a silent
// peer, found only by heartbeat timeouts), or shapes one direction: holds its bytes
// (a one-way stall, kept and delivered later, not lost), lets only `allowanceBytes`
// more through before holding (a frame delivered half, then a stall), or dribbles them
// in slices of `sliceBytes` every `sliceDelayMs`. "up" is from the dialing side to
// the target, "down" the way back. Loopback only.
import type { Socket, TCPSocketListener } from "bun";

export type Direction = "up" | "down";
export interface Shape {
  hold: boolean;
  allowanceBytes: number;
  sliceBytes: number;
  sliceDelayMs: number;
}
const unshaped: Shape = { hold: false, allowanceBytes: Infinity, sliceBytes: Infinity, sliceDelayMs: 0 };

interface Side {
  peer: Socket<Side> | null;
  pending: Uint8Array[];
  /** Direction of the bytes this socket receives. */
  dir: Direction;
  /** Received, not yet forwarded (shaping). */
  held: Uint8Array[];
  timer: Timer | null;
}

export interface FaultProxy {
  readonly port: number;
  cutAll(): number;
  blackhole(on: boolean): void;
  /** Changes the shaping of one or both directions (fields not given stay). */
  shape(dir: Direction | "both", s: Partial<Shape>): void;
  /** Back to plain forwarding, delivering what was held. */
  unshape(): void;
  stop(): void;
  bytes: number;
  /** Proxied connections open (each counts once). */
  readonly connections: number;
}

export function startProxy(listenHost: string, port: number, targetHost: string, targetPort: number): FaultProxy {
  const open = new Set<Socket<Side>>();
  let dropping = false;
  const shapes: Record<Direction, Shape> = { up: { ...unshaped }, down: { ...unshaped } };
  const state = { bytes: 0 };
  const side = (dir: Direction, peer: Socket<Side> | null): Side => ({ peer, pending: [], dir, held: [], timer: null });
  const forward = (from: Socket<Side>, data: Uint8Array) => {
    if (dropping) return;
    state.bytes += data.length;
    from.data.held.push(new Uint8Array(data));
    pump(from);
  };
  const pump = (from: Socket<Side>) => {
    const d = from.data;
    if (d.timer) return;
    const sh = shapes[d.dir];
    while (d.held.length > 0 && !sh.hold && sh.allowanceBytes > 0) {
      const head = d.held[0]!;
      const n = Math.min(head.length, sh.sliceBytes, sh.allowanceBytes);
      deliver(from, n === head.length ? head : head.subarray(0, n));
      if (n === head.length) d.held.shift();
      else d.held[0] = head.subarray(n);
      sh.allowanceBytes -= n;
      if (sh.sliceDelayMs > 0 && d.held.length > 0) {
        d.timer = setTimeout(() => {
          d.timer = null;
          if (open.has(from)) pump(from);
        }, sh.sliceDelayMs);
        return;
      }
    }
  };
  const deliver = (from: Socket<Side>, data: Uint8Array) => {
    const to = from.data.peer;
    if (!to) from.data.pending.push(data);
    else writeAll(to, data);
  };
  const writeAll = (to: Socket<Side>, data: Uint8Array) => {
    if (to.data.pending.length > 0) return void to.data.pending.push(data);
    const n = to.write(data);
    if (n < data.length) to.data.pending.push(data.subarray(Math.max(0, n)));
  };
  const drain = (s: Socket<Side>) => {
    while (s.data.pending.length > 0) {
      const head = s.data.pending[0]!;
      const n = s.write(head);
      if (n < head.length) {
        s.data.pending[0] = head.subarray(Math.max(0, n));
        return;
      }
      s.data.pending.shift();
    }
  };
  const close = (s: Socket<Side>) => {
    open.delete(s);
    if (s.data.timer) clearTimeout(s.data.timer);
    const p = s.data.peer;
    s.data.peer = null;
    if (p) {
      p.data.peer = null;
      p.end();
    }
  };
  const listener: TCPSocketListener<Side> = Bun.listen<Side>({
    hostname: listenHost, port,
    data: side("up", null),
    socket: {
      open(client) {
        client.data = side("up", null);
        open.add(client);
        void Bun.connect<Side>({
          hostname: targetHost, port: targetPort, data: side("down", client),
          socket: {
            open(server) {
              open.add(server);
              // Bytes the client sent before the upstream was up wait in client.pending (as "to send upstream").
              const early = client.data.pending.splice(0);
              client.data.peer = server;
              for (const d of early) writeAll(server, d);
            },
            data: (s, d) => forward(s, d),
            drain,
            close,
            error: close,
            connectError: () => void client.end(),
          },
        }).catch(() => void client.end());
      },
      data: (s, d) => forward(s, d),
      drain,
      close,
      error: close,
    },
  });
  const pumpAll = () => {
    for (const s of open) pump(s);
  };
  return {
    port: listener.port,
    cutAll() {
      const n = open.size;
      for (const s of [...open]) {
        open.delete(s);
        if (s.data.timer) clearTimeout(s.data.timer);
        s.data.peer = null;
        s.terminate();
      }
      return n;
    },
    blackhole(on: boolean) {
      dropping = on;
    },
    shape(dir, s) {
      for (const d of dir === "both" ? (["up", "down"] as const) : [dir]) Object.assign(shapes[d], s);
      pumpAll();
    },
    unshape() {
      shapes.up = { ...unshaped };
      shapes.down = { ...unshaped };
      pumpAll();
    },
    stop() {
      this.cutAll();
      listener.stop(true);
    },
    get bytes() {
      return state.bytes;
    },
    get connections() {
      let n = 0;
      for (const s of open) if (s.data.dir === "up") n++;
      return n;
    },
  };
}
