/**
 * The scenario runner: starts test-plan entries (count virtual users at a rate, after a delay),
 * runs each as a VirtualUser, accepts plans spawned by running scenarios, and stops everything
 * when asked. runScenarios is one process's whole run: the runner, its metrics, the generator's
 * own load (measured in worker-load.ts), and the data a report (or a parent process) is made from.
 */

import { describeError, type Logger, silentLogger } from "../log.ts";
import { type NetworkOptions, networkOf } from "../net/proxy.ts";
import { webSocketFor } from "../net/socket.ts";
import type { VapidDetails } from "../sender/send.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import { ErrorLog } from "./error-log.ts";
import { METRIC, MetricsCollector, type MetricsData, type MetricsSink, teeSink } from "./metrics.ts";
import { DEFAULT_DRAIN_MS, milliseconds, whole } from "./option-checks.ts";
import { type PayloadMode, RequestBuilder } from "./payload.ts";
import { type PlanEntry, parsePlans } from "./plan.ts";
import { PushPoster } from "./poster.ts";
import type { ScenarioArgs, ScenarioDefinition } from "./scenario-types.ts";
import { untilSettled } from "./settled.ts";
import { type PushLedger, type RunContext, VirtualUser } from "./virtual-user.ts";
import { measureLoad, type WorkerLoad } from "./worker-load.ts";

export type { WorkerLoad } from "./worker-load.ts";

export interface RunnerOptions extends NetworkOptions {
  serverURL: string;
  allowInsecureServerURL?: boolean;
  payloadMode: PayloadMode;
  sink: MetricsSink;
  errors: ErrorLog;
  vapid: VapidDetails;
  scenarios: ReadonlyMap<string, ScenarioDefinition>;
  WebSocket: WebSocketConstructor;
  logger?: Logger;
  /** Replies to connect/hello/register/unregister. Default 10 000. */
  replyTimeoutMs?: number;
  /** Push POSTs in flight at most. Default 256. */
  sendConcurrency?: number;
  /** Connections being opened at once, at most. Default 200. */
  connectConcurrency?: number;
  now?: () => number;
}

const TICK_MS = 10;

export class ScenarioRunner {
  readonly run: RunContext;
  started = 0;
  completed = 0;
  failed = 0;
  readonly #active = new Set<Promise<unknown>>();
  readonly #users = new Set<VirtualUser>();
  readonly #cancels = new Set<() => void>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Plan entries not fully started yet. */
  #starting = 0;
  #stopped = false;
  #nextId = 0;
  #idle: (() => void) | null = null;
  #draining = false;
  readonly #options: RunnerOptions;
  readonly #poster: PushPoster;
  readonly #requests: RequestBuilder;
  readonly #connectSlot: () => Promise<() => void>;
  /** Relay pushes of every user that have not come back: POSTs unanswered, and accepted ones. */
  readonly #owed: PushLedger = { unanswered: 0, accepted: 0, changed: () => this.#drainCheck?.() };
  #drainCheck: (() => void) | null = null;

  constructor(options: RunnerOptions) {
    this.#poster = new PushPoster({
      maxSockets: options.sendConcurrency ?? 256,
      timeoutMs: 10_000,
      network: networkOf(options),
    });
    this.#requests = new RequestBuilder(options.vapid);
    this.#connectSlot = semaphore(options.connectConcurrency ?? 200);
    this.#options = options;
    this.run = this.#context(options.sink);
  }

  /**
   * A virtual user of this run that reports to `sink` (default the run's) and shares the run's
   * sender, connection slots and stop state: the hook for a driver that runs users itself (the
   * Artillery engine gives each of its users Artillery's metrics). Stopping the runner stops it.
   */
  createUser(sink: MetricsSink = this.run.sink, args: ScenarioArgs = {}): VirtualUser {
    const run = sink === this.run.sink ? this.run : this.#context(sink);
    return new VirtualUser(run, this.#nextId++, args);
  }

  #context(sink: MetricsSink): RunContext {
    const options = this.#options;
    const runner = this;
    return {
      serverURL: options.serverURL,
      allowInsecureServerURL: options.allowInsecureServerURL === true,
      WebSocket: options.WebSocket,
      agentWebSocket: options.WebSocket,
      payloadMode: options.payloadMode,
      sink,
      errors: options.errors,
      poster: this.#poster,
      requests: this.#requests,
      logger: options.logger ?? silentLogger,
      now: options.now ?? (() => performance.now()),
      replyTimeoutMs: options.replyTimeoutMs ?? 10_000,
      connectSlot: this.#connectSlot,
      get stopped() {
        return runner.#stopped;
      },
      get draining() {
        return runner.#draining;
      },
      onStop: (cancel) => {
        this.#cancels.add(cancel);
        return () => this.#cancels.delete(cancel);
      },
      spawn: (plan) => this.start(parsePlans(plan, options.scenarios)),
      owed: this.#owed,
    };
  }

  get active(): number {
    return this.#active.size;
  }

  /** Start plan entries: each after its delay, at its rate. */
  start(entries: PlanEntry[]): void {
    for (const entry of entries) {
      if (entry.count === 0) continue;
      this.#starting++;
      this.#later(entry.delayMs, () => this.#ramp(entry));
    }
  }

  /** Run one virtual user of a scenario to its end (what a plan entry does count times). */
  runOne(scenario: ScenarioDefinition, args: PlanEntry["args"]): Promise<"completed" | "failed" | "stopped"> {
    const user = this.createUser(this.run.sink, args);
    this.#users.add(user);
    this.started++;
    const running = user.execute(scenario).then((outcome) => {
      if (outcome === "completed") this.completed++;
      else if (outcome === "failed") this.failed++;
      return outcome;
    });
    this.#active.add(running);
    void running.finally(() => {
      this.#users.delete(user);
      this.#active.delete(running);
      this.#checkIdle();
    });
    return running;
  }

  /** Resolves when every entry started all its users and every user ended. */
  whenFinished(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle = resolve;
    });
  }

  /** Relay pushes not back yet: POSTs still unanswered, and pushes the server accepted. */
  get owed(): { unanswered: number; accepted: number } {
    return { unanswered: this.#owed.unanswered, accepted: this.#owed.accepted };
  }

  /**
   * The drain window: no new users and no new pushes from now on (a scenario's next send waits
   * for the stop), while the pushes already sent may still arrive; resolves once none is owed
   * or after timeoutMs. Users keep their sockets open until stop().
   */
  drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#starting = 0;
    // Pushes that came in before the window and nobody read yet are back already.
    for (const user of this.#users) user.collectArrivals();
    return untilSettled(
      () => this.#owed.unanswered + this.#owed.accepted === 0,
      timeoutMs,
      (wake) => {
        this.#drainCheck = wake;
      },
    );
  }

  /** Stop starting, stop every user (their waits end, sockets close), close the sender. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const cancel of [...this.#cancels]) cancel();
    // POSTs still waiting for an answer end now rather than at their timeout.
    this.#poster.close();
    await Promise.allSettled([...this.#active]);
    this.#idle?.();
  }

  #ramp(entry: PlanEntry): void {
    const startedAt = this.run.now();
    let started = 0;
    const step = () => {
      if (this.#stopped) return;
      const due =
        entry.rate > 0
          ? Math.min(entry.count, Math.floor(((this.run.now() - startedAt) * entry.rate) / 1000) + 1)
          : entry.count;
      while (started < due) {
        started++;
        void this.runOne(entry.scenario, entry.args);
      }
      if (started < entry.count) {
        this.#later(TICK_MS, step);
        return;
      }
      this.#starting--;
      this.#checkIdle();
    };
    step();
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      try {
        fn();
      } catch (error) {
        this.run.errors.add(`plan: ${describeError(error)}`);
      }
    }, ms);
    this.#timers.add(timer);
  }

  #isIdle(): boolean {
    return this.#starting === 0 && this.#active.size === 0;
  }

  #checkIdle(): void {
    if (this.#idle && this.#isIdle()) this.#idle();
  }
}

/** At most `limit` holders at once; the others wait in arrival order. */
function semaphore(limit: number): () => Promise<() => void> {
  let held = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else held--;
  };
  return () => {
    if (held < limit) {
      held++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve) => waiting.push(() => resolve(once(release))));
  };
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

// ---------------------------------------------------------------------------------------------
// One process's run

export interface ScenarioRunOptions extends NetworkOptions {
  serverURL: string;
  allowInsecureServerURL?: boolean;
  plans: PlanEntry[];
  scenarios: ReadonlyMap<string, ScenarioDefinition>;
  payloadMode: PayloadMode;
  vapid: VapidDetails;
  /** Stop after this long (1 ms-2³¹-1 ms); null runs until every user ended (or the signal). */
  durationMs: number | null;
  /**
   * The drain window once the time is up or the signal aborts: no new users or pushes, while
   * pushes already sent may still arrive (0-2³¹-1 ms). Default 5 000. Then accepted pushes not
   * in are lost, unanswered POSTs in flight at the end.
   */
  drainTimeoutMs?: number;
  signal?: AbortSignal;
  /** Also send every metric here (statsd). */
  sink?: MetricsSink;
  WebSocket?: WebSocketConstructor;
  logger?: Logger;
  /** Default 10 000 ms. */
  replyTimeoutMs?: number;
  /** Push POSTs in flight at most, 1-100 000. Default 256. */
  sendConcurrency?: number;
  /** Connections being opened at once, 1-100 000. Default 200. */
  connectConcurrency?: number;
  /** Default 1 000 ms. */
  progressIntervalMs?: number;
  onProgress?: (progress: RunProgress) => void;
}

export interface RunProgress {
  elapsedMs: number;
  activeUsers: number;
  connections: number;
  registrations: number;
  sent: number;
  received: number;
  errors: number;
}

/** One process's results: what a parent merges and a report is built from. */
export interface ScenarioRunData {
  durationMs: number;
  aborted: boolean;
  /** Every user ended before the time was up. */
  finished: boolean;
  users: { started: number; completed: number; failed: number; stopped: number };
  metrics: MetricsData;
  errors: string[];
  load: WorkerLoad;
}

const ERRORS_KEPT = 20;

/** Checks runScenarios' numbers; a bad one throws a TypeError or RangeError naming it. */
export function checkScenarioRunOptions(options: ScenarioRunOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  if (options.durationMs !== null) milliseconds("durationMs", options.durationMs, false);
  const optional: [keyof ScenarioRunOptions, (value: unknown) => unknown][] = [
    ["drainTimeoutMs", (v) => milliseconds("drainTimeoutMs", v, true)],
    ["replyTimeoutMs", (v) => milliseconds("replyTimeoutMs", v, false)],
    ["progressIntervalMs", (v) => milliseconds("progressIntervalMs", v, false)],
    ["sendConcurrency", (v) => whole("sendConcurrency", v, 1, 100_000)],
    ["connectConcurrency", (v) => whole("connectConcurrency", v, 1, 100_000)],
  ];
  for (const [name, check] of optional) if (options[name] !== undefined) check(options[name]);
}

export async function runScenarios(options: ScenarioRunOptions, worker = 0): Promise<ScenarioRunData> {
  checkScenarioRunOptions(options);
  const WebSocket = await webSocketFor(options);
  const now = () => performance.now();
  const collector = new MetricsCollector(now);
  const errors = new ErrorLog(ERRORS_KEPT);
  const runner = new ScenarioRunner({
    serverURL: options.serverURL,
    allowInsecureServerURL: options.allowInsecureServerURL,
    payloadMode: options.payloadMode,
    sink: options.sink ? teeSink(collector, options.sink) : collector,
    errors,
    vapid: options.vapid,
    scenarios: options.scenarios,
    WebSocket,
    ...networkOf(options),
    logger: options.logger,
    replyTimeoutMs: options.replyTimeoutMs,
    sendConcurrency: options.sendConcurrency,
    connectConcurrency: options.connectConcurrency,
    now,
  });
  const startedAt = now();
  const load = measureLoad(
    worker,
    () => collector.openConnections,
    () => collector.peakConnections,
  );
  const progressTimer = setInterval(() => {
    load.sample();
    options.onProgress?.({
      elapsedMs: Math.round(now() - startedAt),
      activeUsers: runner.active,
      connections: collector.openConnections,
      registrations: collector.count(METRIC.register),
      sent: collector.count(METRIC.sent),
      received: collector.count(METRIC.received),
      errors: Object.values(collector.countersUnder(METRIC.errorPrefix)).reduce((a, b) => a + b, 0),
    });
  }, options.progressIntervalMs ?? 1_000);
  let outcome: "finished" | "timeout" | "aborted";
  try {
    runner.start(options.plans);
    outcome = await untilDone(runner.whenFinished(), options.durationMs, options.signal);
    if (outcome !== "finished") await runner.drain(options.drainTimeoutMs ?? DEFAULT_DRAIN_MS);
  } finally {
    clearInterval(progressTimer);
    load.sample();
    await runner.stop();
  }
  const stopped = runner.started - runner.completed - runner.failed;
  return {
    durationMs: Math.round(now() - startedAt),
    aborted: outcome === "aborted",
    finished: outcome === "finished",
    users: { started: runner.started, completed: runner.completed, failed: runner.failed, stopped },
    metrics: collector.toJSON(),
    errors: errors.lines(),
    load: load.result(),
  };
}

function untilDone(
  finished: Promise<void>,
  durationMs: number | null,
  signal: AbortSignal | undefined,
): Promise<"finished" | "timeout" | "aborted"> {
  if (signal?.aborted) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (outcome: "finished" | "timeout" | "aborted") => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const onAbort = () => done("aborted");
    if (durationMs !== null) timer = setTimeout(() => done("timeout"), durationMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    void finished.then(() => done("finished"));
  });
}
