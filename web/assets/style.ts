// The UI's one stylesheet (served as /static/style.css): plain CSS, system fonts, no
// external assets; a single column under 720 px so every page works at 390 px.
export const styleCss = `
:root { --bg:#f4f6f8; --card:#fff; --ink:#1c2430; --muted:#5d6b7a; --line:#d9e0e7; --accent:#0b62a4;
  --ok:#1d7d3a; --warn:#a86400; --bad:#b3261e; --lan:#0b62a4; --wan:#d9730d; --red:#6b3fa0; --lag:#b3261e; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
a { color: var(--accent); }
header.top { background:#14202e; color:#fff; display:flex; flex-wrap:wrap; align-items:center; gap:8px 16px; padding:8px 16px; }
header.top .brand { font-weight:700; letter-spacing:.02em; }
header.top .host { color:#b9c6d3; font-size:13px; }
header.top .actions { margin-left:auto; display:flex; gap:6px; flex-wrap:wrap; }
header.top form { margin:0; }
header.top button { background:#26384d; color:#fff; border:1px solid #3b5470; }
nav.tabs { background:#1b2b3d; display:flex; flex-wrap:wrap; padding:0 8px; }
nav.tabs a { color:#cfdbe7; text-decoration:none; padding:9px 10px; font-size:14px; border-bottom:3px solid transparent; }
nav.tabs a.active { color:#fff; border-bottom-color:#4aa3df; }
main { max-width:1200px; margin:0 auto; padding:16px; }
h1 { font-size:20px; margin:4px 0 12px; }
h2 { font-size:16px; margin:0 0 10px; }
.grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap:14px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px; min-width:0; }
dl.kv { display:grid; grid-template-columns: max-content 1fr; gap:4px 14px; margin:0 0 8px; }
dl.kv dt { color:var(--muted); }
dl.kv dd { margin:0; font-variant-numeric: tabular-nums; overflow-wrap:anywhere; }
.big { font-size:26px; font-weight:650; font-variant-numeric: tabular-nums; }
.muted { color:var(--muted); font-size:13px; }
progress { width:100%; height:16px; accent-color: var(--accent); }
.chart { width:100%; height:auto; display:block; background:#fbfcfd; border:1px solid var(--line); border-radius:6px; }
.chart .grid { stroke:#e6ebf0; stroke-width:1; }
.chart .axis { stroke:#aab6c2; stroke-width:1; }
.chart .tick, .chart .legend { font-size:13px; fill:var(--muted); }
[data-chart] { margin-top:10px; }
.chart .line { fill:none; stroke-width:2; }
.chart .line.lan { stroke:var(--lan); } .chart .legend.lan { fill:var(--lan); }
.chart .line.wan { stroke:var(--wan); } .chart .legend.wan { fill:var(--wan); }
.chart .line.red { stroke:var(--red); } .chart .legend.red { fill:var(--red); }
.chart .line.lag { stroke:var(--lag); } .chart .legend.lag { fill:var(--lag); }
.state { font-weight:600; text-transform:capitalize; }
.state-in-sync, .state-optimized { color:var(--ok); }
.state-initial-sync, .state-connecting, .state-behind, .state-pass-through { color:var(--warn); }
.state-refused, .state-disconnected { color:var(--bad); }
.state-disabled { color:var(--muted); }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
td.empty { color:var(--muted); text-align:center; }
tr.sev-error td { color:var(--bad); } tr.sev-warning td { color:var(--warn); }
tr.alarm td:last-child { font-weight:600; }
form.stack { display:grid; gap:10px; max-width:520px; }
form.stack label { display:grid; gap:3px; font-weight:550; }
form.stack label .muted { font-weight:400; }
form.stack label.check { display:flex; gap:8px; align-items:center; }
.form-row { display:grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap:10px; }
input, select, button { font:inherit; font-weight:400; }
input[type=text], input[type=password], input[type=number], select { width:100%; padding:7px 9px; border:1px solid #b8c4d0; border-radius:6px; background:#fff; }
input:focus, select:focus, button:focus { outline:2px solid #4aa3df; outline-offset:1px; }
button { padding:7px 14px; border-radius:6px; border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
.inline { display:inline; }
.flash { padding:10px 12px; border-radius:6px; margin:0 0 12px; border:1px solid; overflow-wrap:anywhere; }
.flash.ok { background:#e8f5ec; border-color:#9fd0ad; color:#17532a; }
.flash.warn { background:#fff4e0; border-color:#f0c27a; color:#6b4000; }
.flash.error { background:#fdecea; border-color:#efaaa4; color:#7d1a14; }
.live-error { color:var(--bad); font-size:13px; }
.mt { margin-top:14px; }
pre.config { background:#0f1823; color:#d8e3ee; padding:12px; border-radius:6px; overflow-x:auto; font-size:13px; }
.auth { max-width:420px; margin:8vh auto; }
footer { text-align:center; color:var(--muted); font-size:12px; padding:16px; }
@media (max-width: 720px) {
  main { padding:10px; }
  .grid { grid-template-columns: 1fr; }
  header.top .actions { margin-left:0; width:100%; }
  nav.tabs a { padding:8px 7px; font-size:13px; }
  .big { font-size:22px; }
  table.responsive thead { display:none; }
  table.responsive tr { display:block; border-bottom:1px solid var(--line); padding:4px 0; }
  table.responsive td { display:flex; justify-content:space-between; gap:12px; border:0; padding:3px 6px; text-align:right; }
  table.responsive td::before { content: attr(data-label); color:var(--muted); text-align:left; font-weight:400; text-transform:none; }
  table.responsive.events tr { display:flex; flex-wrap:wrap; gap:0 8px; padding:6px 0; }
  table.responsive.events td { display:block; padding:1px 6px; text-align:left; }
  table.responsive.events td::before { content:none; }
  table.responsive.events td:nth-child(-n+3) { color:var(--muted); font-size:13px; }
  table.responsive.events td:last-child { flex-basis:100%; }
}
`;
