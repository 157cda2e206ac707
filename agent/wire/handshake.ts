// The opening of every connection between appliances: magic bytes and protocol version,
// HELLO both ways, and (when a pairing secret is configured) an HMAC-SHA256
// challenge-response over both nonces. An unauthenticated client gets nothing but a
// refusal: the server reveals its HELLO only after the client proved the secret.
//
//   server → client  challenge {magic, proto, nonce_s}
//   client → server  hello {magic, proto, hello_c, proof_c = HMAC(secret, "c"|svc|nonce_c|nonce_s)}
//   server → client  hello {hello_s, proof_s = HMAC(secret, "s"|svc|nonce_s|nonce_c)}  | refuse {reason}
//   client → server  ok                                                             | refuse {reason}
//
// API:
//   clientHandshake(conn, localHello, {secret, check, timeoutMs}) -> Promise<PeerHello>
//   serverHandshake(conn, localHello, {secret, check, timeoutMs}) -> Promise<PeerHello>
// `check(peerHello)` returns null to accept or a reason to refuse (model, version, roles).
// A refusal, by either side, throws TandemError("refused", reason) on BOTH sides (the
// side that refused gets its own reason; the other gets it from the wire); the
// connection is then closed. Every message goes through an explicit codec below.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { TandemError } from "../errors.ts";
import type { Connection } from "./connection.ts";

export const wireMagic = "TNDM";
/** 2: segment-carrying sync messages travel in the bulk frame form (agent/wire/framing.ts). */
export const protocolVersion = 2;
export const nonceBytes = 16;
/** Bound on each handshake step. */
export const handshakeTimeoutMs = 5000;
/** Longest refusal reason carried on the wire. */
export const reasonCharsMax = 300;
const textCharsMax = 200;

export type ServiceName = "sync" | "channel";
export type PeerRole = "master" | "backup" | null;

export interface Hello {
  service: ServiceName;
  model: string;
  softwareVersion: string;
  storeId: string;
  generation: string;
  role: PeerRole;
  hostname: string;
  nonce: Uint8Array;
}
export type PeerHello = Hello;
/** What the caller provides; the nonce is generated here. */
export type LocalHello = Omit<Hello, "nonce">;

export interface HandshakeOptions {
  secret: string | null;
  check?: (peer: PeerHello) => string | null;
  timeoutMs?: number;
}

// ---- codecs ----

function fail(what: string): never {
  throw new TandemError("badFrame", `handshake: ${what}`);
}
function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(`${what} is not a map`);
  return v as Record<string, unknown>;
}
function text(v: unknown, what: string, max = textCharsMax): string {
  if (typeof v !== "string" || v.length > max) fail(`${what} is not a string of at most ${max} characters`);
  return v;
}
function bytes(v: unknown, what: string, length: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== length) fail(`${what} is not ${length} bytes`);
  return new Uint8Array(v);
}
function checkMagic(m: Record<string, unknown>): void {
  if (m.magic !== wireMagic) fail("not a Tandem peer (bad magic)");
  if (m.proto !== protocolVersion) {
    throw new TandemError("refused", `protocol version ${String(m.proto)} is not ${protocolVersion}`);
  }
}

export function helloToWire(h: Hello): Record<string, unknown> {
  return {
    service: h.service, model: h.model, softwareVersion: h.softwareVersion, storeId: h.storeId,
    generation: h.generation, role: h.role, hostname: h.hostname, nonce: h.nonce,
  };
}

export function helloFromWire(v: unknown): Hello {
  const m = obj(v, "hello");
  const service = m.service;
  if (service !== "sync" && service !== "channel") fail("hello.service is not sync|channel");
  const role = m.role ?? null;
  if (role !== null && role !== "master" && role !== "backup") fail("hello.role is not master|backup|null");
  return {
    service,
    model: text(m.model, "hello.model"),
    softwareVersion: text(m.softwareVersion, "hello.softwareVersion"),
    storeId: text(m.storeId, "hello.storeId"),
    generation: text(m.generation, "hello.generation"),
    role,
    hostname: text(m.hostname, "hello.hostname"),
    nonce: bytes(m.nonce, "hello.nonce", nonceBytes),
  };
}

type Step =
  | { t: "challenge"; nonce: Uint8Array }
  | { t: "hello"; hello: Hello; proof: Uint8Array | null }
  | { t: "refuse"; reason: string }
  | { t: "ok" };

export function stepToWire(s: Step): Record<string, unknown> {
  switch (s.t) {
    case "challenge": return { t: "challenge", magic: wireMagic, proto: protocolVersion, nonce: s.nonce };
    case "hello": return { t: "hello", magic: wireMagic, proto: protocolVersion, hello: helloToWire(s.hello), proof: s.proof };
    case "refuse": return { t: "refuse", reason: s.reason.slice(0, reasonCharsMax) };
    case "ok": return { t: "ok" };
  }
}

export function stepFromWire(v: unknown): Step {
  const m = obj(v, "handshake message");
  switch (m.t) {
    case "challenge":
      checkMagic(m);
      return { t: "challenge", nonce: bytes(m.nonce, "challenge.nonce", nonceBytes) };
    case "hello":
      checkMagic(m);
      return { t: "hello", hello: helloFromWire(m.hello), proof: m.proof == null ? null : bytes(m.proof, "hello.proof", 32) };
    case "refuse":
      return { t: "refuse", reason: text(m.reason, "refuse.reason", reasonCharsMax) };
    case "ok":
      return { t: "ok" };
    default:
      fail(`unknown handshake message ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  }
}

// ---- helpers ----

function proofOf(secret: string, side: "c" | "s", service: string, first: Uint8Array, second: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", secret).update(`tandem-${side}|${service}|`).update(first).update(second).digest());
}

function proofMatches(expected: Uint8Array, got: Uint8Array | null): boolean {
  return got !== null && got.length === expected.length && timingSafeEqual(expected, got);
}

/** Reasons both services share: same model and software version, right service. */
export function compatibilityProblem(local: LocalHello, peer: PeerHello): string | null {
  if (peer.service !== local.service) return `wrong service: peer speaks ${peer.service}, this port is ${local.service}`;
  if (peer.model !== local.model) return `model mismatch: peer is ${peer.model}, this appliance is ${local.model}`;
  if (peer.softwareVersion !== local.softwareVersion) {
    return `software version mismatch: peer runs ${peer.softwareVersion}, this appliance runs ${local.softwareVersion}`;
  }
  return null;
}

async function next(conn: Connection, timeoutMs: number): Promise<Step> {
  return stepFromWire(await conn.receive(timeoutMs));
}

async function refuse(conn: Connection, reason: string): Promise<never> {
  await conn.send(stepToWire({ t: "refuse", reason })).catch(() => undefined);
  // Let the refusal reach the peer before the close.
  setTimeout(() => conn.close(`refused: ${reason}`), 50);
  throw new TandemError("refused", reason);
}

function peerRefused(conn: Connection, reason: string): never {
  conn.close(`peer refused: ${reason}`);
  throw new TandemError("refused", reason, { byPeer: true });
}

function expect<T extends Step["t"]>(conn: Connection, step: Step, t: T): Extract<Step, { t: T }> {
  if (step.t === "refuse") peerRefused(conn, step.reason);
  if (step.t !== t) {
    conn.close(`handshake: expected ${t}, got ${step.t}`);
    throw new TandemError("badFrame", `handshake: expected ${t}, got ${step.t}`);
  }
  return step as Extract<Step, { t: T }>;
}

async function guarded<T>(conn: Connection, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof TandemError && err.code === "refused")) conn.close(`handshake failed: ${(err as Error).message}`);
    throw err;
  }
}

// ---- the two sides ----

export function clientHandshake(conn: Connection, local: LocalHello, options: HandshakeOptions): Promise<PeerHello> {
  const timeoutMs = options.timeoutMs ?? handshakeTimeoutMs;
  return guarded(conn, async () => {
    const challenge = expect(conn, await next(conn, timeoutMs), "challenge");
    const nonce = new Uint8Array(randomBytes(nonceBytes));
    const proof = options.secret ? proofOf(options.secret, "c", local.service, nonce, challenge.nonce) : null;
    await conn.send(stepToWire({ t: "hello", hello: { ...local, nonce }, proof }));
    const reply = expect(conn, await next(conn, timeoutMs), "hello");
    const peer = reply.hello;
    if (options.secret) {
      const expected = proofOf(options.secret, "s", local.service, challenge.nonce, nonce);
      if (!proofMatches(expected, reply.proof)) await refuse(conn, "bad secret: the peer could not prove the pairing secret");
    } else if (reply.proof !== null) {
      await refuse(conn, "pairing secret configured on one side only");
    }
    const problem = compatibilityProblem(local, peer) ?? options.check?.(peer) ?? null;
    if (problem) await refuse(conn, problem);
    await conn.send(stepToWire({ t: "ok" }));
    return peer;
  });
}

export function serverHandshake(conn: Connection, local: LocalHello, options: HandshakeOptions): Promise<PeerHello> {
  const timeoutMs = options.timeoutMs ?? handshakeTimeoutMs;
  return guarded(conn, async () => {
    const nonce = new Uint8Array(randomBytes(nonceBytes));
    await conn.send(stepToWire({ t: "challenge", nonce }));
    const hello = expect(conn, await next(conn, timeoutMs), "hello");
    const peer = hello.hello;
    if (options.secret) {
      const expected = proofOf(options.secret, "c", local.service, peer.nonce, nonce);
      if (!proofMatches(expected, hello.proof)) await refuse(conn, "bad secret: authentication failed");
    } else if (hello.proof !== null) {
      await refuse(conn, "pairing secret configured on one side only");
    }
    const problem = compatibilityProblem(local, peer) ?? options.check?.(peer) ?? null;
    if (problem) await refuse(conn, problem);
    const proof = options.secret ? proofOf(options.secret, "s", local.service, nonce, peer.nonce) : null;
    await conn.send(stepToWire({ t: "hello", hello: { ...local, nonce }, proof }));
    expect(conn, await next(conn, timeoutMs), "ok");
    return peer;
  });
}
