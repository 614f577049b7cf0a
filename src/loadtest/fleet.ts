/**
 * The load test's user agents: N PushServices, each with its own in-memory store, started by a
 * bounded pool of workers (optionally spread over a ramp-up time) so thousands of sockets do not
 * open in the same instant. Each agent connects, subscribes its scopes, and hands every
 * subscription and every push-message to the load test. The fleet counts connections,
 * disconnects and registrations, and stop() leaves no socket or timer behind.
 */

import { openMemoryPushDB } from "../db/memory.ts";
import { describeError, type Logger } from "../log.ts";
import { PushService } from "../service/push-service.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { ErrorLog } from "./error-log.ts";
import { LatencyHistogram } from "./histogram.ts";
import type { PushTarget } from "./pusher.ts";

export interface FleetOptions {
  serverURL: string;
  allowInsecureServerURL: boolean;
  agents: number;
  subscriptionsPerAgent: number;
  /** Agents connecting (and subscribing) at the same time, at most. */
  connectConcurrency: number;
  /** Agent i starts no earlier than i × rampUpMs / agents after start(). */
  rampUpMs: number;
  /** An agent not Ready this long after it started counts as a connect failure and is stopped. */
  connectTimeoutMs: number;
  /** Subscriptions are made with this application server key (base64url), or without one. */
  applicationServerKey: string | null;
  WebSocket: WebSocketConstructor;
  logger: Logger;
  errors: ErrorLog;
  now: () => number;
  subscribed(target: PushTarget): void;
  message(scope: string, text: string | null, at: number): void;
}

interface Agent {
  service: PushService;
  status: AgentStatus;
}

interface AgentStatus {
  everReady: boolean;
  /** Counted as a connect failure already. */
  failed: boolean;
  /** The agent's last info/warn/error log line: why it could not connect, if it could not. */
  lastLog: string;
}

export class Fleet {
  started = 0;
  connected = 0;
  peakConnected = 0;
  connectFailures = 0;
  /** Ready connections lost while the run went on. */
  disconnects = 0;
  registrations = 0;
  registrationFailures = 0;
  decryptErrors = 0;
  readonly connectLatency = new LatencyHistogram();
  readonly registerLatency = new LatencyHistogram();
  readonly #options: FleetOptions;
  readonly #agents: Agent[] = [];
  #stopping = false;
  /** Waits (ramp-up sleeps, connects) that stop() cuts short; a Set, not abort listeners, as there are thousands. */
  readonly #waits = new Set<() => void>();
  #next = 0;
  #t0 = 0;
  #workers: Promise<void> | null = null;

  constructor(options: FleetOptions) {
    this.#options = options;
  }

  start(): void {
    this.#t0 = this.#options.now();
    const count = Math.min(this.#options.connectConcurrency, this.#options.agents);
    this.#workers = Promise.all(Array.from({ length: count }, () => this.#worker())).then(() => {});
  }

  /** Stop every agent; agents that never connected count as connect failures. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const cut of [...this.#waits]) cut();
    for (const agent of this.#agents) {
      if (!agent.status.everReady && !agent.status.failed)
        this.#connectFailed(agent, "not connected when the run ended");
    }
    await Promise.all(this.#agents.map((agent) => agent.service.stop()));
    await this.#workers;
  }

  async #worker(): Promise<void> {
    const { agents, rampUpMs } = this.#options;
    while (!this.#stopping && this.#next < agents) {
      const index = this.#next++;
      if (rampUpMs > 0) await this.#sleepUntil(this.#t0 + (index * rampUpMs) / agents);
      if (this.#stopping) return;
      try {
        await this.#runAgent(index);
      } catch (error) {
        this.#options.errors.add(`agent failed: ${describeError(error)}`);
      }
    }
  }

  async #runAgent(index: number): Promise<void> {
    const { now, connectTimeoutMs, subscriptionsPerAgent } = this.#options;
    const agent = this.#createAgent();
    const startedAt = now();
    await agent.service.start();
    const outcome = await this.#untilReady(agent.service);
    if (outcome === "stopped") return;
    if (outcome === "timeout") {
      this.#connectFailed(agent, `not connected within ${connectTimeoutMs} ms`);
      await agent.service.stop();
      return;
    }
    this.connectLatency.record(now() - startedAt);
    const subscribing = [];
    for (let j = 0; j < subscriptionsPerAgent; j++) subscribing.push(this.#subscribe(agent, index, j));
    await Promise.all(subscribing);
  }

  /** Created, observed and registered with the fleet in one synchronous step, so stop() sees it. */
  #createAgent(): Agent {
    const options = this.#options;
    const status: AgentStatus = { everReady: false, failed: false, lastLog: "" };
    const service = new PushService({
      serverURL: options.serverURL,
      allowInsecureServerURL: options.allowInsecureServerURL,
      db: openMemoryPushDB(),
      WebSocket: options.WebSocket,
      logger: agentLogger(status, options.logger, options.errors),
    });
    service.observe("state-change", ({ state, previous }) => {
      if (state === "Ready") {
        status.everReady = true;
        this.connected++;
        this.peakConnected = Math.max(this.peakConnected, this.connected);
      } else if (previous === "Ready") {
        this.connected--;
        if (!this.#stopping) this.disconnects++;
      }
    });
    service.observe("push-message", (event) => {
      options.message(event.scope, event.data ? event.data.text() : null, options.now());
    });
    service.observe("decrypt-error", ({ error }) => {
      this.decryptErrors++;
      options.errors.add(`decrypt error: ${error.message}`);
    });
    const agent = { service, status };
    this.#agents.push(agent);
    this.started++;
    return agent;
  }

  #untilReady(service: PushService): Promise<"ready" | "timeout" | "stopped"> {
    // stop() may have run while the service was starting: it cut the waits there were then.
    if (this.#stopping) return Promise.resolve("stopped");
    return new Promise((resolve) => {
      const done = (outcome: "ready" | "timeout" | "stopped") => {
        clearTimeout(timer);
        this.#waits.delete(onStop);
        resolve(outcome);
      };
      const onStop = () => done("stopped");
      const timer = setTimeout(() => done("timeout"), this.#options.connectTimeoutMs);
      this.#waits.add(onStop);
      service.ready().then(
        () => done(this.#stopping ? "stopped" : "ready"),
        () => done("stopped"),
      );
    });
  }

  async #subscribe(agent: Agent, index: number, j: number): Promise<void> {
    const { now, applicationServerKey } = this.#options;
    const scope = `https://loadtest.invalid/agent-${index}/sub-${j}`;
    const startedAt = now();
    try {
      const subscription = await agent.service.subscribe({ scope, applicationServerKey });
      this.registerLatency.record(now() - startedAt);
      this.registrations++;
      const { endpoint, keys } = subscription.toJSON();
      this.#options.subscribed({ scope, endpoint, keys });
    } catch (error) {
      if (this.#stopping) return;
      this.registrationFailures++;
      this.#options.errors.add(`registration failed: ${describeError(error)}`);
    }
  }

  #connectFailed(agent: Agent, reason: string): void {
    agent.status.failed = true;
    this.connectFailures++;
    const last = agent.status.lastLog;
    this.#options.errors.add(last ? `${reason} (last: ${last})` : reason);
  }

  #sleepUntil(at: number): Promise<void> {
    const delay = at - this.#options.now();
    if (delay <= 0 || this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, delay);
      this.#waits.add(done);
    });
  }
}

/**
 * Each agent's logger: remembers the agent's last line (the reason it is offline, when it is),
 * collects warnings and errors, and passes everything on to the run's logger.
 */
function agentLogger(status: AgentStatus, logger: Logger, errors: ErrorLog): Logger {
  const problem =
    (level: "warn" | "error") =>
    (message: string, ...details: unknown[]) => {
      status.lastLog = message;
      errors.add(message);
      logger[level](message, ...details);
    };
  return {
    debug: (message, ...details) => logger.debug(message, ...details),
    info: (message, ...details) => {
      status.lastLog = message;
      logger.info(message, ...details);
    },
    warn: problem("warn"),
    error: problem("error"),
  };
}
