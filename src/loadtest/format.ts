/**
 * The load test as text: the one-line progress snapshot and the final multi-line report that
 * `push-agent loadtest` prints (and any other front end may reuse).
 */

import type { LoadTestProgress, LoadTestReport } from "./fixed.ts";
import type { LatencySummary } from "./histogram.ts";

export function formatProgress(progress: LoadTestProgress): string {
  const latency = progress.latency ? `  p50 ${ms(progress.latency.p50)} p99 ${ms(progress.latency.p99)}` : "";
  const failed = progress.connectFailures > 0 ? ` (${progress.connectFailures} failed)` : "";
  return (
    `${seconds(progress.elapsedMs).padStart(6)}  ` +
    `connected ${progress.connected}/${progress.agents}${failed}  ` +
    `registered ${progress.registrations}  ` +
    `sent ${progress.pushesSent}  received ${progress.pushesReceived}` +
    (progress.pushesFailed > 0 ? `  failed ${progress.pushesFailed}` : "") +
    latency
  );
}

export function formatReport(report: LoadTestReport): string {
  const plural = report.subscriptionsPerAgent === 1 ? "subscription" : "subscriptions";
  const lines = [
    `Load test of ${report.serverURL}: ${report.agents} agents × ${report.subscriptionsPerAgent} ${plural}, ` +
      `${seconds(report.durationMs)}${report.aborted ? " (stopped early)" : ""}`,
    row(
      "connections",
      `${report.connected} connected at the end, peak ${report.peakConnected} of ${report.agentsStarted} started; ` +
        `${report.connectFailures} failed, ${report.disconnects} dropped`,
    ),
    row("connect time", percentiles(report.connectLatency)),
    row("registrations", `${report.registrations} ok, ${report.registrationFailures} failed`),
    row("register time", percentiles(report.registerLatency)),
    row("pushes", pushCounts(report)),
    row("push latency", percentiles(report.latency)),
    row("generator", generatorLoad(report)),
  ];
  if (report.errors.length > 0) lines.push("  errors:", ...report.errors.map((e) => `    ${e}`));
  return `${lines.join("\n")}\n`;
}

function pushCounts(report: LoadTestReport): string {
  const parts = [
    `${report.pushesSent} sent`,
    `${report.pushesReceived} received`,
    `${report.pushesLost} lost`,
    `${report.pushesFailed} failed`,
    `${report.pushesInFlightAtEnd} in flight at the end (drain ${seconds(report.drainTimeoutMs)})`,
  ];
  const optional: [number, string][] = [
    [report.pushesSkipped, "skipped (sender behind)"],
    [report.pushesUnexpected, "unexpected"],
    [report.pushesMisrouted, "misrouted"],
    [report.decryptErrors, "not decryptable"],
  ];
  for (const [count, what] of optional) if (count > 0) parts.push(`${count} ${what}`);
  return parts.join(", ");
}

/** Above these, the generator's own delays are a visible part of the latencies it measured. */
const BUSY_CPU_PERCENT = 90;
const BUSY_LOOP_DELAY_MS = 50;

function generatorLoad({ generator }: LoadTestReport): string {
  const text = `CPU ${generator.cpuPercent}% of a core, event-loop delay p99 ${ms(generator.eventLoopDelayP99)}`;
  const busy = generator.cpuPercent >= BUSY_CPU_PERCENT || generator.eventLoopDelayP99 >= BUSY_LOOP_DELAY_MS;
  return busy ? `${text} — busy: latencies include its own delays; split agents over processes` : text;
}

function row(label: string, text: string): string {
  return `  ${label.padEnd(15)}${text}`;
}

function percentiles(summary: LatencySummary | null): string {
  if (!summary) return "-";
  return (
    `p50 ${ms(summary.p50)}  p90 ${ms(summary.p90)}  p99 ${ms(summary.p99)}  max ${ms(summary.max)}` +
    `  (${summary.count})`
  );
}

function ms(value: number): string {
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`;
}

function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(1)}s`;
}
