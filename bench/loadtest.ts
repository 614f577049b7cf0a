/**
 * Bench 5, the load tester (push-agent loadtest --plan) against the local push server in its own
 * process, with the generator's and the server's CPU:
 *
 * - idle: connect_and_idle_forever, as many agents as the open-file limit leaves room for (goal
 *   19,000 at `ulimit -n 20000`), with the generator's heap per agent after a GC;
 * - relay: notification_forever with relay payloads at 2,000 agents × 1 push/s (the shape the
 *   e2e mode managed ≈ 550/s at), and a heavier relay load, beside today's e2e mode (runLoadTest,
 *   real encryption and decryption) at 2,000 × 1/s, measured in the same run;
 * - workers: the heavier relay load on 1 and on 2 generator processes.
 *
 * Every generator process is a fresh bench worker (loadtest-worker.ts); two of them are what
 * `--workers 2` runs. BENCH_LOADTEST_SECONDS sets the length of each push run (default 20).
 */

import { execFileSync } from "node:child_process";
import { runLoadTest } from "../src/loadtest/index.ts";
import { runVapidKeys } from "../src/loadtest/payload.ts";
import { buildReport, type ScenarioReport } from "../src/loadtest/report.ts";
import type { ScenarioRunData } from "../src/loadtest/runner.ts";
import type { PlanRunConfig } from "../src/loadtest/workers.ts";
import { type ChildServer, round, runWorker, startServerProcess } from "./support.ts";

const SECONDS = Number(process.env.BENCH_LOADTEST_SECONDS ?? 20);
/** BENCH_LOADTEST_PARTS=idle,relay,e2e narrows a run. */
const PARTS = new Set((process.env.BENCH_LOADTEST_PARTS ?? "idle,relay,e2e").split(","));
/** File descriptors kept free for everything that is not a connection (per process). */
const FD_HEADROOM = 600;
const IDLE_GOAL = 19_000;

function openFileLimit(): number {
  const text = execFileSync("/bin/sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  return text === "unlimited" ? 1_000_000 : Number(text);
}

interface Measured {
  report: ScenarioReport;
  /** Server CPU over the run, % of one core. */
  serverCpu: number;
}

async function plan(
  server: ChildServer,
  plans: string[],
  durationMs: number | null,
  workers: number,
  connectConcurrency = 200,
): Promise<Measured> {
  const config: PlanRunConfig = {
    serverURL: server.url,
    allowInsecureServerURL: false,
    plans,
    args: {},
    scenarioModule: null,
    payloadMode: "relay",
    durationMs,
    statsd: null,
    vapid: runVapidKeys(),
    connectConcurrency,
  };
  const before = await server.cpu();
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: workers }, (_, i) =>
      runWorker<ScenarioRunData>(
        "loadtest-worker.ts",
        [JSON.stringify(config), String(i), String(workers)],
        ["--expose-gc"],
      ),
    ),
  );
  const serverCpu = cpuPercent(before, await server.cpu(), performance.now() - started);
  return { report: buildReport({ serverURL: server.url, plans, payload: "relay" }, runs), serverCpu };
}

function cpuPercent(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage, wallMs: number): number {
  const used = after.user - before.user + (after.system - before.system);
  return Math.round((used / (wallMs * 1000)) * 100);
}

const generatorCpu = (report: ScenarioReport) => report.workers.reduce((sum, w) => sum + w.cpuPercent, 0);
const pushRate = (report: ScenarioReport) => Math.round((report.pushes.received * 1000) / report.durationMs);

/** Pushes received per second once every agent was connected (the last, partial second left out). */
function steadyRate(report: ScenarioReport): number {
  const t = report.timeline;
  const from = t.findIndex((second) => second.peakConnections >= report.connections.peak);
  const window = t.slice(from + 1, -1);
  if (from < 0 || window.length === 0) return Number.NaN;
  return Math.round(window.reduce((sum, second) => sum + second.received, 0) / window.length);
}

function pushFigures(prefix: string, m: Measured, results: Record<string, number>): void {
  results[`${prefix}_received_per_s`] = pushRate(m.report);
  results[`${prefix}_steady_received_per_s`] = steadyRate(m.report);
  results[`${prefix}_sent`] = m.report.pushes.sent;
  results[`${prefix}_received`] = m.report.pushes.received;
  results[`${prefix}_failed_users`] = m.report.users.failed;
  results[`${prefix}_p50_ms`] = m.report.latency?.p50 ?? Number.NaN;
  results[`${prefix}_p95_ms`] = m.report.latency?.p95 ?? Number.NaN;
  results[`${prefix}_p99_ms`] = m.report.latency?.p99 ?? Number.NaN;
  results[`${prefix}_generator_cpu_pct`] = generatorCpu(m.report);
  results[`${prefix}_server_cpu_pct`] = m.serverCpu;
  console.error(
    `  loadtest ${prefix}: ${pushRate(m.report)}/s received (${steadyRate(m.report)}/s once connected), p50 ${m.report.latency?.p50} ms, p99 ${m.report.latency?.p99} ms, ` +
      `generator CPU ${generatorCpu(m.report)}%, server CPU ${m.serverCpu}%`,
  );
}

export async function benchLoadtest(): Promise<Record<string, number>> {
  const results: Record<string, number> = { seconds: SECONDS };
  const limit = openFileLimit();
  results.open_file_limit = limit;

  // Idle connections: one server process, one generator process.
  const idle = Math.min(IDLE_GOAL, Math.floor((limit - FD_HEADROOM) / 100) * 100);
  if (PARTS.has("idle")) {
    const server = await startServerProcess();
    try {
      // Started 1,000 per second, opened 200 at a time; the run lasts until all could be connected at 300/s, plus 5 s held.
      const m = await plan(server, [`connect_and_idle_forever,${idle},1000,0`], (idle / 300 + 5) * 1000, 1);
      results.idle_agents = idle;
      results.idle_peak_connections = m.report.connections.peak;
      results.idle_heap_kb_per_agent = round((m.report.heapPerConnectionBytes ?? Number.NaN) / 1024, 2);
      results.idle_generator_cpu_pct = generatorCpu(m.report);
      results.idle_server_cpu_pct = m.serverCpu;
      results.idle_connect_p99_ms = m.report.connectTime?.p99 ?? Number.NaN;
      results.idle_connect_errors = m.report.errors.connect ?? 0;
      console.error(
        `  loadtest idle: ${m.report.connections.peak} of ${idle} held, ${results.idle_heap_kb_per_agent} KB heap per agent`,
      );
    } finally {
      await server.close();
    }
  }

  const durationMs = SECONDS * 1000;
  // Relay at today's e2e shape, then heavier; each on a fresh server.
  const runs: [string, string[], number][] = [
    ["relay_2000x1", ["notification_forever,2000,1000,0,1"], 1],
    ["relay_heavy_w1", ["notification_forever,3000,1000,0,0"], 1],
    ["relay_heavy_w2", ["notification_forever,3000,1000,0,0"], 2],
  ];
  for (const [name, plans, workers] of PARTS.has("relay") ? runs : []) {
    const server = await startServerProcess();
    try {
      pushFigures(name, await plan(server, plans, durationMs, workers), results);
    } finally {
      await server.close();
    }
  }

  // Today's e2e mode, same machine, same run: 2,000 agents × 1 push/s, real crypto both sides.
  if (PARTS.has("e2e")) {
    const server = await startServerProcess();
    try {
      const before = await server.cpu();
      const started = performance.now();
      const e2e = await runLoadTest({
        serverURL: server.url,
        agents: 2_000,
        durationMs,
        pushIntervalMs: 1_000,
      });
      results.e2e_2000x1_received_per_s = Math.round((e2e.pushesReceived * 1000) / e2e.durationMs);
      results.e2e_2000x1_skipped = e2e.pushesSkipped;
      results.e2e_2000x1_p50_ms = e2e.latency?.p50 ?? Number.NaN;
      results.e2e_2000x1_p99_ms = e2e.latency?.p99 ?? Number.NaN;
      results.e2e_2000x1_generator_cpu_pct = e2e.generator.cpuPercent;
      results.e2e_2000x1_server_cpu_pct = cpuPercent(before, await server.cpu(), performance.now() - started);
      console.error(`  loadtest e2e_2000x1: ${results.e2e_2000x1_received_per_s}/s received`);
    } finally {
      await server.close();
    }
  }
  const relayBest = Math.max(
    results.relay_2000x1_received_per_s ?? 0,
    results.relay_heavy_w1_received_per_s ?? 0,
    results.relay_heavy_w2_received_per_s ?? 0,
  );
  results.relay_best_vs_e2e = round(relayBest / results.e2e_2000x1_received_per_s!, 2);
  results.workers_2_vs_1 = round(
    results.relay_heavy_w2_received_per_s! / results.relay_heavy_w1_received_per_s!,
    2,
  );
  return results;
}
