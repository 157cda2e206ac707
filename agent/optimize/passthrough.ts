// Pass-through: a plain TCP relay between two LAN sockets, used when no appliance
// answers for a rule (the connection is carried unoptimized rather than refused).
// Each direction pauses its reader while the other socket's write backlog is above
// its mark; FIN is carried faithfully each way; a reset on either side resets both.
import type { LanSocket } from "./lan.ts";

export function relay(a: LanSocket, b: LanSocket, onEnd: (error: string | null) => void): void {
  let finished = false;
  let endsSeen = 0;
  const finish = (error: string | null) => {
    if (finished) return;
    finished = true;
    if (error) {
      a.reset();
      b.reset();
    }
    onEnd(error);
  };
  const pipe = (from: LanSocket, to: LanSocket) => {
    from.onData(
      (chunk) => {
        to.write(chunk);
        if (!to.writable) {
          from.pause();
          void to.whenWritable().then(() => from.resume());
        }
      },
      () => {
        to.end();
        if (++endsSeen === 2) finish(null);
      },
    );
    from.onClose((error) => {
      if (error) finish(`${from.remote}: ${error}`);
      else {
        to.end();
        if (a.closed && b.closed) finish(null);
      }
    });
  };
  pipe(a, b);
  pipe(b, a);
}
