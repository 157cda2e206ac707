/** @jsxImportSource hono/jsx */
// Read-mostly pages: live connection list, data store statistics with the clear
// button, alarms and log, and the running configuration (secrets masked).
import type { ConnectionInfo } from "../../agent/services.ts";
import type { ApplianceEvent } from "../../agent/events.ts";
import { fmtValue } from "../assets/shared.ts";
import { emptyStoreStats, type StatusView } from "../status.ts";
import { Csrf } from "./layout.tsx";
import { Live, Problems } from "./dashboard.tsx";

const connectionHeads = ["Id", "Rule", "Side", "Client", "Server", "Peer appliance", "State", "LAN bytes", "WAN bytes", "Since"];

export function ConnectionsPage(props: { s: StatusView }) {
  const { s } = props;
  return (
    <section class="card">
      <p class="muted">
        <Live path="stats.connectionsCurrent" fmt="int" value={s.stats.connectionsCurrent} /> connections now
        (listed: <Live path="derived.connectionsListed" fmt="int" value={s.derived.connectionsListed} />), updated live.
      </p>
      <div class="table-wrap">
        <table class="responsive" data-testid="connections">
          <thead><tr>{connectionHeads.map((h) => <th>{h}</th>)}</tr></thead>
          <tbody data-live-rows="connections">
            {s.connections.length === 0 ? <tr><td colspan={10} class="empty">No connections right now.</td></tr> : s.connections.map((c) => <ConnectionRow c={c} />)}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function ConnectionRow(props: { c: ConnectionInfo }) {
  const c = props.c;
  const cells: [string, string?][] = [
    [String(c.id)], [c.rule], [c.side], [c.clientAddr], [c.serverAddr], [c.peer ?? "–"], [c.state, `state state-${c.state}`],
    [fmtValue(c.lanBytesIn + c.lanBytesOut, "bytes"), "num"], [fmtValue(c.wanBytesIn + c.wanBytesOut, "bytes"), "num"], [fmtValue(c.startedMs, "time")],
  ];
  return <tr>{cells.map(([text, cls], i) => <td class={cls} data-label={connectionHeads[i]}>{text}</td>)}</tr>;
}

export function DatastorePage(props: { s: StatusView; csrf: string }) {
  const { s } = props;
  const st = s.datastore?.stats ?? emptyStoreStats;
  const id = s.datastore?.identity ?? null;
  return (
    <>
    <Problems s={s} />
    <div class="grid">
      <section class="card">
        <h2>Statistics</h2>
        <dl class="kv" data-testid="datastore-stats">
          <dt>Segments</dt><dd><Live path="datastore.stats.segments" fmt="int" value={st.segments} testid="ds-segments" /></dd>
          <dt>Raw bytes</dt><dd><Live path="datastore.stats.rawBytes" fmt="bytes" value={st.rawBytes} /></dd>
          <dt>Stored bytes</dt><dd><Live path="datastore.stats.storedBytes" fmt="bytes" value={st.storedBytes} /></dd>
          <dt>Capacity</dt><dd><Live path="datastore.stats.capacityBytes" fmt="bytes" value={st.capacityBytes} /> ({(s.datastore?.policy ?? "–").toUpperCase()} replacement)</dd>
          <dt>Usage</dt><dd><Live path="derived.usagePercent" fmt="pct" value={s.derived.usagePercent} /></dd>
          <dt>Hit rate</dt><dd><Live path="derived.hitRatePercent" fmt="pct" value={s.derived.hitRatePercent} /></dd>
          <dt>Hits / misses</dt><dd><Live path="datastore.stats.hits" fmt="int" value={st.hits} /> / <Live path="datastore.stats.misses" fmt="int" value={st.misses} /></dd>
          <dt>Evictions</dt><dd><Live path="datastore.stats.evictions" fmt="int" value={st.evictions} /></dd>
          <dt>Corrupt found</dt><dd><Live path="datastore.stats.corruptFound" fmt="int" value={st.corruptFound} /></dd>
          <dt>Writes</dt><dd><Live path="datastore.stats.writesPerS" fmt="int" value={st.writesPerS} /> segments/s</dd>
          <dt>Change log</dt><dd>seq <Live path="datastore.stats.oldestSeq" fmt="int" value={st.oldestSeq} /> … <Live path="datastore.stats.lastSeq" fmt="int" value={st.lastSeq} /></dd>
        </dl>
        <progress max="100" value={String(s.derived.usagePercent ?? 0)} data-live-progress="derived.usagePercent" aria-label="data store usage" />
      </section>
      <section class="card">
        <h2>Identity</h2>
        <dl class="kv">
          <dt>Store id</dt><dd data-live="datastore.identity.storeId" data-fmt="" data-testid="store-id">{id?.storeId ?? "–"}</dd>
          <dt>Generation</dt><dd data-live="datastore.identity.generation" data-fmt="">{id?.generation ?? "–"}</dd>
          <dt>Peer generation</dt><dd data-live="datastore.identity.peerGeneration" data-fmt="">{id?.peerGeneration ?? "–"}</dd>
          <dt>Created</dt><dd>{id ? `${new Date(id.createdMs).toISOString().replace("T", " ").slice(0, 19)} UTC` : "–"}</dd>
          <dt>Model / version</dt><dd>{id ? `${id.model} / ${id.softwareVersion}` : "–"}</dd>
        </dl>
        <h2 class="mt">Clear the data store</h2>
        <p class="muted">
          Deletes every segment and gives the store a new identity (<code>restart clean</code>). Savings start again from
          zero; a sync peer sees a new store.
        </p>
        <form method="post" action="/datastore/clear" class="stack" data-confirm="Clear the data store? Every segment is deleted and cannot be recovered.">
          <Csrf token={props.csrf} />
          <label class="check">
            <input type="checkbox" name="confirm" value="yes" required /> I understand every segment is deleted
          </label>
          <div>
            <button type="submit" class="danger">Clear data store</button>
          </div>
        </form>
      </section>
    </div>
    </>
  );
}

export function AlarmsPage(props: { s: StatusView; events: ApplianceEvent[] }) {
  const heads = ["Time", "Severity", "Subsystem", "Message"];
  const rows = [...props.events].reverse();
  return (
    <>
    {/* What is wrong now (a degraded service, a store that did not open), above the history. */}
    <Problems s={props.s} />
    <section class="card">
      <p class="muted">Newest first; new events appear as they happen.</p>
      <div class="table-wrap">
        <table class="responsive events" data-testid="events">
          <thead><tr>{heads.map((h) => <th>{h}</th>)}</tr></thead>
          <tbody data-live-rows="events">
            {rows.length === 0 ? <tr class="empty-row"><td colspan={4} class="empty">No events yet.</td></tr> : null}
            {rows.map((e) => (
              <tr class={`sev-${e.severity}${e.alarm ? " alarm" : ""}`} data-event-id={String(e.id)}>
                <td data-label={heads[0]}>{fmtValue(e.timeMs, "time")}</td>
                <td data-label={heads[1]}>{e.severity}</td>
                <td data-label={heads[2]}>{e.subsystem}</td>
                <td data-label={heads[3]}>{e.alarm ? `[${e.alarm}] ` : ""}{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
    </>
  );
}

export function ConfigPage(props: { runningConfig: string; version: StatusView["version"]; csrf: string; passwordCharsMin: number }) {
  const v = props.version;
  return (
    <div class="grid">
      <section class="card">
        <h2>Running configuration</h2>
        <p class="muted">The same commands the console takes (secrets shown as <code>********</code>). <strong>Save</strong> writes them to the startup configuration (<code>write memory</code>); <a href="/settings">Settings</a> changes them.</p>
        <pre class="config" data-testid="running-config">{props.runningConfig}</pre>
      </section>
      <section class="card">
        <h2>Version</h2>
        <dl class="kv">
          <dt>Product</dt><dd>{v.product} {v.model}</dd>
          <dt>Software</dt><dd>{v.softwareVersion}</dd>
          <dt>Host name</dt><dd>{v.hostname}</dd>
          <dt>Uptime</dt><dd><Live path="version.uptimeS" fmt="s" value={v.uptimeS} /></dd>
          <dt>Data directory</dt><dd>{v.dataDir}</dd>
        </dl>
        <h2 class="mt">Admin password</h2>
        <form class="stack" method="post" action="/admin/password">
          <Csrf token={props.csrf} />
          <input type="text" name="username" value="admin" autocomplete="username" hidden readonly />
          <label>
            Current password
            <input type="password" name="current" autocomplete="current-password" required />
          </label>
          <label>
            New password (at least {props.passwordCharsMin} characters)
            <input type="password" name="password" autocomplete="new-password" minlength={props.passwordCharsMin} required />
          </label>
          <label>
            Repeat the new password
            <input type="password" name="confirm" autocomplete="new-password" minlength={props.passwordCharsMin} required />
          </label>
          <div>
            <button type="submit">Change password</button>
          </div>
        </form>
      </section>
    </div>
  );
}
