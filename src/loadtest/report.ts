/**
 * The scenario run's report: the workers' data merged (counters summed, histograms merged,
 * seconds lined up) into totals, percentiles, errors by kind, a per-second timeline for the
 * charts, and each worker's load; plus its text form.
 */

import type { LatencySummary } from "./histogram.ts";
import { LatencyHistogram } from "./histogram.ts";
import { METRIC, MetricsCollector } from "./metrics.ts";
import type { PayloadMode } from "./payload.ts";
import type { ScenarioRunData, WorkerLoad } from "./runner.ts";

export interface TimelinePoint {
  second: number;
  /** Open at the end of this second. */
  connections: number;
  /** Most open at once during the second. */
  peakConnections: number;
  registrations: number;
  sent: number;
  received: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  errors: Record<string, number>;
}

export interface ScenarioReport {
  serverURL: string;
  plans: string[];
  payload: PayloadMode;
  durationMs: number;
  aborted: boolean;
  finished: boolean;
  users: ScenarioRunData["users"];
  connections: { opened: number; closed: number; peak: number };
  registrations: number;
  /**
   * Relay pushes. lost: accepted (2xx) and not in by the end of the drain window; inFlightAtEnd:
   * POSTs still unanswered then (unfinished, not lost).
   */
  pushes: {
    sent: number;
    received: number;
    acked: number;
    lost: number;
    inFlightAtEnd: number;
    unknown: number;
    bytes: number;
  };
  /** POST → notification frame, relay pushes this generator sent. */
  latency: LatencySummary | null;
  connectTime: LatencySummary | null;
  helloTime: LatencySummary | null;
  registerTime: LatencySummary | null;
  /** The scenarios' named timers. */
  timers: Record<string, LatencySummary>;
  counters: Record<string, number>;
  /** error.<kind> counters, by kind. */
  errors: Record<string, number>;
  errorMessages: string[];
  timeline: TimelinePoint[];
  workers: WorkerLoad[];
  /**
   * Worker processes that failed (crashed, exited, or reported an error), each with its reason.
   * One failing stops the run: the others are stopped and their data is still in the report.
   */
  workerFailures: string[];
  /** Generator heap growth per open connection, at each worker's fullest progress tick; null without one. */
  heapPerConnectionBytes: number | null;
}

export function buildReport(
  info: { serverURL: string; plans: string[]; payload: PayloadMode },
  runs: ScenarioRunData[],
  workerFailures: string[] = [],
): ScenarioReport {
  const merged = new MetricsCollector();
  for (const run of runs) merged.merge(run.metrics);
  const data = merged.toJSON();
  const count = (name: string) => data.counters[name] ?? 0;
  const summary = (name: string) => merged.histogramOf(name)?.summary() ?? null;
  const timers: Record<string, LatencySummary> = {};
  for (const name of Object.keys(data.histograms)) {
    if (!name.startsWith(METRIC.timerPrefix)) continue;
    const s = summary(name);
    if (s) timers[name.slice(METRIC.timerPrefix.length)] = s;
  }
  let open = 0;
  const timeline = data.seconds.map((second, index): TimelinePoint => {
    const c = (name: string) => second.counters[name] ?? 0;
    open += c(METRIC.connectionOpened) - c(METRIC.connectionClosed);
    const latency = second.latency ? LatencyHistogram.fromJSON(second.latency) : null;
    const at = (p: number) => (latency ? Math.round(latency.percentile(p) * 100) / 100 : null);
    const errors: Record<string, number> = {};
    for (const [name, value] of Object.entries(second.counters)) {
      if (name.startsWith(METRIC.errorPrefix)) errors[name.slice(METRIC.errorPrefix.length)] = value;
    }
    return {
      second: index,
      connections: open,
      peakConnections: second.peakConnections,
      registrations: c(METRIC.register),
      sent: c(METRIC.sent),
      received: c(METRIC.received),
      p50: at(50),
      p95: at(95),
      p99: at(99),
      errors,
    };
  });
  const workers = runs.map((run) => run.load);
  const peak = data.peakConnections;
  const heapGrowth = workers.reduce((sum, w) => sum + Math.max(0, w.heapAtPeakBytes - w.heapAtStartBytes), 0);
  const held = workers.reduce((sum, w) => sum + w.heapSampledConnections, 0);
  return {
    ...info,
    durationMs: Math.max(0, ...runs.map((r) => r.durationMs)),
    aborted: runs.some((r) => r.aborted),
    finished: workerFailures.length === 0 && runs.every((r) => r.finished),
    users: {
      started: sum(runs, (r) => r.users.started),
      completed: sum(runs, (r) => r.users.completed),
      failed: sum(runs, (r) => r.users.failed),
      stopped: sum(runs, (r) => r.users.stopped),
    },
    connections: { opened: count(METRIC.connectionOpened), closed: count(METRIC.connectionClosed), peak },
    registrations: count(METRIC.register),
    pushes: {
      sent: count(METRIC.sent),
      received: count(METRIC.received),
      acked: count(METRIC.acked),
      lost: count(METRIC.lost),
      inFlightAtEnd: count(METRIC.inFlightAtEnd),
      unknown: count("notification.unknown"),
      bytes: count(METRIC.sentBytes),
    },
    latency: summary(METRIC.latency),
    connectTime: summary(METRIC.connectTime),
    helloTime: summary(METRIC.helloTime),
    registerTime: summary(METRIC.registerTime),
    timers,
    counters: data.counters,
    errors: merged.countersUnder(METRIC.errorPrefix),
    errorMessages: [...new Set(runs.flatMap((r) => r.errors))].slice(0, 20),
    timeline,
    workers,
    workerFailures,
    // Below a few hundred connections the figure is garbage-collector noise, not a cost per connection.
    heapPerConnectionBytes: held >= MIN_HEAP_SAMPLE && heapGrowth > 0 ? Math.round(heapGrowth / held) : null,
  };
}

const MIN_HEAP_SAMPLE = 500;

const sum = <T>(items: T[], of: (item: T) => number) => items.reduce((total, item) => total + of(item), 0);

export function formatScenarioReport(report: ScenarioReport): string {
  const seconds = (report.durationMs / 1000).toFixed(1);
  const end = report.aborted ? " (stopped early)" : report.finished ? " (every user finished)" : "";
  const u = report.users;
  const p = report.pushes;
  const rate = report.durationMs > 0 ? Math.round((p.received * 1000) / report.durationMs) : 0;
  const lines = [
    `Load test of ${report.serverURL}: ${report.plans.join(" | ")}, ${report.payload} payloads, ${seconds}s${end}`,
    row(
      "users",
      `${u.started} started, ${u.completed} completed, ${u.failed} failed, ${u.stopped} stopped at the end`,
    ),
    row(
      "connections",
      `${report.connections.opened} opened, ${report.connections.closed} closed, peak ${report.connections.peak} open`,
    ),
    row("connect time", percentiles(report.connectTime)),
    row("hello time", percentiles(report.helloTime)),
    row("registrations", `${report.registrations}`),
    row("register time", percentiles(report.registerTime)),
    row(
      "pushes",
      `${p.sent} sent, ${p.received} received (${rate}/s), ${p.acked} acked, ${p.lost} lost, ` +
        `${p.inFlightAtEnd} in flight at the end` +
        (p.unknown > 0 ? `, ${p.unknown} with unknown bytes` : ""),
    ),
    row("push latency", percentiles(report.latency)),
  ];
  for (const [name, timer] of Object.entries(report.timers))
    lines.push(row("timer", `${name}: ${percentiles(timer)}`));
  const errors = Object.entries(report.errors);
  lines.push(
    row("errors", errors.length === 0 ? "none" : errors.map(([kind, n]) => `${kind} ${n}`).join(", ")),
  );
  for (const worker of report.workers) {
    lines.push(
      row(
        `worker ${worker.worker}`,
        `pid ${worker.pid}, CPU ${worker.cpuPercent}% of a core, event-loop delay p99 ${worker.eventLoopDelayP99} ms, ` +
          `peak ${worker.peakConnections} connections`,
      ),
    );
  }
  if (report.heapPerConnectionBytes !== null) {
    lines.push(
      row("heap", `${(report.heapPerConnectionBytes / 1024).toFixed(1)} KB per connection at the peak`),
    );
  }
  if (report.workerFailures.length > 0)
    lines.push("  failed workers (the run was stopped):", ...report.workerFailures.map((e) => `    ${e}`));
  if (report.errorMessages.length > 0)
    lines.push("  first errors:", ...report.errorMessages.map((e) => `    ${e}`));
  return `${lines.join("\n")}\n`;
}

function row(label: string, text: string): string {
  return `  ${label.padEnd(15)}${text}`;
}

function percentiles(summary: LatencySummary | null): string {
  if (!summary) return "-";
  const ms = (v: number) => (v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`);
  return `p50 ${ms(summary.p50)}  p95 ${ms(summary.p95)}  p99 ${ms(summary.p99)}  max ${ms(summary.max)}  (${summary.count})`;
}
