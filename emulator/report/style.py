"""The views' one stylesheet, inlined into every page (nothing is fetched)."""

CSS = """
:root { --fg:#1d2330; --muted:#6b7280; --line:#d8dce3; --bg:#fff; --panel:#f6f7f9;
  --starting:#9aa5b1; --downloading:#4f8fd8; --training:#3aa66a; --uploading:#8c63c9;
  --stopping:#c2573a; --bad:#c0392b; --good:#2e7d4f; --warn:#b7791f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0; font-size: 20px; }
header nav a { margin-right: 14px; }
main { padding: 8px 24px 40px; max-width: 1200px; }
h2 { font-size: 16px; margin: 26px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 14px 0 6px; }
a { color: #2457a6; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--panel); padding: 8px; overflow: auto; max-height: 420px;
  border: 1px solid var(--line); }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left;
  vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.muted { color: var(--muted); }
.good { color: var(--good); }
.bad, .outcome-failed { color: var(--bad); }
.outcome-interrupted { color: var(--warn); }
.outcome-completed { color: var(--good); }
.status { font-weight: 600; padding: 1px 6px; border-radius: 3px; background: var(--panel); }
.status-completed { color: var(--good); } .status-failed { color: var(--bad); }
.status-stopped { color: var(--warn); } .status-inprogress { color: #2457a6; }
.verdict-restarted-from-scratch { color: var(--bad); font-weight: 600; }
.verdict-resumed { color: var(--good); }
ul.flags { padding-left: 18px; }
li.flag { color: var(--warn); margin-bottom: 4px; }
li.flag .explain { color: var(--fg); font-size: 13px; }
details { margin: 4px 0; }
summary { cursor: pointer; }
svg.timeline { max-width: 100%; height: auto; font-size: 11px; }
svg .lane-label { font-size: 12px; fill: var(--fg); }
svg .axis line { stroke: #eceef2; } svg .axis text { fill: var(--muted); }
svg .legend text { fill: var(--fg); }
svg .seg-starting { fill: var(--starting); } svg .seg-downloading { fill: var(--downloading); }
svg .seg-training { fill: var(--training); } svg .seg-uploading { fill: var(--uploading); }
svg .seg-stopping { fill: var(--stopping); }
svg .restore { fill: #123e73; }
svg .grace { fill: rgba(230, 150, 30, .28); stroke: #d48a12; stroke-dasharray: 3 2; }
svg .lost { fill: rgba(192, 57, 43, .22); stroke: rgba(192, 57, 43, .6); }
svg .capacity { fill: rgba(120, 120, 120, .18); stroke: #888; stroke-dasharray: 2 2; }
svg line.tick { stroke: #111; stroke-width: 1.5; }
svg line.tick.conflict { stroke: var(--bad); stroke-width: 3; }
svg line.interrupt { stroke: var(--bad); stroke-width: 2.5; }
svg .interrupt-label { fill: var(--bad); font-weight: 600; }
svg .sigkill { fill: var(--bad); font-weight: 700; font-size: 14px; }
.jobs td.num { text-align: right; }
.live { color: var(--muted); font-size: 12px; }
"""
