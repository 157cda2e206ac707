// Plain-text formatting for the serial console: 7-bit ASCII, no colour, at most 80
// columns. Each `show` command's output is built here from the control API's data.
import type { DatastoreInfo, ServiceInfo, VersionInfo } from "../control/types.ts";
import type { ApplianceEvent } from "../events.ts";
import { syncModeText, syncStateText, type CheckResult, type ConnectionInfo, type OptimizerStats, type SyncStatus } from "../services.ts";

export { syncStateText };

export const consoleColumns = 80;

/** Replaces anything outside printable 7-bit ASCII (a serial line shows nothing else). */
export function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e\n]/g, "?");
}

/** Wraps one line to the console width, continuation lines indented. */
export function wrap(line: string, indent = 2, width = consoleColumns - 1): string[] {
  const out: string[] = [];
  let rest = line;
  let first = true;
  while (rest.length > (first ? width : width - indent)) {
    const room = first ? width : width - indent;
    let cut = rest.lastIndexOf(" ", room);
    if (cut <= room / 2) cut = room;
    out.push((first ? "" : " ".repeat(indent)) + rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
    first = false;
  }
  out.push((first ? "" : " ".repeat(indent)) + rest);
  return out;
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function duration(totalS: number): string {
  const s = Math.floor(totalS);
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;
}

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.flatMap(([k, v]) => wrap(`${(k + ":").padEnd(w)}${v}`, w)).join("\n");
}

export function progressBar(percent: number, cells = 30): string {
  const p = Math.max(0, Math.min(100, percent));
  const filled = Math.round((p / 100) * cells);
  return `[${"#".repeat(filled)}${".".repeat(cells - filled)}] ${p.toFixed(0)}%`;
}

export function showVersion(v: VersionInfo, services: ServiceInfo[]): string {
  const head = table([
    ["Product", v.product], ["Model", v.model], ["Software version", v.softwareVersion],
    ["Hostname", v.hostname], ["Uptime", duration(v.uptimeS)], ["Data directory", v.dataDir],
    ...(v.restartRequired ? [["Restart required", v.restartRequired] as [string, string]] : []),
  ]);
  // A degraded service reads as one sentence: "degraded: in-path rule 8080 cannot listen...".
  const lines = services.flatMap((s) => (s.state === "degraded"
    ? wrap(`  ${s.name.padEnd(14)}degraded: ${s.detail ?? ""}`, 16)
    : wrap(`  ${s.name.padEnd(14)}${s.state.padEnd(15)}${s.detail ?? ""}`.trimEnd(), 31)));
  return `${head}\nServices:\n${lines.join("\n")}`;
}

export function showDatastore(d: DatastoreInfo): string {
  const s = d.stats;
  const lookups = s.hits + s.misses;
  const usage = s.capacityBytes > 0 ? ((100 * s.storedBytes) / s.capacityBytes).toFixed(1) : "0.0";
  return table([
    ["Store id", d.identity.storeId],
    ["Generation", d.identity.generation],
    ["Created", new Date(d.identity.createdMs).toISOString()],
    ["Segments", String(s.segments)],
    ["Raw bytes", bytes(s.rawBytes)],
    ["Stored bytes", `${bytes(s.storedBytes)} of ${bytes(s.capacityBytes)} (${usage}%)`],
    ["Replacement policy", d.policy],
    ["Hits / misses", `${s.hits} / ${s.misses}${lookups > 0 ? ` (hit rate ${((100 * s.hits) / lookups).toFixed(1)}%)` : ""}`],
    ["Evictions", String(s.evictions)],
    ["Corrupt found", String(s.corruptFound)],
    ["Write rate", `${s.writesPerS.toFixed(0)} segments/s`],
    ["Change log", `seq ${s.oldestSeq} to ${s.lastSeq}`],
  ]);
}

function checkLine(c: CheckResult): string {
  return `${new Date(c.timeMs).toISOString()}: ${c.message} (fetched ${c.missingHere}, sent ${c.missingThere}, repaired ${c.corruptRepaired}, ${c.roundTrips} round trips, ${bytes(c.bytes)})`;
}

export function showSync(s: SyncStatus): string {
  const rows: [string, string][] = [
    ["State", syncStateText(s)],
    ["Role", s.role],
    ["Peer", s.peer ?? "(none)"],
    ["Mode", syncModeText(s)],
    ["Eligible for takeover", s.eligibleForTakeover ? "yes" : "no"],
  ];
  if (s.initialSync) {
    rows.push(["Initial sync", `${progressBar(s.initialSync.percent)} ${bytes(s.initialSync.bytesDone)} of ${bytes(s.initialSync.bytesTotal)}`]);
  }
  rows.push(
    ["Lag", `${s.lagSegments} segments, ${s.lagS.toFixed(1)} s`],
    ["Sent", `${s.sentSegments} segments, ${bytes(s.sentBytes)}`],
    ["Received", `${s.receivedSegments} segments, ${bytes(s.receivedBytes)}`],
    ["Last check", s.lastCheck ? checkLine(s.lastCheck) : "never"],
  );
  if (s.refusedReason) rows.push(["Reason", s.refusedReason]);
  if (s.restartRequired) rows.push(["Restart required", s.restartRequired]);
  return table(rows);
}

export function showCheck(c: CheckResult): string {
  // A check that could not reach the peer made no round trip: it found nothing.
  const result = c.inSync ? "in sync" : c.roundTrips === 0 ? "not run" : "differences found";
  return table([
    ["Result", result],
    ["Message", c.message],
    ["Fetched from peer", String(c.missingHere)],
    ["Sent to peer", String(c.missingThere)],
    ["Corrupt repaired", String(c.corruptRepaired)],
    ["Round trips", String(c.roundTrips)],
    ["Bytes", bytes(c.bytes)],
  ]);
}

export function showStats(s: OptimizerStats): string {
  return table([
    ["Connections", `${s.connectionsCurrent} current, ${s.connectionsTotal} total, ${s.connectionsPassThrough} pass-through`],
    ["LAN bytes", `${bytes(s.lanBytesIn)} in, ${bytes(s.lanBytesOut)} out`],
    ["WAN bytes", `${bytes(s.wanBytesIn)} in, ${bytes(s.wanBytesOut)} out`],
    ["Segments", `${s.segmentsDef} DEF, ${s.segmentsRef} REF, ${s.segmentsReq} REQ`],
    ["Reduction", `${s.reduction.toFixed(2)}x`],
  ]);
}

export function showConnections(list: ConnectionInfo[], nowMs = Date.now()): string {
  if (list.length === 0) return "No connections.";
  const header = "ID     State        Client                Server                LAN     WAN";
  const rows = list.map((c) => {
    const lan = bytes(c.lanBytesIn + c.lanBytesOut).replace(" ", "");
    const wan = bytes(c.wanBytesIn + c.wanBytesOut).replace(" ", "");
    const main = `${String(c.id).padEnd(7)}${c.state.padEnd(13)}${c.clientAddr.padEnd(22)}${c.serverAddr.padEnd(22)}${lan.padEnd(8)}${wan}`;
    const detail = wrap(`       ${c.side} side, ${c.rule}, ${duration((nowMs - c.startedMs) / 1000)}`, 7);
    return [main.slice(0, consoleColumns - 1), ...detail].join("\n");
  });
  return [header, ...rows].join("\n");
}

export function showLog(events: ApplianceEvent[]): string {
  if (events.length === 0) return "No events.";
  return events.flatMap((e) => {
    const t = new Date(e.timeMs).toISOString().replace("T", " ").slice(0, 19);
    return wrap(`${t} ${e.severity.padEnd(7)} ${e.subsystem}: ${e.message}${e.alarm ? ` [${e.alarm}]` : ""}`, 4);
  }).join("\n");
}
