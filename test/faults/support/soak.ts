/**
 * The soak, the agents' side: N PushServices on in-memory stores in this
 * process against the local push server in another (soak-server-child.ts, which also pushes).
 * Rounds until the duration is up: churn (a few services drop a subscription and make a new
 * one), then one push to every subscription; the server restarts at 1/3 and 2/3 of the run,
 * wherever the rounds are then. Measured here: the longest event-loop stall, the heap after GC
 * after the warm-up and at the end, open file descriptors before and after, every push the
 * endpoint accepted (201) against what the apps received, and whether every service is Ready
 * again within a deadline once the last push arrived.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect } from "vitest";
import { openMemoryPushDB } from "../../../src/db/memory.ts";
import { silentLogger } from "../../../src/log.ts";
import { PushService } from "../../../src/service/push-service.ts";
import { testDecryptWorkers } from "../../helpers/decrypt-workers.ts";
import { CrashCounter, type ReliabilityRow } from "./report.ts";
import type {
  SoakPush,
  SoakServerCommand,
  SoakServerReply,
  SoakServerRequest,
  SoakServerStats,
} from "./soak-server-child.ts";

const CHILD = fileURLToPath(new URL("./soak-server-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Services started (and stopped) at once. */
const START_CONCURRENCY = 100;
/** Pushes handed to the server process per IPC message. */
const PUSH_CHUNK = 500;
/**
 * Each subscription keeps this many recent message ids (the duplicate window). The warm-up runs
 * more rounds than that, so the windows are full before the heap is measured: a window filling
 * up is bounded growth, not a leak.
 */
const RECENT_IDS = 4;
const WARMUP_ROUNDS = RECENT_IDS + 2;
/** The shortest run after the warm-up, so the restarts always happen. */
const MIN_RUN_MS = 6_000;
/** How long past the run's end a restart may still be waited for (then the check fails). */
const RESTART_GRACE_MS = 60_000;
/** The services' retryBaseInterval: reconnect backoff 1 s, 2 s, 4 s, … after failed attempts in a row. */
const RETRY_BASE_MS = 1000;
/**
 * How long every service may take to be Ready again once the last accepted push arrived. A
 * service whose pushes the last restart refused has nothing left to receive and may still be in
 * its backoff then (dropped by one restart, refused by the next: 1 s + 2 s, plus a handshake that
 * takes seconds under load). This is the backoff after five failed attempts in a row, more than
 * the 1 + 2 + 4 + 8 + 16 s those attempts waited in all: a service still not Ready is stuck.
 */
const READY_TIMEOUT_MS = RETRY_BASE_MS * 2 ** 5;
/** Every id the run can hand out gets a state byte, allocated before the warm-up heap figure. */
const MAX_IDS = 1 << 22;

const SENT = 1;
const ACCEPTED = 2;
const REFUSED = 4;
const DELIVERED = 8;

export interface SoakOptions {
  services: number;
  subscriptionsPerService: number;
  /** Run time from the first service's start to the last round (warm-up included), in ms. */
  durationMs: number;
  /** Share of services that churn one subscription per round. */
  churn: number;
  restarts: number;
  /** How long the last accepted pushes may take to arrive once pushing stopped. */
  drainTimeoutMs: number;
}

export interface SoakResult {
  services: number;
  subscriptions: number;
  rounds: number;
  restarts: number;
  socketsDroppedByRestarts: number;
  churned: number;
  churnFailures: number;
  /** Pushes the endpoint answered 201. */
  accepted: number;
  /** Pushes refused or failed (the restarts' windows); they promise nothing. */
  refused: number;
  /** Accepted pushes the apps received. */
  delivered: number;
  /** Refused pushes that arrived anyway (the server took them, its answer was cut off). */
  deliveredUnconfirmed: number;
  duplicates: number;
  lost: number;
  unknown: number;
  maxEventLoopDelayMs: number;
  /** When the longest stall ended, in ms since the warm-up ended, and when the restarts were. */
  longestStallAtMs: number;
  restartsAtMs: number[];
  /** Uncaught errors in this process, in the server process, and server exits nobody asked for. */
  crashes: { test: number; server: number; serverExits: number };
  eventLoopDelayP99Ms: number;
  heapAfterWarmupMB: number;
  heapAtEndMB: number;
  rssAtEndMB: number;
  fdsAtStart: number;
  fdsAfterStop: number;
  /** Services Ready at once, READY_TIMEOUT_MS at most after the last accepted push arrived. */
  readyAtEnd: number;
  /** How long after the last accepted push every service was Ready (or the deadline passed). */
  readyWaitMs: number;
  /** The states of the services not Ready then, counted by state (empty when all are). */
  notReady: Record<string, number>;
  /** From the first service's start to the end of the final drain. */
  totalMs: number;
  server: SoakServerStats;
}

/** The GC, whether or not the process was started with --expose-gc. */
function gcFunction(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

async function heapAfterGC(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** The server process, with request/reply over IPC matched by sequence number. */
class ServerProcess {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (reply: SoakServerReply) => void>();
  #seq = 0;
  #closing = false;
  stderr = "";

  private constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
    child.on("message", (reply: SoakServerReply) => {
      if (reply.type === "ready") return;
      const resolve = this.#pending.get(reply.seq);
      this.#pending.delete(reply.seq);
      resolve?.(reply);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  static async start(): Promise<ServerProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", "--conditions=push-agent-source", CHILD], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`soak server exited (${code})`)));
      child.once("message", (reply: SoakServerReply) => {
        if (reply.type === "ready") resolve(reply.url);
      });
    });
    return new ServerProcess(child, url);
  }

  /** Counts an exit this side did not ask for (a non-zero code or a signal) as a crash. */
  watch(crashes: CrashCounter): void {
    crashes.watch(this.#child, () => this.#closing);
  }

  request<T extends SoakServerReply["type"]>(
    message: Exclude<SoakServerCommand, { type: "close" }>,
  ): Promise<Extract<SoakServerReply, { type: T }>> {
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      if (this.#child.exitCode !== null) return reject(new Error("soak server is gone"));
      this.#pending.set(seq, resolve as (reply: SoakServerReply) => void);
      this.#child.send({ ...message, seq });
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    const request: SoakServerRequest = { type: "close", seq: 0 };
    this.#child.send(request);
    await exited;
  }
}

interface Agent {
  service: PushService;
  /** scope → the subscription's JSON (what the application server was given). */
  subscriptions: Map<string, SoakPush["subscription"]>;
  nextScope: number;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const gc = gcFunction();
  const state = new Uint8Array(MAX_IDS);
  /** id → scope for pushes not delivered yet, and how many each scope has outstanding. */
  const outstanding = new Map<number, string>();
  const outstandingPerScope = new Map<string, number>();
  let nextId = 1;
  let accepted = 0;
  let refused = 0;
  let delivered = 0;
  let deliveredUnconfirmed = 0;
  let duplicates = 0;
  let unknown = 0;
  let churned = 0;
  let churnFailures = 0;
  let dropped = 0;
  let restarts = 0;
  let rounds = 0;
  const waiters = new Set<() => void>();
  /** Conditions are checked again on every delivery and every state change of a service. */
  const wakeWaiters = () => {
    for (const wake of [...waiters]) wake();
  };
  const pendingAccepted = () => accepted - delivered;
  /** The push is no longer waited for: delivered, or refused before it was accepted. */
  const settle = (id: number) => {
    const scope = outstanding.get(id);
    outstanding.delete(id);
    if (scope === undefined) return;
    const left = (outstandingPerScope.get(scope) ?? 1) - 1;
    if (left === 0) outstandingPerScope.delete(scope);
    else outstandingPerScope.set(scope, left);
  };

  const server = await ServerProcess.start();
  const crashes = new CrashCounter().install();
  server.watch(crashes);
  const fdsAtStart = openFds();
  const started = performance.now();
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  const stalls = new StallWatch();

  const onDelivery = (text: string) => {
    const id = Number(text.slice(5));
    if (!text.startsWith("soak ") || !(id > 0 && id < nextId)) {
      unknown++;
      return;
    }
    if (state[id]! & DELIVERED) {
      duplicates++;
      return;
    }
    state[id]! |= DELIVERED;
    if (state[id]! & ACCEPTED) delivered++;
    else if (state[id]! & REFUSED) deliveredUnconfirmed++;
    settle(id);
    wakeWaiters();
  };

  const until = (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        if (!condition()) return;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(true);
      };
      waiters.add(wake);
    });
  };

  const agents: Agent[] = [];
  const subscribe = async (agent: Agent, index: number) => {
    const scope = `https://soak-${index}.example/${agent.nextScope++}`;
    const subscription = await agent.service.subscribe({ scope });
    agent.subscriptions.set(scope, subscription.toJSON());
  };

  try {
    await pool(options.services, START_CONCURRENCY, async (i) => {
      const service = new PushService({
        serverURL: server.url,
        db: openMemoryPushDB(),
        logger: silentLogger,
        retryBaseInterval: RETRY_BASE_MS,
        maxRecentMessageIDs: RECENT_IDS,
        decryptWorkers: testDecryptWorkers,
      });
      const agent: Agent = { service, subscriptions: new Map(), nextScope: 0 };
      agents[i] = agent;
      service.observe("push-message", (event) => onDelivery(event.data?.text() ?? ""));
      service.observe("state-change", wakeWaiters);
      await service.start();
      await service.ready();
      for (let s = 0; s < options.subscriptionsPerService; s++) await subscribe(agent, i);
    });

    const churn = async () => {
      const count = Math.max(1, Math.round(options.services * options.churn));
      const start = (rounds * count) % options.services;
      await pool(count, START_CONCURRENCY, async (k) => {
        const index = (start + k) % options.services;
        const agent = agents[index]!;
        const scope = [...agent.subscriptions.keys()].find((s) => !outstandingPerScope.has(s));
        if (scope === undefined || agent.service.state !== "Ready") return;
        try {
          await agent.service.unsubscribe(scope);
          agent.subscriptions.delete(scope);
          await subscribe(agent, index);
          churned++;
        } catch {
          // A restart in the middle: the subscription is made again in a later round.
          churnFailures++;
        }
      });
      // A service whose new subscription failed gets one back.
      for (const [index, agent] of agents.entries()) {
        if (agent.subscriptions.size >= options.subscriptionsPerService) continue;
        if (agent.service.state !== "Ready") continue;
        await subscribe(agent, index).catch(() => churnFailures++);
      }
    };

    const pushRound = async () => {
      const batch: SoakPush[] = [];
      for (const agent of agents) {
        for (const [scope, subscription] of agent.subscriptions) {
          const id = nextId++;
          state[id] = SENT;
          outstanding.set(id, scope);
          outstandingPerScope.set(scope, (outstandingPerScope.get(scope) ?? 0) + 1);
          batch.push({ id, subscription });
        }
      }
      const chunks: Promise<Extract<SoakServerReply, { type: "pushed" }>>[] = [];
      for (let i = 0; i < batch.length; i += PUSH_CHUNK) {
        chunks.push(server.request<"pushed">({ type: "push", batch: batch.slice(i, i + PUSH_CHUNK) }));
      }
      for (const reply of await Promise.all(chunks)) {
        for (const id of reply.accepted) {
          state[id]! |= ACCEPTED;
          accepted++;
          if (state[id]! & DELIVERED) delivered++;
        }
        for (const id of reply.refused) {
          state[id]! |= REFUSED;
          refused++;
          if (state[id]! & DELIVERED) {
            deliveredUnconfirmed++;
            continue;
          }
          // Nothing promised: stop waiting for it (a late arrival is counted as unconfirmed).
          settle(id);
        }
      }
      // The next round starts once this one arrived (or, across a restart, after a while).
      await until(() => pendingAccepted() === 0, 30_000);
      rounds++;
    };

    for (let r = 0; r < WARMUP_ROUNDS; r++) {
      await churn();
      await pushRound();
    }
    const heapAfterWarmup = await heapAfterGC(gc);
    loop.reset();
    stalls.start();

    const runStart = performance.now();
    // A slow machine may spend the whole duration warming up: the restarts still get a window.
    const runMsLeft = Math.max(MIN_RUN_MS, options.durationMs - (runStart - started));
    const restartAt = Array.from(
      { length: options.restarts },
      (_, k) => (runMsLeft * (k + 1)) / (options.restarts + 1),
    );
    const restartTimers = restartAt.map((at) =>
      setTimeout(() => {
        void server.request<"restarted">({ type: "restart" }).then((reply) => {
          restarts++;
          dropped += reply.dropped;
        });
      }, at),
    );
    const runEnd = runStart + runMsLeft;
    // Rounds go on until the time is up and every restart is done (a restart's reply can lag).
    while (performance.now() < runEnd || restarts < options.restarts) {
      await churn();
      await pushRound();
      if (performance.now() > runEnd + RESTART_GRACE_MS) break;
    }
    for (const timer of restartTimers) clearTimeout(timer);
    await until(() => pendingAccepted() === 0, options.drainTimeoutMs);
    const totalMs = performance.now() - started;
    // Everyone back after the restarts, every accepted push in: the steady state to compare.
    await until(() => agents.every((agent) => agent.service.state === "Ready"), READY_TIMEOUT_MS);
    const readyWaitMs = performance.now() - started - totalMs;
    const notReady: Record<string, number> = {};
    for (const { service } of agents) {
      if (service.state !== "Ready") notReady[service.state] = (notReady[service.state] ?? 0) + 1;
    }
    const readyAtEnd = agents.length - Object.values(notReady).reduce((sum, count) => sum + count, 0);
    loop.disable();
    stalls.stop();
    const heapAtEnd = await heapAfterGC(gc);
    const rssAtEnd = process.memoryUsage().rss;
    const serverStats = (await server.request<"stats">({ type: "stats" })).stats;

    await pool(agents.length, START_CONCURRENCY, (i) => agents[i]!.service.stop());
    // Sockets close asynchronously after stop(); give them until the count is back.
    const fdsAfterStop = await settleFds(fdsAtStart);

    return {
      services: options.services,
      subscriptions: options.services * options.subscriptionsPerService,
      rounds,
      restarts,
      socketsDroppedByRestarts: dropped,
      churned,
      churnFailures,
      accepted,
      refused,
      delivered,
      deliveredUnconfirmed,
      duplicates,
      lost: pendingAccepted(),
      unknown,
      maxEventLoopDelayMs: Math.max(loop.max / 1e6, stalls.longest),
      longestStallAtMs: stalls.longestAt,
      restartsAtMs: restartAt.map(Math.round),
      crashes: {
        test: crashes.uncaught + crashes.unhandled,
        server: serverStats.crashes,
        serverExits: crashes.childExits,
      },
      eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
      heapAfterWarmupMB: heapAfterWarmup / 2 ** 20,
      heapAtEndMB: heapAtEnd / 2 ** 20,
      rssAtEndMB: rssAtEnd / 2 ** 20,
      fdsAtStart,
      fdsAfterStop,
      readyAtEnd,
      readyWaitMs,
      notReady,
      totalMs,
      server: serverStats,
    };
  } finally {
    loop.disable();
    stalls.stop();
    await Promise.all(agents.map((agent) => agent?.service.stop().catch(() => {})));
    await server.close();
    crashes.uninstall();
  }
}

/** A 50 ms heartbeat: the longest gap between beats beyond the interval, and when it ended. */
class StallWatch {
  longest = 0;
  longestAt = 0;
  #timer: ReturnType<typeof setInterval> | null = null;

  start(): void {
    const origin = performance.now();
    let last = origin;
    this.#timer = setInterval(() => {
      const now = performance.now();
      const stall = now - last - 50;
      if (stall > this.longest) {
        this.longest = stall;
        this.longestAt = Math.round(now - origin);
      }
      last = now;
    }, 50);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** Polls the fd count (closing sockets are released a few ticks after stop) for up to 10 s. */
async function settleFds(target: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let fds = openFds();
  while (fds > target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    fds = openFds();
  }
  return fds;
}

async function pool(count: number, concurrency: number, task: (index: number) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

const MAX_STALL_MS = 2000;
const MAX_HEAP_GROWTH = 0.1;

/** The soak's pass conditions: no stall, no leak, every socket closed, nothing lost. */
export function checkSoak(result: SoakResult, options: SoakOptions): void {
  const summary = JSON.stringify({ ...result, server: undefined });
  expect(result.restarts, summary).toBe(options.restarts);
  expect(result.socketsDroppedByRestarts, summary).toBeGreaterThan(0);
  expect(result.readyAtEnd, summary).toBe(options.services);
  expect(result.accepted, summary).toBeGreaterThan(0);
  expect(result.lost, summary).toBe(0);
  expect(result.unknown, summary).toBe(0);
  expect(result.crashes, summary).toEqual({ test: 0, server: 0, serverExits: 0 });
  expect(result.maxEventLoopDelayMs, summary).toBeLessThan(MAX_STALL_MS);
  expect(result.heapAtEndMB, summary).toBeLessThanOrEqual(result.heapAfterWarmupMB * (1 + MAX_HEAP_GROWTH));
  expect(result.fdsAfterStop, summary).toBe(result.fdsAtStart);
}

const mb = (value: number) => value.toFixed(1);

export function soakRow(id: string, result: SoakResult): ReliabilityRow {
  const minutes = result.totalMs / 60_000;
  return {
    id,
    category: "fault",
    title:
      `soak: ${result.services.toLocaleString("en")} PushServices (in-memory stores) against the local server in another process ` +
      `for ${minutes.toFixed(1)} min; subscribe/unsubscribe churn, a push to every subscription per round, ` +
      "the server restarted (every socket dropped, its store kept) at 1/3 and 2/3",
    runs: result.restarts,
    sent: result.accepted,
    delivered: result.delivered,
    duplicated: result.duplicates,
    lost: result.lost,
    crashes: result.crashes.test + result.crashes.server + result.crashes.serverExits,
    notes:
      `${result.rounds} rounds, ${result.subscriptions.toLocaleString("en")} subscriptions, ${result.churned} churned ` +
      `(${result.churnFailures} failed across a restart); sent = pushes answered 201, ${result.refused} refused during the restarts ` +
      `(${result.deliveredUnconfirmed} of them arrived anyway); ${result.socketsDroppedByRestarts} sockets dropped by the restarts, ` +
      `all ${result.readyAtEnd} services Ready again (${(result.readyWaitMs / 1000).toFixed(1)} s after the last push arrived); longest event-loop stall ${result.maxEventLoopDelayMs.toFixed(0)} ms ` +
      `(at ${(result.longestStallAtMs / 1000).toFixed(0)} s after warm-up; restarts at ${result.restartsAtMs.map((t) => `${(t / 1000).toFixed(0)} s`).join(", ")}) ` +
      `(p99 ${result.eventLoopDelayP99Ms.toFixed(0)} ms); heap after GC ${mb(result.heapAfterWarmupMB)} MiB after warm-up, ` +
      `${mb(result.heapAtEndMB)} MiB at the end; RSS ${mb(result.rssAtEndMB)} MiB; open fds ${result.fdsAtStart} before, ` +
      `${result.fdsAfterStop} after every service stopped; crashes counted in this process ${result.crashes.test}, ` +
      `in the server process ${result.crashes.server}, server exits on its own ${result.crashes.serverExits}`,
  };
}
