// Pure display helpers used on both sides: the server renders the first paint with
// them and the browser script (assets/client.ts) embeds their source text to redraw
// on every poll, so a chart or a number looks the same before and after an update.
// They must stay self-contained: no imports, no references outside their own body.

export function fmtValue(value: unknown, kind: string): string {
  if (kind === "opt" && (value === null || value === undefined)) return "";
  if (value === null || value === undefined || (typeof value === "number" && !Number.isFinite(value))) return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value !== "number") return String(value);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  if (kind === "bytes" || kind === "rate") {
    let v = value;
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    const text = (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
    return kind === "rate" ? text + "/s" : text;
  }
  if (kind === "ratio") return value.toFixed(value < 10 ? 2 : 1) + "×";
  if (kind === "pct") return value.toFixed(value >= 99.95 || value === 0 ? 0 : 1) + " %";
  if (kind === "s") {
    if (value < 60) return value.toFixed(value < 10 ? 1 : 0) + " s";
    const m = Math.floor(value / 60);
    if (m < 60) return m + " min " + Math.round(value % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  if (kind === "time") {
    const d = new Date(value);
    const two = (n: number) => (n < 10 ? "0" : "") + n;
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  if (kind === "int") return Math.round(value).toLocaleString("en-US");
  return String(value);
}

export interface ChartSeries {
  name: string;
  cls: string;
  values: (number | null)[];
}

/** An inline SVG line chart (viewBox 400x150) of equally spaced samples. */
export function chartSvg(title: string, series: ChartSeries[], kind: string, spanLabel: string): string {
  const w = 400;
  const h = 150;
  const left = 4;
  const top = 22;
  const bottom = h - 18;
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"));
  let max = 0;
  let n = 0;
  for (const s of series) {
    n = Math.max(n, s.values.length);
    for (const v of s.values) if (v !== null && v > max) max = v;
  }
  const empty = max <= 0;
  if (empty) max = kind === "ratio" ? 2 : 1;
  max *= 1.1;
  const fmt = (v: number): string => {
    const units = ["B", "KiB", "MiB", "GiB"];
    if (kind === "rate") {
      let x = v;
      let i = 0;
      while (x >= 1024 && i < units.length - 1) {
        x /= 1024;
        i++;
      }
      return x.toFixed(x < 10 ? 1 : 0) + " " + units[i] + "/s";
    }
    if (kind === "ratio") return v.toFixed(1) + "×";
    if (kind === "s") return v.toFixed(v < 10 ? 1 : 0) + " s";
    return v.toFixed(0);
  };
  const x = (i: number) => left + (n <= 1 ? 0 : (i * (w - left * 2)) / (n - 1));
  const y = (v: number) => bottom - (v / max) * (bottom - top);
  let out = '<svg class="chart" viewBox="0 0 ' + w + " " + h + '" role="img" aria-label="' + esc(title) + '">';
  out += '<line class="grid" x1="0" x2="' + w + '" y1="' + top + '" y2="' + top + '"/>';
  out += '<line class="grid" x1="0" x2="' + w + '" y1="' + (top + bottom) / 2 + '" y2="' + (top + bottom) / 2 + '"/>';
  out += '<line class="axis" x1="0" x2="' + w + '" y1="' + bottom + '" y2="' + bottom + '"/>';
  if (!empty) out += '<text class="tick" x="' + (w - 4) + '" y="' + (top - 4) + '" text-anchor="end">' + esc(fmt(max)) + "</text>";
  out += '<text class="tick" x="' + (w - 4) + '" y="' + (h - 4) + '" text-anchor="end">' + esc(spanLabel) + "</text>";
  let legendX = 4;
  for (const s of series) {
    out += '<text class="legend ' + esc(s.cls) + '" x="' + legendX + '" y="15">■ ' + esc(s.name) + "</text>";
    legendX += 24 + s.name.length * 7.5;
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    });
    if (d) out += '<path class="line ' + esc(s.cls) + '" d="' + d + '"/>';
  }
  if (n === 0) out += '<text class="tick" x="' + w / 2 + '" y="' + (top + bottom) / 2 + '" text-anchor="middle">collecting samples…</text>';
  return out + "</svg>";
}

interface ChartPoint {
  lanBytesPerS: number;
  wanBytesPerS: number;
  reduction: number | null;
  lagS: number;
}

/** The dashboard's named charts, drawn from the history points. */
export function dashboardChart(name: string, points: ChartPoint[], sampleMs: number): string {
  const spanS = Math.max(0, points.length - 1) * (sampleMs / 1000);
  const span = points.length < 2 ? "" : spanS < 120 ? "last " + Math.round(spanS) + " s" : "last " + Math.round(spanS / 60) + " min";
  if (name === "traffic") {
    return chartSvg("LAN and WAN throughput", [
      { name: "LAN", cls: "lan", values: points.map((p) => p.lanBytesPerS) },
      { name: "WAN", cls: "wan", values: points.map((p) => p.wanBytesPerS) },
    ], "rate", span);
  }
  if (name === "reduction") {
    return chartSvg("Data reduction", [{ name: "reduction (LAN/WAN)", cls: "red", values: points.map((p) => p.reduction) }], "ratio", span);
  }
  return chartSvg("Sync lag", [{ name: "lag (s)", cls: "lag", values: points.map((p) => p.lagS) }], "s", span);
}
