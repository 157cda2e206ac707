// One optimized connection: the splice between a LAN socket and its inner channel,
// the same on the client-side and the server-side appliance. LAN bytes are SDR-encoded
// into ops frames (DATA); frames from the peer are decoded back onto the LAN socket.
//
// Flow control is end to end and never blocks REQ/REP: a sender keeps at most
// `windowBytes` of ops frames, standing for at most `coveredWindowBytes` of LAN data,
// unacknowledged; the receiver ACKs a frame once its output has been handed to the
// LAN socket and that socket's backlog is below its mark. So the receiver never has to
// stop reading the channel (it holds at most one window of frames), and REQ/REP
// frames, which travel outside the window, are always read and answered at once,
// whatever either store holds. LAN reading pauses while the encoder's input queue is
// above its mark, so a slow WAN or a slow LAN peer never grows memory without bound.
//
// Half-close is carried as an EOF message (FIN on one LAN side → EOF → shutdown on the
// other); the channel closes once both directions ended and every frame was decoded
// (ACKed, or the peer closed cleanly after our EOF while we hold its EOF).
// A reset by a LAN peer is carried in order, as TCP does: the bytes it sent before the
// RST are encoded and sent first, then a reset message; the other side writes the data
// that came before it to its LAN socket, then resets that socket (a server that answers
// "413" and resets reaches its client with the answer, and a client that aborts an
// upload reaches the server as a reset, never as a clean end). Both steps are bounded by
// `resetDeliveryMs`. Anything else (peer gone, bad frame, a codec failure) aborts this
// connection at once: RST on the LAN side and a reset message to the peer.
import type { Connection } from "../wire/connection.ts";
import { SdrDecoder, SdrEncoder, emptyStats, type SdrStats } from "../sdr/index.ts";
import type { SegmentStore } from "../store/types.ts";
import type { LanSocket } from "./lan.ts";
import { messageFromWire, messageToWire, repParts, reqLabelsMax, type ChannelMessage } from "./messages.ts";
import { asTandemError, TandemError } from "../errors.ts";

/** Ops bytes a sender may have unacknowledged (also bounds what a receiver queues). */
export const windowBytes = 4 * 1024 * 1024;
/** LAN bytes that unacknowledged frames may stand for: with references a small frame
 *  stands for much data, and without this bound a warm sender would drain its LAN
 *  source far ahead of a slow receiver (whose queue of frames is small but not its work). */
export const coveredWindowBytes = 32 * 1024 * 1024;
/** Encoder input queued from the LAN above which LAN reading pauses / below which it resumes. */
export const inputHighBytes = 1024 * 1024;
export const inputLowBytes = 256 * 1024;
/** Event-loop turns the LAN must stay silent before the encoder is flushed. */
export const flushIdleTicks = 2;
/** Most LAN bytes handed to the encoder in one call. */
export const encodeSliceBytes = 1024 * 1024;
/** LAN chunks at least this large go to the encoder as they are: only runs of smaller
 *  chunks are joined (copying every chunk into 1 MiB slices cost a warm sender ~10% of
 *  its CPU, more than the encoder calls it saved). */
export const encodeChunkAloneBytes = 32 * 1024;
/** LAN bytes encoded without a frame coming out before a frame is forced (of the
 *  segments decided so far; the undecided tail waits): bounds what one frame stands
 *  for, hence the receiver's memory for one frame's output. The first forced frame
 *  comes sooner (the receiver starts early), then the step doubles. */
export const forcedFlushBytes = 8 * 1024 * 1024;
export const firstForcedFlushBytes = 128 * 1024;
/** REQ messages from the peer waiting to be answered before it counts as misbehaving. */
export const reqQueueMax = 256;
/** A REQ unanswered for this long aborts the connection (the peer is stuck). */
export const reqTimeoutMs = 30_000;
/** Bound on waiting for the last ACKs to leave before closing a finished channel. */
export const closeLingerMs = 5_000;
/** Bound on carrying what came before a LAN peer's reset (sending it on one side,
 *  writing it to the LAN on the other) before the reset goes anyway: a slow window or
 *  a client that does not read never holds a reset back for long. */
export const resetDeliveryMs = 2_000;
/** Per-connection SDR windows (answers to REQs, recently learned segments). */
export const answerWindowBytes = 16 * 1024 * 1024;
export const learnedWindowBytes = 16 * 1024 * 1024;
/** Body size at which the encoder closes a frame (smaller frames stream sooner). */
export const frameBodyBytesTarget = 256 * 1024;
/** LAN bytes a frame stands for at which the encoder closes it at the next segment
 *  boundary: warm traffic (a few bytes of references per MiB) then reaches the receiver
 *  in steady 2 MiB steps instead of waiting for forced flushes, each of which cut a new
 *  tail segment (a DEF or delta, a store write and a re-sync of the chunker), and the
 *  last frame of a transfer, decoded after everything else, stands for at most this. */
export const frameCoveredBytesTarget = 2 * 1024 * 1024;

export type SessionEnd = { ok: true } | { ok: false; reason: string; peerLost: boolean };

export interface SessionOptions {
  lan: LanSocket;
  conn: Connection;
  store: SegmentStore;
  log: (message: string) => void;
  /** Called once when the connection is finished (cleanly or not). */
  onEnd: (end: SessionEnd) => void;
  /** Called when the server answers `opened` (client side). */
  onOpened?: () => void;
}

/** LAN bytes moved (all sessions of the process) between two collection hints. Long
 *  transfers allocate a buffer per chunk and segment and JSC collects them late, so RSS
 *  climbs with garbage while the live set stays a few MiB (2 GiB test: peak RSS
 *  740-880 MiB without hints, 590-700 with forced collections, 615-760 with these).
 *  The hint asks for a concurrent collection (< 1 ms on the event loop): a forced
 *  synchronous one stopped every connection of the process for 40-160 ms, once every
 *  four warm 64 MiB transfers on each side. */
export const gcHintEveryBytes = 256 * 1024 * 1024;
let bytesSinceGcHint = 0;
function countForGc(bytes: number): void {
  bytesSinceGcHint += bytes;
  if (bytesSinceGcHint < gcHintEveryBytes) return;
  bytesSinceGcHint = 0;
  Bun.gc(false);
}

/** EOF, or with `reset` the peer's reset (both follow the data the peer sent before). */
type Inbound = { eof: true; reset?: string } | { eof: false; ops: Uint8Array };

export class Session {
  readonly encoder: SdrEncoder;
  readonly decoder: SdrDecoder;
  private readonly lan: LanSocket;
  private readonly conn: Connection;
  private finished = false;

  // LAN -> WAN
  private input: Uint8Array[] = [];
  private inputBytes = 0;
  private lanEof = false;
  private eofSent = false;
  /** The LAN peer reset the connection: the input read before goes out, then a reset. */
  private lanResetReason: string | null = null;
  private inflightBytes = 0;
  /** LAN bytes the unacknowledged frames stand for, and per frame (FIFO, ACKs come in order). */
  private coveredInflightBytes = 0;
  private sentFrames: { ops: number; covered: number }[] = [];
  private uncoveredBytes = 0;
  private windowWaiters: (() => void)[] = [];
  private encodeKick: (() => void) | null = null;
  private sinceFrameBytes = 0;
  private flushStepBytes = firstForcedFlushBytes;

  // WAN -> LAN
  private inbound: Inbound[] = [];
  private inboundBytes = 0;
  private decodeKick: (() => void) | null = null;
  private remoteEofDone = false;
  private remoteEofQueued = false;
  /** The peer reset the connection (queued behind its data). */
  private peerResetQueued = false;
  private lanWriteClosed = false;

  // REQ/REP
  private reqs = new Map<number, { asked: number; segments: { label: Uint8Array; data: Uint8Array }[]; resolve: (s: { label: Uint8Array; data: Uint8Array }[]) => void; reject: (e: Error) => void; timer: Timer }>();
  private nextReqId = 1;
  private reqQueue: { id: number; labels: Uint8Array[] }[] = [];
  private answerKick: (() => void) | null = null;

  constructor(private readonly options: SessionOptions) {
    this.lan = options.lan;
    this.conn = options.conn;
    this.encoder = new SdrEncoder({ store: options.store, frameBodyBytesTarget, frameCoveredBytesTarget, answerWindowBytesMax: answerWindowBytes });
    this.decoder = new SdrDecoder({
      store: options.store, learnedWindowBytesMax: learnedWindowBytes,
      fetchMissing: (labels) => this.fetchMissing(labels),
    });
  }

  get done(): boolean {
    return this.finished;
  }

  /** Statistics of both halves (encoder: what we sent; decoder: what we received). */
  sdrStats(): { sent: SdrStats; received: SdrStats } {
    return { sent: this.encoder?.stats ?? emptyStats(), received: this.decoder?.stats ?? emptyStats() };
  }

  /** Starts both directions; `early` are messages the channel received before. */
  start(early: unknown[] = []): void {
    for (const raw of early) this.onMessage(raw);
    this.conn.onMessage((raw) => this.onMessage(raw));
    this.conn.onClose((reason) => this.onChannelClosed(reason));
    this.lan.onData(
      (chunk) => {
        this.input.push(chunk);
        this.inputBytes += chunk.length;
        countForGc(chunk.length);
        if (this.inputBytes > inputHighBytes) this.lan.pause();
        this.encodeKick?.();
      },
      () => {
        this.lanEof = true;
        this.encodeKick?.();
      },
    );
    this.lan.onClose((error) => {
      if (this.finished) return;
      if (error) {
        this.resetAfterInput(`LAN connection ${this.lan.remote} reset: ${error}`);
        return;
      }
      // A clean full close: nothing more comes from it and nothing more can go to it.
      this.lanWriteClosed = true;
      this.lanEof = true;
      this.encodeKick?.();
      this.decodeKick?.();
    });
    void this.encodeLoop().catch((err) => this.sendingFailed(`encoding failed: ${asTandemError(err).message}`));
    void this.decodeLoop().catch((err) => this.abort(`decoding failed: ${asTandemError(err).message}`, false));
    void this.answerLoop().catch((err) => this.sendingFailed(`answering a REQ failed: ${asTandemError(err).message}`));
  }

  /** Aborts this connection: reset to the peer, RST on the LAN side. */
  abort(reason: string, peerLost: boolean, tellPeer = true): void {
    if (this.finished) return;
    this.finished = true;
    if (tellPeer && !this.conn.closed) {
      void this.conn.send(messageToWire({ t: "reset", reason })).catch(() => undefined);
      const conn = this.conn;
      setTimeout(() => conn.close(`connection aborted: ${reason}`), 20);
    }
    this.lan.reset();
    this.cleanup({ ok: false, reason, peerLost });
  }

  /** After the peer's reset, sends fail as its channel closes: moot, since the decode
   *  loop (or the reset's timer) ends the session once the data before the reset is out. */
  private sendingFailed(reason: string): void {
    if (!this.peerResetQueued) this.abort(reason, false);
  }

  /** The LAN peer reset: send what it sent before (the encode loop flushes it, then
   *  calls sendReset), within resetDeliveryMs. */
  private resetAfterInput(reason: string): void {
    if (this.finished || this.lanResetReason !== null) return;
    this.lanResetReason = reason;
    // After our EOF the encode loop is done: nothing is left to send before the reset.
    if (this.eofSent) return void this.sendReset(reason);
    this.lanEof = true;
    setTimeout(() => this.abort(reason, false), resetDeliveryMs).unref?.();
    this.encodeKick?.();
  }

  /** The reset message behind the frames already queued on the channel, which must all
   *  leave before it closes (abort() closes it sooner, dropping what is queued). */
  private async sendReset(reason: string): Promise<void> {
    this.finished = true;
    void this.conn.send(messageToWire({ t: "reset", reason })).catch(() => undefined);
    this.lan.reset();
    this.cleanup({ ok: false, reason, peerLost: false });
    const deadline = Date.now() + closeLingerMs;
    while (this.conn.pendingSendBytes > 0 && !this.conn.closed && Date.now() < deadline) await Bun.sleep(5);
    this.conn.close(`connection aborted: ${reason}`);
  }

  private cleanup(end: SessionEnd): void {
    for (const w of this.windowWaiters.splice(0)) w();
    for (const r of this.reqs.values()) {
      clearTimeout(r.timer);
      r.reject(new TandemError("unavailable", "connection finished"));
    }
    this.reqs.clear();
    this.encodeKick?.();
    this.decodeKick?.();
    this.answerKick?.();
    void this.encoder.close().catch(() => undefined);
    void this.decoder.close().catch(() => undefined);
    this.options.onEnd(end);
  }

  private wait(set: (kick: () => void) => void): Promise<void> {
    return new Promise((resolve) => set(resolve));
  }

  // ---- LAN -> WAN ----

  private async encodeLoop(): Promise<void> {
    let needFlush = false;
    let idleTicks = 0;
    /** The encoder's last flush cut the tail (nothing came since). */
    let tailCut = false;
    // Nothing more goes to a peer that reset (its side of the connection is gone).
    while (!this.finished && !this.peerResetQueued) {
      if (this.input.length > 0) {
        idleTicks = 0;
        tailCut = false;
        const chunk = this.takeInput();
        const frames = await this.encoder.encode(chunk);
        this.uncoveredBytes += chunk.length;
        this.sinceFrameBytes += chunk.length;
        if (frames.length > 0) this.sinceFrameBytes = 0;
        else if (this.sinceFrameBytes >= this.flushStepBytes) {
          // A frame of what is decided; the undecided tail waits (boundaries stay put).
          frames.push(...(await this.encoder.cutFrame()));
          this.sinceFrameBytes = 0;
          this.flushStepBytes = Math.min(forcedFlushBytes, this.flushStepBytes * 2);
        }
        needFlush = true;
        await this.sendFrames(frames);
        continue;
      }
      if (needFlush && idleTicks < flushIdleTicks) {
        // Let reads already pending on the socket arrive first: a flush costs a short
        // segment and a store commit, so it is only worth it once the LAN is really idle.
        idleTicks++;
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      if (needFlush) {
        // The LAN has nothing more right now: emit everything so interactive traffic never
        // waits. Mid-stream the tail is delivered without being cut (so the timing of
        // reads never moves a segment boundary); at the end it is cut.
        needFlush = false;
        idleTicks = 0;
        this.sinceFrameBytes = 0;
        await this.sendFrames(await (this.lanEof ? this.encoder.flush() : this.encoder.deliverTail()));
        tailCut = this.lanEof;
        continue;
      }
      if (this.lanEof && !this.eofSent) {
        // The tail was delivered but not cut: cut it so both sides learn the last segment.
        if (!tailCut) await this.sendFrames(await this.encoder.flush());
        if (this.finished) return;
        if (this.lanResetReason !== null) return void (await this.sendReset(this.lanResetReason));
        this.eofSent = true;
        await this.conn.send(messageToWire({ t: "eof" }));
        this.maybeFinish();
        return;
      }
      await this.wait((k) => (this.encodeKick = k));
      this.encodeKick = null;
    }
  }

  private takeInput(): Uint8Array {
    let chunk: Uint8Array;
    if (this.input.length === 1 || this.input[0]!.length >= encodeChunkAloneBytes) {
      chunk = this.input.shift()!;
    } else {
      let n = 0;
      let bytes = 0;
      while (n < this.input.length && this.input[n]!.length < encodeChunkAloneBytes && bytes + this.input[n]!.length <= encodeSliceBytes) {
        bytes += this.input[n++]!.length;
      }
      if (n === 0) n = 1, bytes = this.input[0]!.length;
      chunk = new Uint8Array(bytes);
      let offset = 0;
      for (const part of this.input.splice(0, n)) {
        chunk.set(part, offset);
        offset += part.length;
      }
    }
    this.inputBytes -= chunk.length;
    if (this.inputBytes < inputLowBytes) this.lan.resume();
    return chunk;
  }

  private windowOpen(): boolean {
    return this.inflightBytes < windowBytes && this.coveredInflightBytes < coveredWindowBytes;
  }

  /** An ACK of `bytes` ops bytes releases the LAN bytes the acknowledged frames stood for. */
  private releaseCovered(bytes: number): void {
    let left = bytes;
    while (left > 0 && this.sentFrames.length > 0) {
      const head = this.sentFrames[0]!;
      if (head.ops > left) {
        head.ops -= left;
        return;
      }
      left -= head.ops;
      this.coveredInflightBytes -= head.covered;
      this.sentFrames.shift();
    }
  }

  /** Sends frames as the window allows; the LAN bytes encoded since the last frame are
   *  attributed to the last of them (what the receiver will write when it decodes it). */
  private async sendFrames(frames: Uint8Array[]): Promise<void> {
    for (let i = 0; i < frames.length; i++) {
      const ops = frames[i]!;
      while (!this.windowOpen() && !this.finished) await this.wait((k) => this.windowWaiters.push(k));
      if (this.finished) return;
      const covered = i === frames.length - 1 ? this.uncoveredBytes : 0;
      this.uncoveredBytes -= covered;
      this.coveredInflightBytes += covered;
      this.sentFrames.push({ ops: ops.length, covered });
      this.inflightBytes += ops.length;
      await this.conn.send(messageToWire({ t: "data", ops }));
    }
  }

  // ---- WAN -> LAN ----

  private onMessage(raw: unknown): void {
    if (this.finished) return;
    let msg: ChannelMessage;
    try {
      msg = messageFromWire(raw);
    } catch (err) {
      this.abort(asTandemError(err).message, false);
      return;
    }
    switch (msg.t) {
      case "data":
        if (this.remoteEofQueued || this.peerResetQueued) return this.abort("peer sent data after EOF or reset", false);
        this.inbound.push({ eof: false, ops: msg.ops });
        this.inboundBytes += msg.ops.length;
        // The peer may only exceed the window by the frame that crossed it.
        if (this.inboundBytes > windowBytes + msg.ops.length + windowBytes) {
          return this.abort(`peer ignored the flow-control window (${this.inboundBytes} bytes queued)`, false);
        }
        this.decodeKick?.();
        return;
      case "eof":
        if (this.remoteEofQueued || this.peerResetQueued) return this.abort("peer sent EOF twice or after a reset", false);
        this.remoteEofQueued = true;
        this.inbound.push({ eof: true });
        this.decodeKick?.();
        return;
      case "ack":
        this.inflightBytes = Math.max(0, this.inflightBytes - msg.bytes);
        this.releaseCovered(msg.bytes);
        if (this.windowOpen()) for (const w of this.windowWaiters.splice(0)) w();
        this.maybeFinish();
        return;
      case "req":
        if (this.reqQueue.length >= reqQueueMax) return this.abort(`peer queued more than reqQueueMax ${reqQueueMax} REQs`, false);
        this.reqQueue.push({ id: msg.id, labels: msg.labels });
        this.answerKick?.();
        return;
      case "rep": {
        const pending = this.reqs.get(msg.id);
        if (!pending) return this.abort(`peer answered unknown REQ ${msg.id}`, false);
        // A REP answers at most what was asked: a peer that sends more is misbehaving.
        if (pending.segments.length + msg.segments.length > pending.asked) {
          return this.abort(`peer answered REQ ${msg.id} with more segments than asked`, false);
        }
        pending.segments.push(...msg.segments);
        if (msg.last) {
          clearTimeout(pending.timer);
          this.reqs.delete(msg.id);
          pending.resolve(pending.segments);
        }
        return;
      }
      case "reset": {
        if (this.peerResetQueued) return;
        // Behind the data the peer sent before it, like TCP's RST behind its segments.
        const reason = `peer reset the connection: ${msg.reason}`;
        this.peerResetQueued = true;
        this.inbound.push({ eof: true, reset: reason });
        setTimeout(() => this.abort(reason, false, false), resetDeliveryMs).unref?.();
        this.decodeKick?.();
        return;
      }
      case "opened":
        this.options.onOpened?.();
        return;
      case "open":
        return this.abort("peer sent open on an open channel", false);
    }
  }

  private async decodeLoop(): Promise<void> {
    while (!this.finished) {
      const item = this.inbound.shift();
      if (!item) {
        await this.wait((k) => (this.decodeKick = k));
        this.decodeKick = null;
        continue;
      }
      if (item.eof && item.reset !== undefined) {
        // Everything before the reset is written; it must reach the kernel before the RST
        // (which drops what the socket still holds). Bounded by the reset's timer.
        while (this.lan.unsentBytes > 0 && !this.finished) await Bun.sleep(2);
        this.abort(item.reset, false, false);
        return;
      }
      if (item.eof) {
        this.remoteEofDone = true;
        this.lan.end();
        this.maybeFinish();
        // Not done: a reset may still follow the EOF (a client that half-closed, then aborted).
        continue;
      }
      const out = await this.decoder.decode(item.ops);
      if (this.finished) return;
      for (const piece of out) countForGc(piece.length);
      if (this.lanWriteClosed && out.some((piece) => piece.length > 0)) {
        // As TCP itself would: data for a socket its owner closed resets the sender.
        this.abort(`LAN peer ${this.lan.remote} closed while data for it was still arriving`, false);
        return;
      }
      this.lan.writeAll(out);
      await this.lan.whenWritable();
      this.inboundBytes -= item.ops.length;
      if (this.finished) return;
      // Not awaited: ACKs are tiny, and after a clean close by the peer they have no reader.
      if (!this.conn.closed) void this.conn.send(messageToWire({ t: "ack", bytes: item.ops.length })).catch(() => undefined);
    }
  }

  private fetchMissing(labels: Uint8Array[]): Promise<{ label: Uint8Array; data: Uint8Array }[]> {
    const groups: Promise<{ label: Uint8Array; data: Uint8Array }[]>[] = [];
    for (let i = 0; i < labels.length; i += reqLabelsMax) {
      const group = labels.slice(i, i + reqLabelsMax);
      const id = this.nextReqId++;
      groups.push(new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.reqs.delete(id);
          reject(new TandemError("timeout", `REQ ${id} unanswered for ${reqTimeoutMs} ms`));
        }, reqTimeoutMs);
        this.reqs.set(id, { asked: group.length, segments: [], resolve, reject, timer });
      }));
      void this.conn.send(messageToWire({ t: "req", id, labels: group })).catch(() => undefined);
    }
    return Promise.all(groups).then((parts) => parts.flat());
  }

  private async answerLoop(): Promise<void> {
    while (!this.finished) {
      const req = this.reqQueue.shift();
      if (!req) {
        await this.wait((k) => (this.answerKick = k));
        this.answerKick = null;
        continue;
      }
      for (const part of repParts(req.id, this.encoder.answer(req.labels))) {
        if (this.finished) return;
        await this.conn.send(messageToWire(part));
      }
    }
  }

  // ---- ending ----

  private maybeFinish(): void {
    if (this.finished || !this.eofSent || !this.remoteEofDone || this.inflightBytes > 0) return;
    this.finished = true;
    void this.lingerThenClose();
  }

  private async lingerThenClose(): Promise<void> {
    // Our last ACKs must reach the peer: it finishes only once everything it sent is ACKed.
    const deadline = Date.now() + closeLingerMs;
    while (this.conn.pendingSendBytes > 0 && !this.conn.closed && Date.now() < deadline) await Bun.sleep(5);
    this.conn.close("connection finished");
    this.cleanup({ ok: true });
  }

  private onChannelClosed(reason: string): void {
    if (this.finished) return;
    // The peer closes right after its reset: the decode loop finishes writing what came
    // before it (bounded by the reset's timer); a REQ can no longer be answered.
    if (this.peerResetQueued) {
      for (const r of this.reqs.values()) {
        clearTimeout(r.timer);
        r.reject(new TandemError("unavailable", `inner channel closed after a reset: ${reason}`));
      }
      this.reqs.clear();
      return;
    }
    // The peer finished first. It closes cleanly only after decoding our EOF (so all our
    // frames) and we hold its EOF (so all its frames): its last ACKs may be lost with the
    // close, so the window is not consulted.
    if (this.eofSent && this.remoteEofQueued) {
      void this.drainThenFinish();
      return;
    }
    this.abort(`inner channel lost: ${reason}`, true, false);
  }

  private async drainThenFinish(): Promise<void> {
    while (!this.remoteEofDone && !this.finished) await Bun.sleep(5);
    if (this.finished) return;
    this.finished = true;
    this.cleanup({ ok: true });
  }
}
