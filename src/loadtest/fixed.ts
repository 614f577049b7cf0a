/**
 * The fixed mode of the load tester: `runLoadTest` starts many simulated user agents (PushServices
 * with in-memory stores), subscribes each to a few scopes, and meanwhile plays the application
 * server, pushing encrypted aes128gcm messages to every subscription at a steady rate. It
 * reports connections, registrations, pushes sent and received, and latency percentiles (POST →
 * the agent's push-message observer), with a progress snapshot about once a second.
 *
 * The run lasts `durationMs` from the start, connect phase included: pushes to a subscription
 * begin as soon as it exists. When the time is up (or `signal` aborts) sending stops, pushes
 * still under way get a bounded drain, then every agent is stopped and the HTTP sockets closed,
 * so nothing of the run is left open.
 *
 * Only run it against servers you operate: thousands of agents are real load.
 */

import { monitorEventLoopDelay } from "node:perf_hooks";
import { describeError, type Logger, silentLogger } from "../log.ts";
import { resolveOptions as checkServiceOptions } from "../service/options.ts";
import { loadDefaultWebSocket, type WebSocketConstructor } from "../transport/websocket.ts";
import { ErrorLog } from "./error-log.ts";
import { Fleet } from "./fleet.ts";
import type { LatencySummary } from "./histogram.ts";
import { DEFAULT_DRAIN_MS, MAX_DELAY, milliseconds, whole } from "./option-checks.ts";
import { runVapidKeys } from "./payload.ts";
import { PushPoster } from "./poster.ts";
import { Pusher } from "./pusher.ts";

export interface LoadTestOptions {
  /** The autopush server's WebSocket URL (wss://, or ws:// to a loopback host). */
  serverURL: string;
  /** Simulated user agents, one WebSocket each. */
  agents: number;
  /** Scopes each agent subscribes. Default 1. */
  subscriptionsPerAgent?: number;
  /** How long the whole run lasts, connect phase included. */
  durationMs: number;
  /** ms between two pushes to the same subscription; null sends none. Default 1 000. */
  pushIntervalMs?: number | null;
  /** Plaintext bytes per push (16-3993). Default 100. */
  payloadBytes?: number;
  /** Seconds the push service may keep a push for an offline agent. Default 60. */
  ttl?: number;
  /** Subscribe with a VAPID key generated for the run, and sign every push with it. Default false. */
  vapid?: boolean;
  /** Agents connecting at the same time, at most. Default 100. */
  connectConcurrency?: number;
  /** Spread agent starts evenly over this many ms. Default 0 (as fast as connectConcurrency allows). */
  rampUpMs?: number;
  /** An agent not connected this long after its start counts as failed. Default 10 000. */
  connectTimeoutMs?: number;
  /** Push POSTs in flight at most (over one keep-alive socket pool). Default 64. */
  sendConcurrency?: number;
  /** ms a push POST may take. Default 10 000. */
  requestTimeoutMs?: number;
  /**
   * The drain window: after sending stops, how long pushes still under way may take to arrive
   * (0-2³¹-1 ms). Default 5 000. Accepted pushes not in by then are lost; POSTs not answered by
   * then are in flight at the end, not lost.
   */
  drainTimeoutMs?: number;
  /** ms between onProgress calls. Default 1 000. */
  progressIntervalMs?: number;
  /** Allow ws:// to a non-loopback host. Default false. */
  allowInsecureServerURL?: boolean;
  /** Ends the run early; the report is still returned. */
  signal?: AbortSignal;
  onProgress?: (progress: LoadTestProgress) => void;
  /** WebSocket constructor for the agents; default the runtime's, else `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Gets every agent's log lines. Default silent (warnings still reach report.errors). */
  logger?: Logger;
}

/** The run so far, as onProgress sees it. */
export interface LoadTestProgress {
  elapsedMs: number;
  /** The agents option: how many the run will start. */
  agents: number;
  agentsStarted: number;
  connected: number;
  connectFailures: number;
  registrations: number;
  registrationFailures: number;
  pushesSent: number;
  pushesReceived: number;
  pushesFailed: number;
  /** POSTs waiting for their answer. */
  pushesInFlight: number;
  /** Push latency so far; null before the first push arrived. */
  latency: LatencySummary | null;
}

export interface LoadTestReport {
  serverURL: string;
  agents: number;
  subscriptionsPerAgent: number;
  /** How long the run took, drain included. */
  durationMs: number;
  /** The signal ended the run before durationMs. */
  aborted: boolean;
  agentsStarted: number;
  /** Connected when the run ended, before the agents were stopped. */
  connected: number;
  peakConnected: number;
  /** Agents that timed out connecting, or were not connected when the run ended. */
  connectFailures: number;
  /** Connections lost during the run (the agent reconnects by itself). */
  disconnects: number;
  registrations: number;
  registrationFailures: number;
  /** Pushes the push service accepted (2xx). */
  pushesSent: number;
  /** Pushes that reached their subscription's observer, once each. */
  pushesReceived: number;
  /** POSTs refused or failed on the network. */
  pushesFailed: number;
  /** POSTs still unanswered when the drain window ended: unfinished, neither failed nor lost. */
  pushesInFlightAtEnd: number;
  /** The drain window the run waited (at most) after sending stopped, ms. */
  drainTimeoutMs: number;
  /** Pushes the schedule asked for that the sender was too far behind to send. */
  pushesSkipped: number;
  /** Accepted (2xx) but not received by the end of the drain window. */
  pushesLost: number;
  /** Received again, after their POST failed, or unreadable. */
  pushesUnexpected: number;
  /** Delivered to another subscription than the one they were sent to. */
  pushesMisrouted: number;
  decryptErrors: number;
  /** Push latency in ms: POST → push-message observer. */
  latency: LatencySummary | null;
  /** Agent start → connection Ready (hello answered), ms. */
  connectLatency: LatencySummary | null;
  /** subscribe() call → subscription stored, ms. */
  registerLatency: LatencySummary | null;
  /** This process, the load generator: when it is busy, latencies include its own delays. */
  generator: GeneratorLoad;
  /** The first distinct error messages, each with its count when above one. */
  errors: string[];
}

export interface GeneratorLoad {
  /** CPU time over wall time, in % of one core (crypto work on the thread pool can push it over 100). */
  cpuPercent: number;
  /** How late timers ran, in ms. */
  eventLoopDelayP99: number;
  eventLoopDelayMax: number;
}

interface LoadTestConfig {
  serverURL: string;
  agents: number;
  subscriptionsPerAgent: number;
  durationMs: number;
  pushIntervalMs: number | null;
  payloadBytes: number;
  ttl: number;
  vapid: boolean;
  connectConcurrency: number;
  rampUpMs: number;
  connectTimeoutMs: number;
  sendConcurrency: number;
  requestTimeoutMs: number;
  drainTimeoutMs: number;
  progressIntervalMs: number;
  allowInsecureServerURL: boolean;
}

/** Largest aes128gcm plaintext that fits the 4096-byte record every push service accepts. */
export const MAX_PAYLOAD_BYTES = 3993;
/** Room for the sequence number each payload starts with. */
export const MIN_PAYLOAD_BYTES = 16;
const ERRORS_KEPT = 10;

/** Check every option; a bad one throws a TypeError or RangeError naming it. */
export function resolveLoadTestOptions(options: LoadTestOptions): LoadTestConfig {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  if (typeof options.serverURL !== "string") throw new TypeError("serverURL must be a string");
  const allowInsecureServerURL = options.allowInsecureServerURL === true;
  // The same URL rules as every PushService: wss://, or ws:// to loopback unless allowed.
  checkServiceOptions({ serverURL: options.serverURL, allowInsecureServerURL });
  const pushIntervalMs = options.pushIntervalMs === undefined ? 1_000 : options.pushIntervalMs;
  return {
    serverURL: options.serverURL,
    agents: whole("agents", options.agents, 1, 1_000_000),
    subscriptionsPerAgent: whole("subscriptionsPerAgent", options.subscriptionsPerAgent ?? 1, 1, 10_000),
    durationMs: milliseconds("durationMs", options.durationMs, false),
    pushIntervalMs: pushIntervalMs === null ? null : milliseconds("pushIntervalMs", pushIntervalMs, false),
    payloadBytes: whole("payloadBytes", options.payloadBytes ?? 100, MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES),
    ttl: whole("ttl", options.ttl ?? 60, 0, 2_592_000),
    vapid: options.vapid === true,
    connectConcurrency: whole("connectConcurrency", options.connectConcurrency ?? 100, 1, 100_000),
    rampUpMs: milliseconds("rampUpMs", options.rampUpMs ?? 0, true),
    connectTimeoutMs: milliseconds("connectTimeoutMs", options.connectTimeoutMs ?? 10_000, false),
    sendConcurrency: whole("sendConcurrency", options.sendConcurrency ?? 64, 1, 10_000),
    requestTimeoutMs: milliseconds("requestTimeoutMs", options.requestTimeoutMs ?? 10_000, false),
    drainTimeoutMs: milliseconds("drainTimeoutMs", options.drainTimeoutMs ?? DEFAULT_DRAIN_MS, true),
    progressIntervalMs: milliseconds("progressIntervalMs", options.progressIntervalMs ?? 1_000, false),
    allowInsecureServerURL,
  };
}

/** Run one load test; resolves with its report. Rejects only for bad options. */
export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestReport> {
  const config = resolveLoadTestOptions(options);
  // Loaded before the clock starts, so the first agents' connect time is not the module load.
  const WebSocket = options.WebSocket ?? (await loadDefaultWebSocket());
  const now = () => performance.now();
  const startedAt = now();
  const errors = new ErrorLog(ERRORS_KEPT);
  const vapid = config.vapid ? runVapidKeys() : null;
  const poster = new PushPoster({ maxSockets: config.sendConcurrency, timeoutMs: config.requestTimeoutMs });
  const pusher = new Pusher({
    intervalMs: config.pushIntervalMs ?? MAX_DELAY,
    payloadBytes: config.payloadBytes,
    concurrency: config.sendConcurrency,
    ttl: config.ttl,
    vapid,
    poster,
    errors,
    now,
  });
  const fleet = new Fleet({
    ...config,
    applicationServerKey: vapid?.publicKey ?? null,
    WebSocket,
    logger: options.logger ?? silentLogger,
    errors,
    now,
    subscribed: (target) => pusher.add(target),
    message: (scope, text, at) => pusher.arrived(scope, text, at),
  });

  const progress = (): LoadTestProgress => ({
    elapsedMs: Math.round(now() - startedAt),
    agents: config.agents,
    agentsStarted: fleet.started,
    connected: fleet.connected,
    connectFailures: fleet.connectFailures,
    registrations: fleet.registrations,
    registrationFailures: fleet.registrationFailures,
    pushesSent: pusher.sent,
    pushesReceived: pusher.received,
    pushesFailed: pusher.failed,
    pushesInFlight: pusher.inFlight,
    latency: pusher.latency.summary(),
  });
  const onProgress = options.onProgress;
  const progressTimer = onProgress
    ? setInterval(() => {
        try {
          onProgress(progress());
        } catch (error) {
          errors.add(`onProgress failed: ${describeError(error)}`);
        }
      }, config.progressIntervalMs)
    : null;

  let aborted = false;
  let connectedAtEnd = 0;
  const load = measureLoad();
  try {
    fleet.start();
    if (config.pushIntervalMs !== null) pusher.start();
    aborted = await runFor(config.durationMs, options.signal);
    await pusher.drain(config.drainTimeoutMs);
    connectedAtEnd = fleet.connected;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    pusher.finish();
    await fleet.stop();
    poster.close();
    load.stop();
  }
  return {
    serverURL: config.serverURL,
    agents: config.agents,
    subscriptionsPerAgent: config.subscriptionsPerAgent,
    durationMs: Math.round(now() - startedAt),
    aborted,
    agentsStarted: fleet.started,
    connected: connectedAtEnd,
    peakConnected: fleet.peakConnected,
    connectFailures: fleet.connectFailures,
    disconnects: fleet.disconnects,
    registrations: fleet.registrations,
    registrationFailures: fleet.registrationFailures,
    pushesSent: pusher.sent,
    pushesReceived: pusher.received,
    pushesFailed: pusher.failed,
    pushesInFlightAtEnd: pusher.inFlightAtEnd,
    drainTimeoutMs: config.drainTimeoutMs,
    pushesSkipped: pusher.skipped,
    pushesLost: pusher.owed,
    pushesUnexpected: pusher.unexpected,
    pushesMisrouted: pusher.misrouted,
    decryptErrors: fleet.decryptErrors,
    latency: pusher.latency.summary(),
    connectLatency: fleet.connectLatency.summary(),
    registerLatency: fleet.registerLatency.summary(),
    generator: load.result(),
    errors: errors.lines(),
  };
}

/** CPU and event-loop delay of this process from now until stop(). */
function measureLoad(): { stop(): void; result(): GeneratorLoad } {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu = process.cpuUsage();
  const wallStart = performance.now();
  let result: GeneratorLoad | null = null;
  const ms = (ns: number) => Math.round(ns / 10_000) / 100;
  return {
    stop() {
      if (result) return;
      delay.disable();
      const used = process.cpuUsage(cpu);
      const wallMicros = (performance.now() - wallStart) * 1000;
      result = {
        cpuPercent: Math.round(((used.user + used.system) / Math.max(wallMicros, 1)) * 100),
        eventLoopDelayP99: ms(delay.percentile(99)),
        eventLoopDelayMax: ms(delay.max),
      };
    },
    result() {
      this.stop();
      return result!;
    },
  };
}

/** Resolves after durationMs, or earlier with true when the signal aborts. */
function runFor(durationMs: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (aborted: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(aborted);
    };
    const onAbort = () => done(true);
    const timer = setTimeout(() => done(false), durationMs);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
