// Renders a configuration back to configuration-mode commands (`show running-config`,
// `write memory`). Replaying the output through agent/config reproduces the same
// configuration exactly; every setting is written, so a saved file does not depend
// on the defaults of the software version that reads it.
import { defaultConfig, type ApplianceConfig, type InPathRule } from "./types.ts";

export function renderRule(r: InPathRule): string {
  let line = `in-path rule fixed-target listen-port ${r.listenPort} dstaddr ${r.dstAddr} dstport ${r.dstPort} target-addr ${r.targetAddr}`;
  if (r.targetPort !== defaultConfig.servicePort) line += ` target-port ${r.targetPort}`;
  if (r.backupAddr !== null) line += ` backup-addr ${r.backupAddr}`;
  if (r.backupPort !== null) line += ` backup-port ${r.backupPort}`;
  return line;
}

/** Configuration lines whose last word is a secret. */
const secretLines = /^((?:datastore sync|service) secret) \S+$/gm;

/** Replaces every secret in configuration text with `********` (read-only views, the event log). */
export function maskSecretLines(text: string): string {
  return text.replace(secretLines, "$1 ********");
}

export interface RenderOptions {
  /** Replace the pairing secret with `********` (read-only views). */
  maskSecrets?: boolean;
  /** A `#` comment line written first (e.g. what wrote the file and when). */
  header?: string;
}

export function renderConfig(config: ApplianceConfig, options: RenderOptions = {}): string {
  const s = config.datastore.sync;
  const lines: string[] = [];
  if (options.header) lines.push(...options.header.split("\n").map((l) => `# ${l}`));
  lines.push(`hostname ${config.hostname}`);
  lines.push(`interface primary address ${config.interfaces.primary}`);
  if (config.interfaces.aux !== null) lines.push(`interface aux address ${config.interfaces.aux}`);
  lines.push(`interface inpath address ${config.interfaces.inpath}`);
  lines.push(`web port ${config.webPort}`);
  lines.push(`service port ${config.servicePort}`);
  if (config.serviceSecret) lines.push(`service secret ${options.maskSecrets ? "********" : config.serviceSecret}`);
  lines.push(`datastore capacity-mb ${config.datastore.capacityMb}`);
  lines.push(`datastore replacement-policy ${config.datastore.replacementPolicy}`);
  lines.push(`${s.master ? "" : "no "}datastore sync master`);
  if (s.peerIp !== null) lines.push(`datastore sync peer-ip ${s.peerIp}`);
  lines.push(`datastore sync port ${s.port}`);
  lines.push(`datastore sync mode ${s.mode}`);
  if (s.secret !== null) lines.push(`datastore sync secret ${options.maskSecrets ? "********" : s.secret}`);
  lines.push(`datastore sync reconnect ${s.reconnectS}`);
  lines.push(`datastore sync check-interval ${s.checkIntervalS}`);
  lines.push(`${s.enabled ? "" : "no "}datastore sync enable`);
  for (const rule of config.inPathRules) lines.push(renderRule(rule));
  return lines.join("\n") + "\n";
}
