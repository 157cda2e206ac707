// Validation of configuration values, in ONE place: the value parsers used by the
// command table (so a bad word is refused with a precise reason wherever it is typed:
// console, web UI, config file) and the whole-configuration checks that no single
// command can make (two listeners on one address and port, a backup port without a
// backup address). Every bound is named here.
import { TandemError } from "../errors.ts";
import type { ApplianceConfig } from "./types.ts";

export const hostnameCharsMax = 63;
export const secretCharsMin = 8;
export const secretCharsMax = 128;
export const capacityMbMin = 1;
export const capacityMbMax = 1024 * 1024;        // 1 TiB
export const reconnectSMin = 1;
export const reconnectSMax = 3600;
export const checkIntervalSMin = 1;
export const checkIntervalSMax = 86400;
export const inPathRulesMax = 256;

function bad(message: string): never {
  throw new TandemError("badInput", message);
}

/** Dotted-quad IPv4 address, each octet 0..255 in plain decimal (no leading zeros). */
export function parseIpv4(text: string, what = "address"): string {
  const parts = text.split(".");
  const ok = parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
  if (!ok) bad(`Invalid ${what} '${text}': expected an IPv4 address A.B.C.D (each 0-255)`);
  return text;
}

/** An address a peer or server can be reached at (not 0.0.0.0, broadcast or multicast). */
export function parseUnicastIpv4(text: string, what = "address"): string {
  parseIpv4(text, what);
  const first = Number(text.split(".")[0]);
  if (text === "0.0.0.0" || text === "255.255.255.255" || (first >= 224 && first <= 239)) {
    bad(`Invalid ${what} '${text}': must be a unicast address`);
  }
  return text;
}

/** An address to listen on: a local unicast address, or 0.0.0.0 for every address
 *  (a socket cannot listen on a broadcast or multicast address). */
export function parseInterfaceIpv4(text: string, what = "address"): string {
  parseIpv4(text, what);
  const first = Number(text.split(".")[0]);
  if (text === "255.255.255.255" || first >= 224) bad(`Invalid ${what} '${text}': must be a unicast address or 0.0.0.0`);
  return text;
}

export function parseIntRange(text: string, min: number, max: number, what: string): number {
  if (!/^[0-9]+$/.test(text) || text.length > 12) bad(`Invalid ${what} '${text}': must be an integer from ${min} to ${max}`);
  const n = Number(text);
  if (n < min || n > max) bad(`Invalid ${what} '${text}': must be an integer from ${min} to ${max}`);
  return n;
}

export function parsePort(text: string, what = "port"): number {
  return parseIntRange(text, 1, 65535, what);
}

/** Host name: one RFC 1123 label (letters, digits, hyphens; not starting or ending with a hyphen). */
export function parseHostname(text: string): string {
  if (text.length > hostnameCharsMax || !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(text)) {
    bad(`Invalid hostname '${text}': use 1-${hostnameCharsMax} letters, digits and hyphens, not starting or ending with a hyphen`);
  }
  return text;
}

/** Pairing secret: printable ASCII without spaces, not starting with `#` (a comment). */
export function parseSecret(text: string): string {
  if (text.length < secretCharsMin || text.length > secretCharsMax) {
    bad(`Invalid secret: must be ${secretCharsMin} to ${secretCharsMax} characters long (got ${text.length})`);
  }
  if (!/^[\x21-\x7e]+$/.test(text)) bad("Invalid secret: use printable ASCII characters without spaces");
  if (text.startsWith("#")) bad("Invalid secret: must not start with '#'");
  return text;
}

interface Bind { owner: string; addr: string; port: number }

/** The listeners a configuration asks for (used for conflict checks). */
export function binds(config: ApplianceConfig): Bind[] {
  const out: Bind[] = [
    { owner: "web port", addr: config.interfaces.primary, port: config.webPort },
    { owner: "service port", addr: config.interfaces.inpath, port: config.servicePort },
  ];
  if (config.datastore.sync.enabled) {
    out.push({ owner: "datastore sync port", addr: config.interfaces.aux ?? config.interfaces.primary, port: config.datastore.sync.port });
  }
  for (const r of config.inPathRules) {
    out.push({ owner: `in-path rule listen-port ${r.listenPort}`, addr: config.interfaces.inpath, port: r.listenPort });
  }
  return out;
}

function overlaps(a: string, b: string): boolean {
  return a === b || a === "0.0.0.0" || b === "0.0.0.0";
}

export interface ConfigProblem { message: string; owners: string[] }

/** Whole-configuration checks. Returns the problems (empty when valid). */
export function checkConfig(config: ApplianceConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const all = binds(config);
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!, b = all[j]!;
      if (a.port === b.port && overlaps(a.addr, b.addr)) {
        problems.push({
          message: `Port conflict: ${b.owner} and ${a.owner} both listen on ${b.addr}:${b.port}`,
          owners: [a.owner, b.owner],
        });
      }
    }
  }
  for (const r of config.inPathRules) {
    if (r.backupPort !== null && r.backupAddr === null) {
      problems.push({ message: `in-path rule listen-port ${r.listenPort}: backup-port needs backup-addr`, owners: [`in-path rule listen-port ${r.listenPort}`] });
    }
  }
  return problems;
}
