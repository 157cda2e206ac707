/** @jsxImportSource hono/jsx */
// The pages that change configuration: data store sync and in-path rules. Their forms
// post to the server, which turns the fields into console-grammar lines for
// control.configure(); a rejected line comes back here as the TandemError message,
// with the operator's input kept in the form.
import type { InPathRule, SyncConfig } from "../../agent/config/types.ts";
import type { StatusView } from "../status.ts";
import { Csrf } from "./layout.tsx";
import { Live, SyncProgress, SyncState } from "./dashboard.tsx";

/** What the sync form shows: the running config, or what the operator typed. */
export interface SyncFormValues {
  enabled: boolean;
  role: "master" | "backup";
  peerIp: string;
  port: string;
  mode: string;
  reconnectS: string;
  checkIntervalS: string;
}

export function syncFormValues(c: SyncConfig): SyncFormValues {
  return {
    enabled: c.enabled,
    role: c.master ? "master" : "backup",
    peerIp: c.peerIp ?? "",
    port: String(c.port),
    mode: c.mode,
    reconnectS: String(c.reconnectS),
    checkIntervalS: String(c.checkIntervalS),
  };
}

export function SyncPage(props: { s: StatusView; csrf: string; values: SyncFormValues; secretSet: boolean; error: string | null }) {
  const { s, values: v } = props;
  const last = s.sync.lastCheck;
  return (
    <div class="grid">
      <section class="card" aria-labelledby="h-sync-status">
        <h2 id="h-sync-status">Status</h2>
        <div class="big"><SyncState state={s.derived.syncState} /></div>
        <div class="muted" data-live-hidden-unless="derived.syncStateNote" hidden={s.derived.syncStateNote === null}>
          <span data-live="derived.syncStateNote" data-fmt="opt">{s.derived.syncStateNote ?? ""}</span>
        </div>
        <dl class="kv">
          <dt>Role</dt><dd><Live path="sync.role" fmt="" value={s.sync.role} /></dd>
          <dt>Peer</dt><dd><Live path="sync.peer" fmt="" value={s.sync.peer} /></dd>
          <dt>Mode</dt><dd><Live path="derived.syncModeText" fmt="" value={s.derived.syncModeText} /></dd>
          <dt>Refused</dt><dd><Live path="sync.refusedReason" fmt="" value={s.sync.refusedReason} testid="refused-reason" /></dd>
          <dt>Lag</dt><dd><Live path="sync.lagSegments" fmt="int" value={s.sync.lagSegments} /> segments, <Live path="sync.lagS" fmt="s" value={s.sync.lagS} /></dd>
          <dt>Sent</dt><dd><Live path="sync.sentSegments" fmt="int" value={s.sync.sentSegments} /> segments, <Live path="sync.sentBytes" fmt="bytes" value={s.sync.sentBytes} /></dd>
          <dt>Received</dt><dd><Live path="sync.receivedSegments" fmt="int" value={s.sync.receivedSegments} /> segments, <Live path="sync.receivedBytes" fmt="bytes" value={s.sync.receivedBytes} /></dd>
          <dt>Eligible for takeover</dt><dd><Live path="sync.eligibleForTakeover" fmt="" value={s.sync.eligibleForTakeover} /></dd>
          <dt>Restart required</dt><dd><Live path="sync.restartRequired" fmt="" value={s.sync.restartRequired} /></dd>
        </dl>
        <div class="muted">initial sync: <Live path="derived.syncPercent" fmt="pct" value={s.derived.syncPercent} /></div>
        <SyncProgress percent={s.derived.syncPercent} />
        <h2 class="mt">Consistency check</h2>
        <dl class="kv">
          <dt>Last check</dt>
          <dd data-testid="last-check">
            <Live path="sync.lastCheck.timeMs" fmt="time" value={last?.timeMs ?? null} /> <Live path="sync.lastCheck.message" fmt="" value={last?.message ?? "never"} />
          </dd>
        </dl>
        <form method="post" action="/sync/check">
          <Csrf token={props.csrf} />
          <button type="submit" class="secondary">Check now</button>
        </form>
      </section>
      <section class="card" aria-labelledby="h-sync-config">
        <h2 id="h-sync-config">Settings</h2>
        {props.error ? <div class="flash error" role="alert" data-flash="error">{props.error}</div> : null}
        <form class="stack" method="post" action="/sync" novalidate>
          <Csrf token={props.csrf} />
          <label class="check">
            <input type="checkbox" name="enabled" value="on" checked={v.enabled} /> Enable data store sync
          </label>
          <div class="form-row">
            <label>
              Role
              <select name="role">
                <option value="master" selected={v.role === "master"}>master</option>
                <option value="backup" selected={v.role === "backup"}>backup</option>
              </select>
            </label>
            <label>
              Mode
              <select name="mode">
                <option value="async" selected={v.mode === "async"}>asynchronous</option>
                <option value="sync" selected={v.mode === "sync"}>synchronous</option>
              </select>
            </label>
          </div>
          <div class="form-row">
            <label>
              Peer IP address
              <input type="text" name="peerIp" value={v.peerIp} placeholder="A.B.C.D" inputmode="decimal" autocomplete="off" />
            </label>
            <label>
              Port
              <input type="number" name="port" value={v.port} min="1" max="65535" />
            </label>
          </div>
          <label>
            Pairing secret {props.secretSet ? "(set; leave empty to keep it)" : "(not set)"}
            <input type="password" name="secret" value="" autocomplete="new-password" />
          </label>
          <div class="form-row">
            <label>
              Reconnect (s)
              <input type="number" name="reconnectS" value={v.reconnectS} min="1" />
            </label>
            <label>
              Check interval (s)
              <input type="number" name="checkIntervalS" value={v.checkIntervalS} min="1" />
            </label>
          </div>
          <div>
            <button type="submit">Apply</button>
          </div>
        </form>
      </section>
    </div>
  );
}

export interface RuleFormValues {
  listenPort: string;
  dstAddr: string;
  dstPort: string;
  targetAddr: string;
  targetPort: string;
  backupAddr: string;
  backupPort: string;
}

export const emptyRuleForm: RuleFormValues = { listenPort: "", dstAddr: "", dstPort: "", targetAddr: "", targetPort: "", backupAddr: "", backupPort: "" };

export function RulesPage(props: { rules: InPathRule[]; csrf: string; values: RuleFormValues; error: string | null }) {
  const v = props.values;
  return (
    <div class="grid">
      <section class="card" aria-labelledby="h-rules">
        <h2 id="h-rules">Rules</h2>
        <div class="table-wrap">
          <table class="responsive" data-testid="rules">
            <thead>
              <tr><th>Listen port</th><th>Destination</th><th>Target appliance</th><th>Backup appliance</th><th></th></tr>
            </thead>
            <tbody>
              {props.rules.length === 0 ? (
                <tr><td colspan={5} class="empty">No in-path rules: nothing is optimized.</td></tr>
              ) : (
                props.rules.map((r, i) => (
                  <tr data-rule-index={String(i)}>
                    <td data-label="Listen port">{r.listenPort}</td>
                    <td data-label="Destination">{r.dstAddr}:{r.dstPort}</td>
                    <td data-label="Target appliance">{r.targetAddr}:{r.targetPort}</td>
                    <td data-label="Backup appliance">{r.backupAddr ? `${r.backupAddr}:${r.backupPort ?? r.targetPort}` : "–"}</td>
                    <td data-label="">
                      <form method="post" action="/rules/remove" class="inline" data-confirm={`Remove the rule for listen port ${r.listenPort}?`}>
                        <Csrf token={props.csrf} />
                        <input type="hidden" name="listenPort" value={String(r.listenPort)} />
                        <button type="submit" class="danger">Remove</button>
                      </form>
                    </td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      </section>
      <section class="card" aria-labelledby="h-rule-add">
        <h2 id="h-rule-add">Add a fixed-target rule</h2>
        {props.error ? <div class="flash error" role="alert" data-flash="error">{props.error}</div> : null}
        <form class="stack" method="post" action="/rules/add" novalidate>
          <Csrf token={props.csrf} />
          <label>
            Listen port
            <input type="number" name="listenPort" value={v.listenPort} min="1" max="65535" />
          </label>
          <div class="form-row">
            <label>Destination address<input type="text" name="dstAddr" value={v.dstAddr} placeholder="A.B.C.D" inputmode="decimal" /></label>
            <label>Destination port<input type="number" name="dstPort" value={v.dstPort} min="1" max="65535" /></label>
          </div>
          <div class="form-row">
            <label>Target appliance<input type="text" name="targetAddr" value={v.targetAddr} placeholder="A.B.C.D" inputmode="decimal" /></label>
            <label>Target port (optional)<input type="number" name="targetPort" value={v.targetPort} min="1" max="65535" /></label>
          </div>
          <div class="form-row">
            <label>Backup appliance (optional)<input type="text" name="backupAddr" value={v.backupAddr} placeholder="A.B.C.D" inputmode="decimal" /></label>
            <label>Backup port (optional)<input type="number" name="backupPort" value={v.backupPort} min="1" max="65535" /></label>
          </div>
          <div>
            <button type="submit">Add rule</button>
          </div>
        </form>
      </section>
    </div>
  );
}
