// A small TCP fault proxy for sync tests: forwards every connection accepted on
// listenHost:port to target:port, and on command cuts every open connection or
// blackholes traffic (bytes are read and dropped, connections stay open: a silent
// peer, found only by heartbeat timeouts). Loopback only.
import type { Socket, TCPSocketListener } from "bun";

interface Side { peer: Socket<Side> | null; pending: Uint8Array[]; }

export interface FaultProxy {
  readonly port: number;
  cutAll(): number;
  blackhole(on: boolean): void;
  stop(): void;
  bytes: number;
}

export function startProxy(listenHost: string, port: number, targetHost: string, targetPort: number): FaultProxy {
  const open = new Set<Socket<Side>>();
  let dropping = false;
  const state = { bytes: 0 };
  const forward = (from: Socket<Side>, data: Uint8Array) => {
    if (dropping) return;
    state.bytes += data.length;
    const to = from.data.peer;
    if (!to) from.data.pending.push(new Uint8Array(data));
    else writeAll(to, new Uint8Array(data));
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
    const p = s.data.peer;
    s.data.peer = null;
    if (p) {
      p.data.peer = null;
      p.end();
    }
  };
  const listener: TCPSocketListener<Side> = Bun.listen<Side>({
    hostname: listenHost, port,
    data: { peer: null, pending: [] },
    socket: {
      open(client) {
        client.data = { peer: null, pending: [] };
        open.add(client);
        void Bun.connect<Side>({
          hostname: targetHost, port: targetPort, data: { peer: client, pending: [] },
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
  return {
    port: listener.port,
    cutAll() {
      const n = open.size;
      for (const s of [...open]) {
        open.delete(s);
        s.data.peer = null;
        s.terminate();
      }
      return n;
    },
    blackhole(on: boolean) {
      dropping = on;
    },
    stop() {
      this.cutAll();
      listener.stop(true);
    },
    get bytes() {
      return state.bytes;
    },
  };
}
