/**
 * A scenario run over several processes. The plan is checked here, then every worker (a child
 * process running worker.ts) gets the same configuration and its index, runs its share of each
 * entry (count and rate divided by the number of workers) and sends back progress and its data;
 * buildReport merges them into one report. With one worker the run stays in this process.
 * When a child fails (an error, a crash, an exit before its report), every other child is
 * stopped, its data still merged, and the failure goes into the report's workerFailures.
 *
 * Source runs (tsx) start workers under tsx as well; built runs start dist/loadtest/worker.js.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describeError } from "../log.ts";
import type { VapidDetails } from "../server/send.ts";
import { DEFAULT_DRAIN_MS } from "./option-checks.ts";
import type { PayloadMode } from "./payload.ts";
import { parsePlans, shareOf } from "./plan.ts";
import { buildReport, type ScenarioReport } from "./report.ts";
import { type RunProgress, runScenarios, type ScenarioRunData } from "./runner.ts";
import { loadScenarios } from "./scenario-module.ts";
import type { ScenarioArgs } from "./scenario-types.ts";
import { StatsdSink } from "./statsd.ts";

/** Everything a worker needs, as plain data. */
export interface PlanRunConfig {
  serverURL: string;
  allowInsecureServerURL: boolean;
  /** Plan texts (`scenario,count,rate,delay[,args…]`, `|` allowed). */
  plans: string[];
  /** `--arg` values. */
  args: ScenarioArgs;
  scenarioModule: string | null;
  payloadMode: PayloadMode;
  durationMs: number | null;
  /** The drain window (runScenarios' drainTimeoutMs). Default 5 000. */
  drainTimeoutMs?: number;
  statsd: { host: string; port: number; prefix: string } | null;
  vapid: VapidDetails;
  replyTimeoutMs?: number;
  sendConcurrency?: number;
  /** Connections being opened at once over all workers (each gets its share). */
  connectConcurrency?: number;
}

export type WorkerMessage =
  | { type: "progress"; progress: RunProgress }
  | { type: "done"; data: ScenarioRunData }
  | { type: "failed"; message: string };

export type ParentMessage =
  | { type: "run"; config: PlanRunConfig; worker: number; workers: number }
  | { type: "stop" };

/** One process's share of the run. */
export async function runShare(
  config: PlanRunConfig,
  worker: number,
  workers: number,
  hooks: { signal?: AbortSignal; onProgress?: (progress: RunProgress) => void },
): Promise<ScenarioRunData> {
  const scenarios = await loadScenarios(config.scenarioModule);
  const plans = parsePlans(config.plans.join("|"), scenarios, config.args).map((entry) => ({
    ...entry,
    ...shareOf(entry, workers, worker),
  }));
  const statsd = config.statsd
    ? new StatsdSink({ ...config.statsd, tags: workers > 1 ? [`worker:${worker}`] : [] })
    : undefined;
  try {
    return await runScenarios(
      {
        serverURL: config.serverURL,
        allowInsecureServerURL: config.allowInsecureServerURL,
        plans,
        scenarios,
        payloadMode: config.payloadMode,
        vapid: config.vapid,
        durationMs: config.durationMs,
        drainTimeoutMs: config.drainTimeoutMs,
        signal: hooks.signal,
        sink: statsd,
        replyTimeoutMs: config.replyTimeoutMs,
        sendConcurrency: config.sendConcurrency,
        connectConcurrency:
          config.connectConcurrency === undefined
            ? undefined
            : Math.max(1, Math.ceil(config.connectConcurrency / workers)),
        onProgress: hooks.onProgress,
      },
      worker,
    );
  } finally {
    await statsd?.close();
  }
}

/** Run the plan on `workers` processes (1: this one) and merge their data into one report. */
export async function runPlan(
  config: PlanRunConfig,
  workers: number,
  hooks: { signal?: AbortSignal; onProgress?: (progress: RunProgress) => void } = {},
): Promise<ScenarioReport> {
  // Fails on a bad plan or module before any process or socket starts.
  parsePlans(config.plans.join("|"), await loadScenarios(config.scenarioModule), config.args);
  const info = { serverURL: config.serverURL, plans: config.plans, payload: config.payloadMode };
  if (workers <= 1) return buildReport(info, [await runShare(config, 0, 1, hooks)]);
  // One stop for every child: the caller's signal, or the first child that fails.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  hooks.signal?.addEventListener("abort", onAbort, { once: true });
  const failures: string[] = [];
  const latest: RunProgress[] = [];
  const stopGraceMs = (config.drainTimeoutMs ?? DEFAULT_DRAIN_MS) + STOP_GRACE_MS;
  try {
    const runs = await Promise.all(
      Array.from({ length: workers }, (_, index) =>
        runChild(config, index, workers, stop.signal, stopGraceMs, (progress) => {
          latest[index] = progress;
          if (index === 0) hooks.onProgress?.(sumProgress(latest));
        }).catch((error: unknown) => {
          failures.push(describeError(error));
          stop.abort();
          return null;
        }),
      ),
    );
    return buildReport(
      info,
      runs.filter((run) => run !== null),
      failures,
    );
  } finally {
    hooks.signal?.removeEventListener("abort", onAbort);
  }
}

function sumProgress(all: RunProgress[]): RunProgress {
  const total: RunProgress = {
    elapsedMs: 0,
    activeUsers: 0,
    connections: 0,
    registrations: 0,
    sent: 0,
    received: 0,
    errors: 0,
  };
  for (const p of all) {
    if (!p) continue;
    total.elapsedMs = Math.max(total.elapsedMs, p.elapsedMs);
    total.activeUsers += p.activeUsers;
    total.connections += p.connections;
    total.registrations += p.registrations;
    total.sent += p.sent;
    total.received += p.received;
    total.errors += p.errors;
  }
  return total;
}

/** How long a stopped child may take beyond the drain window to send its data, before it is killed. */
const STOP_GRACE_MS = 10_000;

function runChild(
  config: PlanRunConfig,
  worker: number,
  workers: number,
  signal: AbortSignal,
  stopGraceMs: number,
  onProgress: (progress: RunProgress) => void,
): Promise<ScenarioRunData> {
  const child = startWorker();
  return new Promise((resolve, reject) => {
    let settled = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      if (child.connected) child.send({ type: "stop" } satisfies ParentMessage);
      // A child that does not answer the stop is not left loading the server.
      killTimer = setTimeout(() => child.kill("SIGKILL"), stopGraceMs);
    };
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    const finish = (error: Error | null, data?: ScenarioRunData) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      signal.removeEventListener("abort", stop);
      if (child.connected) child.disconnect();
      if (error) {
        // Whatever went wrong, the process does not go on by itself.
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        reject(error);
      } else resolve(data!);
    };
    child.on("message", (message: WorkerMessage) => {
      if (message.type === "progress") onProgress(message.progress);
      else if (message.type === "done") finish(null, message.data);
      else finish(new Error(`worker ${worker}: ${message.message}`));
    });
    child.on("error", (error) => finish(new Error(`worker ${worker}: ${describeError(error)}`)));
    child.on("exit", (code, signalName) =>
      finish(new Error(`worker ${worker} exited (${signalName ?? code}) before its report`)),
    );
    child.send({ type: "run", config, worker, workers } satisfies ParentMessage);
  });
}

function startWorker(): ChildProcess {
  const source = import.meta.url.endsWith(".ts");
  const path = fileURLToPath(new URL(source ? "./worker.ts" : "./worker.js", import.meta.url));
  // From the source tree the worker needs the same TypeScript loader and source condition.
  const execArgv = source ? ["--import", "tsx", "--conditions=push-agent-source"] : [];
  return fork(path, [], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
}
