// The browser script of the UI (served as /static/app.js): live updates without reload
// by polling /api/status, confirmation of destructive forms, and nothing else; every
// change still goes through a server-rendered form carrying the CSRF token. Written
// here as one function whose source text is sent to the browser together with the
// shared display helpers, so it is type-checked with the rest of the project.
import { chartSvg, dashboardChart, fmtValue } from "./shared.ts";

declare const fmtValueRef: typeof fmtValue;
declare const dashboardChartRef: typeof dashboardChart;

export function clientMain(): void {
  const fmt = fmtValueRef;
  const chart = dashboardChartRef;
  const body = document.body;
  const pollMs = Number(body.dataset.pollMs || "2000");
  const sampleMs = Number(body.dataset.sampleMs || "2000");
  const historyMax = Number(body.dataset.historyMax || "300");
  const eventsMax = Number(body.dataset.eventsMax || "200");

  document.querySelectorAll<HTMLFormElement>("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) e.preventDefault();
    });
  });

  type Json = Record<string, unknown>;
  let history: Json[] = [];
  let lastEventId = 0;
  let first = true;

  const pick = (obj: unknown, path: string): unknown => {
    let cur: unknown = obj;
    for (const key of path.split(".")) {
      if (cur === null || cur === undefined) return undefined;
      cur = (cur as Json)[key];
    }
    return cur;
  };

  const cell = (row: HTMLTableRowElement, text: string, cls?: string) => {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
  };

  // Narrow screens show table rows as cards; each cell is labelled with its column header.
  const labelRows = (tbody: HTMLTableSectionElement) => {
    const heads = Array.from(tbody.parentElement!.querySelectorAll("thead th")).map((th) => th.textContent || "");
    for (const row of Array.from(tbody.rows)) Array.from(row.cells).forEach((td, i) => (td.dataset.label = heads[i] || ""));
  };

  function update(data: Json): void {
    document.querySelectorAll<HTMLElement>("[data-live]").forEach((el) => {
      const text = fmt(pick(data, el.dataset.live!), el.dataset.fmt || "");
      if (el.textContent !== text) el.textContent = text;
    });
    document.querySelectorAll<HTMLElement>("[data-live-state]").forEach((el) => {
      const v = String(pick(data, el.dataset.liveState!) ?? "");
      el.textContent = v.replace(/-/g, " ");
      el.className = "state state-" + v;
    });
    document.querySelectorAll<HTMLProgressElement>("progress[data-live-progress]").forEach((el) => {
      const v = pick(data, el.dataset.liveProgress!);
      el.value = typeof v === "number" ? v : 0;
    });
    document.querySelectorAll<HTMLElement>("[data-live-hidden-unless]").forEach((el) => {
      const v = pick(data, el.dataset.liveHiddenUnless!);
      el.hidden = v === null || v === undefined || v === false;
    });
    history = history.concat((data.history as Json[]) || []).slice(-historyMax);
    document.querySelectorAll<HTMLElement>("[data-chart]").forEach((el) => {
      el.innerHTML = chart(el.dataset.chart!, history as never, sampleMs);
    });
    const conns = document.querySelector<HTMLTableSectionElement>("tbody[data-live-rows=connections]");
    if (conns) {
      conns.replaceChildren();
      for (const c of (data.connections as Json[]) || []) {
        const row = conns.insertRow();
        cell(row, String(c.id));
        cell(row, String(c.rule));
        cell(row, String(c.side));
        cell(row, String(c.clientAddr));
        cell(row, String(c.serverAddr));
        cell(row, c.peer === null ? "–" : String(c.peer));
        cell(row, String(c.state), "state state-" + String(c.state));
        cell(row, fmt((c.lanBytesIn as number) + (c.lanBytesOut as number), "bytes"), "num");
        cell(row, fmt((c.wanBytesIn as number) + (c.wanBytesOut as number), "bytes"), "num");
        cell(row, fmt(c.startedMs, "time"));
      }
      if (conns.rows.length === 0) {
        const row = conns.insertRow();
        const td = row.insertCell();
        td.colSpan = 10;
        td.className = "empty";
        td.textContent = "No connections right now.";
      }
      labelRows(conns);
    }
    const events = (data.events as Json[]) || [];
    const list = document.querySelector<HTMLTableSectionElement>("tbody[data-live-rows=events]");
    if (list) {
      for (const ev of events) {
        if ((ev.id as number) <= lastEventId) continue;
        const row = list.insertRow(0);
        row.className = "sev-" + String(ev.severity) + (ev.alarm ? " alarm" : "");
        row.dataset.eventId = String(ev.id);
        cell(row, fmt(ev.timeMs, "time"));
        cell(row, String(ev.severity));
        cell(row, String(ev.subsystem));
        cell(row, (ev.alarm ? "[" + String(ev.alarm) + "] " : "") + String(ev.message));
      }
      labelRows(list);
      while (list.rows.length > eventsMax) list.deleteRow(list.rows.length - 1);
      if (events.some((ev) => (ev.id as number) > lastEventId)) list.querySelectorAll("tr.empty-row").forEach((r) => r.remove());
    }
    for (const ev of events) lastEventId = Math.max(lastEventId, ev.id as number);
    const updated = document.querySelector<HTMLElement>("[data-live-updated]");
    if (updated) updated.textContent = "updated " + fmt(data.timeMs, "time");
    body.dataset.liveOk = "1";
  }

  async function poll(): Promise<void> {
    const lastT = history.length ? (history[history.length - 1]!.tMs as number) : 0;
    const params = first ? "" : "?historyAfterMs=" + lastT + "&eventsAfterId=" + lastEventId;
    if (first) lastEventId = Number(body.dataset.lastEventId || "0");
    try {
      const res = await fetch("/api/status" + params, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (res.status === 401) {
        window.location.href = "/login";
        return;
      }
      if (res.ok) {
        if (first) history = [];
        first = false;
        update((await res.json()) as Json);
        document.querySelector("[data-live-error]")?.setAttribute("hidden", "");
      } else throw new Error("HTTP " + res.status);
    } catch {
      document.querySelector("[data-live-error]")?.removeAttribute("hidden");
    }
    setTimeout(poll, pollMs);
  }
  if (body.dataset.poll === "1") setTimeout(poll, first ? 50 : pollMs);
}

/** The script text served as /static/app.js. */
export function clientScript(): string {
  return [
    '"use strict";',
    "const fmtValueRef = " + fmtValue.toString() + ";",
    // dashboardChart's source calls chartSvg by whatever name a bundler gave it.
    "const " + chartSvg.name + " = " + chartSvg.toString() + ";",
    "const dashboardChartRef = " + dashboardChart.toString() + ";",
    "(" + clientMain.toString() + ")();",
  ].join("\n");
}
