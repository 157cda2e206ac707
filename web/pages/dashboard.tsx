/** @jsxImportSource hono/jsx */
// Dashboard: optimization (LAN vs WAN bytes and reduction over time), data store
// (usage against capacity, hit rate) and sync (state, role, peer, lag over time,
// initial-sync progress), first painted from the status view and then kept live.
import { raw } from "hono/html";
import { dashboardChart, fmtValue } from "../assets/shared.ts";
import { emptyStoreStats, type StatusView } from "../status.ts";

/** A value that the live script keeps current: `path` into the status view, `fmt` a fmtValue kind. */
export function Live(props: { path: string; fmt: string; value: unknown; testid?: string }) {
  return (
    <span data-live={props.path} data-fmt={props.fmt} data-testid={props.testid}>
      {fmtValue(props.value, props.fmt)}
    </span>
  );
}

export function SyncState(props: { state: string }) {
  return (
    <span class={`state state-${props.state}`} data-live-state="derived.syncState" data-testid="sync-state">
      {props.state.replace(/-/g, " ")}
    </span>
  );
}

/** Why the peer refused the pairing (or why sync cannot run), shown only while there is a reason. */
export function SyncRefused(props: { reason: string | null }) {
  return (
    <div class="flash error" role="status" data-live-hidden-unless="sync.refusedReason" hidden={props.reason === null}>
      <span data-live="sync.refusedReason" data-fmt="opt" data-testid="sync-refused">{props.reason ?? ""}</span>
    </div>
  );
}

export function SyncProgress(props: { percent: number | null }) {
  return (
    <progress max="100" value={String(props.percent ?? 0)} data-live-progress="derived.syncPercent" data-testid="sync-progress" aria-label="initial sync progress" />
  );
}

/** A banner naming what is unavailable (a stopped service, a store that failed to open). */
export function Problems(props: { s: StatusView }) {
  return (
    <div class="flash error" role="alert" data-live-hidden-unless="derived.problemsText" hidden={props.s.derived.problemsText === null}>
      <span data-live="derived.problemsText" data-fmt="">{props.s.derived.problemsText ?? ""}</span>
    </div>
  );
}

export function Dashboard(props: { s: StatusView; sampleMs: number }) {
  const { s } = props;
  const ds = s.datastore?.stats ?? emptyStoreStats;
  return (
    <>
    <Problems s={s} />
    <div class="grid">
      <section class="card" aria-labelledby="h-opt">
        <h2 id="h-opt">Optimization</h2>
        <div class="big"><Live path="stats.reduction" fmt="ratio" value={s.stats.reduction} testid="reduction" /></div>
        <div class="muted">data reduction since start (LAN bytes / WAN bytes)</div>
        <dl class="kv">
          <dt>LAN bytes</dt><dd><Live path="stats.lanBytesIn" fmt="bytes" value={s.stats.lanBytesIn} /> in, <Live path="stats.lanBytesOut" fmt="bytes" value={s.stats.lanBytesOut} /> out</dd>
          <dt>WAN bytes</dt><dd><Live path="stats.wanBytesIn" fmt="bytes" value={s.stats.wanBytesIn} /> in, <Live path="stats.wanBytesOut" fmt="bytes" value={s.stats.wanBytesOut} /> out</dd>
          <dt>Connections</dt><dd><Live path="stats.connectionsCurrent" fmt="int" value={s.stats.connectionsCurrent} /> now, <Live path="stats.connectionsTotal" fmt="int" value={s.stats.connectionsTotal} /> total, <Live path="stats.connectionsPassThrough" fmt="int" value={s.stats.connectionsPassThrough} /> pass-through</dd>
          <dt>Segments</dt><dd><Live path="stats.segmentsDef" fmt="int" value={s.stats.segmentsDef} /> new, <Live path="stats.segmentsRef" fmt="int" value={s.stats.segmentsRef} /> referenced, <Live path="stats.segmentsReq" fmt="int" value={s.stats.segmentsReq} /> requested</dd>
        </dl>
        <div data-chart="traffic">{raw(dashboardChart("traffic", s.history, props.sampleMs))}</div>
        <div data-chart="reduction">{raw(dashboardChart("reduction", s.history, props.sampleMs))}</div>
      </section>
      <section class="card" aria-labelledby="h-ds">
        <h2 id="h-ds">Data store</h2>
        <div class="big"><Live path="derived.usagePercent" fmt="pct" value={s.derived.usagePercent} testid="usage" /></div>
        <div class="muted">used: <Live path="datastore.stats.storedBytes" fmt="bytes" value={ds.storedBytes} /> of <Live path="datastore.stats.capacityBytes" fmt="bytes" value={ds.capacityBytes} /></div>
        <progress max="100" value={String(s.derived.usagePercent ?? 0)} data-live-progress="derived.usagePercent" aria-label="data store usage" />
        <dl class="kv">
          <dt>Segments</dt><dd><Live path="datastore.stats.segments" fmt="int" value={ds.segments} /></dd>
          <dt>Hit rate</dt><dd><Live path="derived.hitRatePercent" fmt="pct" value={s.derived.hitRatePercent} testid="hit-rate" /> (<Live path="datastore.stats.hits" fmt="int" value={ds.hits} /> hits, <Live path="datastore.stats.misses" fmt="int" value={ds.misses} /> misses)</dd>
          <dt>Evictions</dt><dd><Live path="datastore.stats.evictions" fmt="int" value={ds.evictions} /> ({(s.datastore?.policy ?? "–").toUpperCase()})</dd>
          <dt>Corrupt found</dt><dd><Live path="datastore.stats.corruptFound" fmt="int" value={ds.corruptFound} /></dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="h-sync">
        <h2 id="h-sync">Data store sync</h2>
        <div class="big"><SyncState state={s.derived.syncState} /></div>
        <SyncRefused reason={s.sync.refusedReason} />
        <div class="muted" data-live-hidden-unless="derived.syncStateNote" hidden={s.derived.syncStateNote === null}>
          <span data-live="derived.syncStateNote" data-fmt="opt" data-testid="sync-state-note">{s.derived.syncStateNote ?? ""}</span>
        </div>
        <dl class="kv">
          <dt>Role</dt><dd><Live path="sync.role" fmt="" value={s.sync.role} testid="sync-role" /></dd>
          <dt>Peer</dt><dd><Live path="sync.peer" fmt="" value={s.sync.peer} /></dd>
          <dt>Mode</dt><dd><Live path="derived.syncModeText" fmt="" value={s.derived.syncModeText} testid="sync-mode" /></dd>
          <dt>Lag</dt><dd><Live path="sync.lagSegments" fmt="int" value={s.sync.lagSegments} /> segments, <Live path="sync.lagS" fmt="s" value={s.sync.lagS} /></dd>
          <dt>Eligible for takeover</dt><dd><Live path="sync.eligibleForTakeover" fmt="" value={s.sync.eligibleForTakeover} /></dd>
        </dl>
        <div class="muted">initial sync: <Live path="derived.syncPercent" fmt="pct" value={s.derived.syncPercent} testid="sync-percent" /></div>
        <SyncProgress percent={s.derived.syncPercent} />
        <div data-chart="lag">{raw(dashboardChart("lag", s.history, props.sampleMs))}</div>
      </section>
      <section class="card" aria-labelledby="h-svc">
        <h2 id="h-svc">Services</h2>
        <dl class="kv" data-testid="services">
          {s.services.map((svc, i) => (
            <>
              <dt>{svc.name}</dt>
              <dd>
                <span data-live={`services.${i}.state`} data-fmt="" data-testid={`service-${svc.name}`}>{svc.state}</span>
                <span class="muted"> <span data-live={`services.${i}.detail`} data-fmt="opt">{svc.detail ?? ""}</span></span>
              </dd>
            </>
          ))}
        </dl>
      </section>
    </div>
    </>
  );
}
