/**
 * The HTML report: one self-contained page (inline SVG charts and CSS, no script, nothing
 * fetched) with the run's headline numbers and its timeline charted second by second:
 * connections, registrations, pushes sent and received per second, push latency p50/p95/p99,
 * and errors by kind. The JSON report is embedded too, so the page is also the raw data.
 */

import type { LatencySummary } from "./histogram.ts";
import type { ScenarioReport, TimelinePoint } from "./report.ts";

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

const WIDTH = 760;
const HEIGHT = 220;
const PAD = { left: 56, right: 16, top: 16, bottom: 28 };
const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

export function renderHtmlReport(report: ScenarioReport): string {
  const t = report.timeline;
  const errorKinds = [...new Set(t.flatMap((point) => Object.keys(point.errors)))];
  const charts = [
    chart("connections", "Connections open", "connections", t, [
      { name: "open (peak in the second)", color: COLORS[0]!, values: t.map((p) => p.peakConnections) },
    ]),
    chart("registrations", "Registrations per second", "per second", t, [
      { name: "registrations", color: COLORS[3]!, values: t.map((p) => p.registrations) },
    ]),
    chart("pushes", "Pushes per second", "per second", t, [
      { name: "sent", color: COLORS[0]!, values: t.map((p) => p.sent) },
      { name: "received", color: COLORS[1]!, values: t.map((p) => p.received) },
    ]),
    chart("latency", "Push latency (POST → notification)", "ms", t, [
      { name: "p50", color: COLORS[1]!, values: t.map((p) => p.p50) },
      { name: "p95", color: COLORS[4]!, values: t.map((p) => p.p95) },
      { name: "p99", color: COLORS[2]!, values: t.map((p) => p.p99) },
    ]),
    chart(
      "errors",
      "Errors per second, by kind",
      "per second",
      t,
      errorKinds.map((kind, i) => ({
        name: kind,
        color: COLORS[(i + 2) % COLORS.length]!,
        values: t.map((p) => p.errors[kind] ?? 0),
      })),
    ),
  ];
  const json = JSON.stringify(report).replaceAll("<", "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>push-agent load test: ${escapeHtml(report.plans.join(" | "))}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 820px; color: #111827; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 24px 0 6px; }
.sub { color: #4b5563; margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; } td, th { padding: 4px 8px; border-bottom: 1px solid #e5e7eb; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg { display: block; background: #fafafa; border: 1px solid #e5e7eb; }
.legend span { margin-right: 14px; } .legend i { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin-right: 4px; }
.none { color: #16a34a; }
</style>
</head>
<body>
<h1>Load test of ${escapeHtml(report.serverURL)}</h1>
<p class="sub">${escapeHtml(report.plans.join(" | "))} · ${report.payload} payloads · ${(report.durationMs / 1000).toFixed(1)} s${
    report.aborted ? " · stopped early" : report.finished ? " · every user finished" : ""
  } · ${report.workers.length} worker(s)</p>
${summaryTable(report)}
${charts.join("\n")}
${workersTable(report)}
<script type="application/json" id="report-data">${json}</script>
</body>
</html>
`;
}

function summaryTable(report: ScenarioReport): string {
  const rows: [string, string, number | string][] = [
    ["users-started", "virtual users started", report.users.started],
    ["users-completed", "completed", report.users.completed],
    ["users-failed", "failed", report.users.failed],
    ["connections-peak", "peak connections", report.connections.peak],
    ["registrations", "registrations", report.registrations],
    ["pushes-sent", "pushes sent", report.pushes.sent],
    ["pushes-received", "pushes received", report.pushes.received],
    ["pushes-lost", "pushes lost", report.pushes.lost],
    ["pushes-in-flight", "in flight at the end", report.pushes.inFlightAtEnd],
    ["latency-p50", "push latency p50 (ms)", latency(report.latency, "p50")],
    ["latency-p95", "push latency p95 (ms)", latency(report.latency, "p95")],
    ["latency-p99", "push latency p99 (ms)", latency(report.latency, "p99")],
    ["errors", "errors", Object.values(report.errors).reduce((a, b) => a + b, 0)],
  ];
  const body = rows
    .map(([id, label, value]) => `<tr><th>${label}</th><td class="n" data-metric="${id}">${value}</td></tr>`)
    .join("\n");
  return `<table>\n${body}\n</table>`;
}

function latency(summary: LatencySummary | null, key: "p50" | "p95" | "p99"): string {
  return summary ? String(summary[key]) : "-";
}

function workersTable(report: ScenarioReport): string {
  const rows = report.workers
    .map(
      (w) =>
        `<tr><td>${w.worker}</td><td class="n">${w.pid}</td><td class="n">${w.cpuPercent}%</td>` +
        `<td class="n">${w.eventLoopDelayP99} ms</td><td class="n">${w.peakConnections}</td></tr>`,
    )
    .join("\n");
  return `<h2>Generator workers</h2>
<table><tr><th>worker</th><th>pid</th><th>CPU (one core)</th><th>event-loop delay p99</th><th>peak connections</th></tr>
${rows}
</table>`;
}

function chart(id: string, title: string, unit: string, timeline: TimelinePoint[], series: Series[]): string {
  const head = `<h2>${escapeHtml(title)}</h2>`;
  if (series.length === 0 || timeline.length === 0) {
    return `${head}\n<p class="none" data-chart="${id}" data-empty="true">${id === "errors" ? "No errors." : "No data."}</p>`;
  }
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = niceMax(Math.max(1, ...all));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const last = Math.max(1, timeline.length - 1);
  const x = (i: number) => PAD.left + (i / last) * innerW;
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const v = max * f;
      return (
        `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>` +
        `<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${format(v)}</text>`
      );
    })
    .join("");
  const ticks = xTicks(timeline.length)
    .map(
      (i) =>
        `<text x="${x(i)}" y="${HEIGHT - 8}" text-anchor="middle" font-size="11" fill="#6b7280">${i}s</text>`,
    )
    .join("");
  const lines = series
    .map((s) => {
      const points = s.values
        .map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
        .filter((p) => p !== null)
        .join(" ");
      return `<polyline data-series="${escapeHtml(s.name)}" fill="none" stroke="${s.color}" stroke-width="2" points="${points}"/>`;
    })
    .join("");
  const legend = series
    .map((s) => `<span><i style="background:${s.color}"></i>${escapeHtml(s.name)}</span>`)
    .join("");
  return `${head}
<div class="legend">${legend} <span style="color:#6b7280">(${escapeHtml(unit)})</span></div>
<svg data-chart="${id}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(title)}">${grid}${ticks}${lines}</svg>`;
}

function xTicks(length: number): number[] {
  const step = Math.max(1, Math.ceil(length / 8));
  const ticks: number[] = [];
  for (let i = 0; i < length; i += step) ticks.push(i);
  return ticks;
}

function niceMax(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

function format(value: number): string {
  if (value >= 1000) return `${Math.round(value / 100) / 10}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
