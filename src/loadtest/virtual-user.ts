/**
 * One virtual user: the ScenarioContext a scenario runs against. Raw commands go through its
 * raw protocol level (raw-connection.ts, over a ProtocolClient); pushes go out through the
 * run's shared HTTP sender; user-agent flows get real PushServices. Every command reports
 * through the run's MetricsSink, so whatever drives virtual users (the plan runner, an
 * Artillery engine) sees the same metrics.
 *
 * Relay payloads this user sends are remembered by their bytes until they come back
 * (sent-pushes.ts): the arrival is checked byte for byte (changed bytes come back as an unknown
 * payload and the sent one stays owed) and gives the push latency. What is still owed when the user closes is
 * counted as lost only if the server accepted it (2xx); a POST with no answer yet is "in flight
 * at the end", unfinished rather than lost. During the run's drain window no push is sent, and
 * pushes arriving are counted as they come in.
 */

import { randomUUID } from "node:crypto";
import { describeError } from "../log.ts";
import type { ServerMessage } from "../protocol/messages.ts";
import { METRIC } from "./metrics.ts";
import { type NotificationRequest, type PayloadMode, relayPayload } from "./payload.ts";
import { ScenarioError, ScenarioStopped } from "./protocol-client.ts";
import { RawConnection } from "./raw-connection.ts";
import type { RunContext } from "./run-context.ts";
import type {
  Notification,
  ScenarioArgs,
  ScenarioContext,
  ScenarioDefinition,
  SendResult,
  UserAgent,
} from "./scenario-types.ts";
import { SentPushes } from "./sent-pushes.ts";
import { ServiceUserAgent } from "./user-agent.ts";

export type { RunContext } from "./run-context.ts";
export type { PushLedger } from "./sent-pushes.ts";

const DEFAULT_EXPECT_MS = 5_000;

export class VirtualUser implements ScenarioContext {
  readonly id: number;
  readonly args: ScenarioArgs;
  readonly #run: RunContext;
  /** The raw protocol level: the socket and the commands on it (raw-connection.ts). */
  readonly #raw: RawConnection;
  #timers: Map<string, number> | null = null;
  /** Relay pushes sent and not back yet (sent-pushes.ts). */
  readonly #pushes: SentPushes;
  #agents: ServiceUserAgent[] | null = null;
  #waits: Set<() => void> | null = null;
  #stopped = false;

  constructor(run: RunContext, id: number, args: ScenarioArgs) {
    this.#run = run;
    this.#pushes = new SentPushes(run.owed);
    this.#raw = new RawConnection(run, this);
    this.id = id;
    this.args = args;
  }

  get payloadMode(): PayloadMode {
    return this.#run.payloadMode;
  }

  get vapidPublicKey(): string {
    return this.#run.requests.vapidPublicKey;
  }

  get stopped(): boolean {
    return this.#stopped || this.#run.stopped;
  }

  /** Run the scenario to its end; failures are counted, never thrown. Everything is closed after. */
  async execute(scenario: ScenarioDefinition): Promise<"completed" | "failed" | "stopped"> {
    const { sink, errors } = this.#run;
    const unregister = this.#run.onStop(() => this.#stop());
    sink.counter(METRIC.scenarioStarted);
    try {
      await scenario.run(this);
      sink.counter(METRIC.scenarioCompleted);
      return "completed";
    } catch (error) {
      if (error instanceof ScenarioStopped || this.stopped) return "stopped";
      const kind = error instanceof ScenarioError ? error.kind : "scenario";
      sink.counter(METRIC.scenarioFailed);
      sink.counter(METRIC.errorPrefix + kind);
      errors.add(`${scenario.name}: ${describeError(error)}`);
      return "failed";
    } finally {
      unregister();
      await this.close();
    }
  }

  /**
   * Close the socket and every user agent. Relay pushes that came in unread still count as
   * received; of the rest, accepted ones are lost and unanswered ones in flight at the end.
   */
  async close(): Promise<void> {
    this.collectArrivals();
    this.disconnect();
    const agents = this.#agents ?? [];
    this.#agents = null;
    await Promise.all(agents.map((agent) => agent.stop()));
    const { owed, sink } = this.#run;
    const { lost, inFlight } = this.#pushes.close();
    if (lost > 0) sink.counter(METRIC.lost, lost);
    if (inFlight > 0) sink.counter(METRIC.inFlightAtEnd, inFlight);
    owed.changed();
  }

  // ---- raw protocol level (raw-connection.ts)

  connect(options?: { timeoutMs?: number }): Promise<void> {
    return this.#raw.connect(options);
  }

  disconnect(): void {
    this.#raw.disconnect();
  }

  hello(uaid?: string | null, options?: { broadcasts?: Record<string, string>; timeoutMs?: number }) {
    return this.#raw.hello(uaid, options);
  }

  register(channelID?: string, key?: string | null, options?: { timeoutMs?: number }) {
    return this.#raw.register(channelID, key, options);
  }

  unregister(channelID: string, options?: { code?: number; timeoutMs?: number }) {
    return this.#raw.unregister(channelID, options);
  }

  ack(channelID: string, version: string, code?: number): void {
    this.#raw.ack(channelID, version, code);
  }

  nack(version: string, code?: number): void {
    this.#raw.nack(version, code);
  }

  broadcastSubscribe(broadcasts: Record<string, string>): void {
    this.#raw.broadcastSubscribe(broadcasts);
  }

  sendFrame(text: string): void {
    this.#raw.sendFrame(text);
  }

  expectMessage<T extends ServerMessage["type"]>(type: T, timeoutMs: number) {
    return this.#raw.expectMessage(type, timeoutMs);
  }

  async expectNotification(
    channelID: string,
    timeoutMs: number = DEFAULT_EXPECT_MS,
  ): Promise<Notification | null> {
    const message = await this.#raw
      .connected()
      .next((m) => m.type === "notification" && m.channelID === channelID, timeoutMs);
    if (message?.type !== "notification" || message.channelID === null) {
      this.#run.sink.counter("expect.timeout");
      return null;
    }
    return this.#arrived(message.channelID, message.messageId, message.data, message.headers);
  }

  async expectNotifications(
    channelIDs: string[],
    timeoutMs: number = DEFAULT_EXPECT_MS,
  ): Promise<Notification[]> {
    const wanted = new Map<string, number>();
    for (const id of channelIDs) wanted.set(id, (wanted.get(id) ?? 0) + 1);
    const deadline = this.#run.now() + timeoutMs;
    const received: Notification[] = [];
    while (received.length < channelIDs.length) {
      const left = deadline - this.#run.now();
      if (left <= 0) break;
      const message = await this.#raw
        .connected()
        .next(
          (m) => m.type === "notification" && m.channelID !== null && (wanted.get(m.channelID) ?? 0) > 0,
          left,
        );
      if (message?.type !== "notification" || message.channelID === null) break;
      wanted.set(message.channelID, wanted.get(message.channelID)! - 1);
      received.push(this.#arrived(message.channelID, message.messageId, message.data, message.headers));
    }
    if (received.length < channelIDs.length) this.#run.sink.counter("expect.timeout");
    return received;
  }

  // ---- application server

  async sendNotification(request: NotificationRequest): Promise<SendResult> {
    this.#checkRunning();
    // The drain window sends nothing new: the send waits for the stop.
    if (this.#run.draining) await this.#untilStopped();
    const run = this.#run;
    const built = run.requests.build(request);
    // Only relay bytes can be recognised on arrival; e2e pushes are checked by their user agent.
    const key =
      built.body && !request.keys && request.track !== false ? built.body.toString("base64url") : null;
    const startedAt = run.now();
    const push = key ? this.#pushes.remember(key, startedAt) : null;
    let status: number;
    let body: string;
    try {
      ({ status, body } = await run.poster.post(built));
    } catch (error) {
      // Cut off by the stop: close() counts it in flight at the end.
      if (this.stopped) throw new ScenarioStopped("stopped");
      if (key && push) this.#pushes.forget(key, push);
      run.sink.counter(`${METRIC.errorPrefix}http`);
      run.errors.add(`POST failed: ${describeError(error)}`);
      return { status: 0, body: describeError(error), ms: run.now() - startedAt };
    }
    const ms = run.now() - startedAt;
    if (status >= 200 && status < 300) {
      if (push) this.#pushes.answered(push, true);
      run.sink.counter(METRIC.sent);
      if (built.body) run.sink.counter(METRIC.sentBytes, built.body.byteLength);
    } else {
      if (key && push) this.#pushes.forget(key, push);
      // A refusal is an answer, not an error: scenarios decide whether they wanted it.
      run.sink.counter(`notification.status.${status}`);
    }
    return { status, body, ms };
  }

  // ---- user agent level

  userAgent(): UserAgent {
    this.#checkRunning();
    const run = this.#run;
    const agent = new ServiceUserAgent({
      serverURL: run.serverURL,
      allowInsecureServerURL: run.allowInsecureServerURL,
      WebSocket: run.agentWebSocket,
      logger: run.logger,
      vapidPublicKey: run.requests.vapidPublicKey,
      connectTimeoutMs: run.replyTimeoutMs,
    });
    this.#agents ??= [];
    this.#agents.push(agent);
    return agent;
  }

  // ---- flow and metrics

  wait(ms: number): Promise<void> {
    this.#checkRunning();
    if (!(ms > 0)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waits ??= new Set();
      const waits = this.#waits;
      const cancel = () => {
        clearTimeout(timer);
        waits.delete(cancel);
        reject(new ScenarioStopped("stopped"));
      };
      const timer = setTimeout(
        () => {
          waits.delete(cancel);
          resolve();
        },
        Math.min(ms, 2_147_483_647),
      );
      waits.add(cancel);
    });
  }

  timerStart(name: string): void {
    this.#timers ??= new Map();
    this.#timers.set(name, this.#run.now());
  }

  timerStop(name: string): void {
    const startedAt = this.#timers?.get(name);
    if (startedAt === undefined) return;
    this.#timers!.delete(name);
    this.#run.sink.histogram(METRIC.timerPrefix + name, this.#run.now() - startedAt);
  }

  counter(name: string, value = 1): void {
    this.#run.sink.counter(name, value);
  }

  spawn(plan: string): void {
    this.#checkRunning();
    this.#run.spawn(plan);
  }

  randomChannelID(): string {
    return randomUUID();
  }

  randomData(minBytes = 2048, maxBytes = 4096): Uint8Array {
    return relayPayload(minBytes, maxBytes);
  }

  // ---- internals

  #arrived(
    channelID: string,
    version: string,
    data: string | null,
    headers: Notification["headers"],
  ): Notification {
    const run = this.#run;
    let latencyMs: number | null = null;
    const push = data === null ? null : this.#pushes.arrival(data);
    if (push === "unknown") {
      run.sink.counter("notification.unknown");
    } else if (push) {
      latencyMs = run.now() - push.at;
      run.sink.histogram(METRIC.latency, latencyMs);
      this.#pushes.settle(push);
    }
    run.sink.counter(METRIC.received);
    return { channelID, version, data, headers, latencyMs };
  }

  /** Relay pushes that came in unread (the drain window, or a user closing): counted as received. */
  collectArrivals(): void {
    const pushes = this.#pushes;
    const client = this.#raw.client;
    if (!pushes.expecting || !client) return;
    const ours = (m: ServerMessage) => m.type === "notification" && m.data !== null && pushes.expects(m.data);
    for (const message of client.take(ours)) {
      if (message.type !== "notification" || message.channelID === null) continue;
      this.#arrived(message.channelID, message.messageId, message.data, message.headers);
    }
  }

  /** Waits until the run stops, then throws ScenarioStopped (a send during the drain window). */
  #untilStopped(): Promise<never> {
    return new Promise((_, reject) => {
      const unregister = this.#run.onStop(() => {
        unregister();
        reject(new ScenarioStopped("stopped"));
      });
      if (this.stopped) {
        unregister();
        reject(new ScenarioStopped("stopped"));
      }
    });
  }

  #checkRunning(): void {
    if (this.stopped) throw new ScenarioStopped("stopped");
  }

  #stop(): void {
    this.#stopped = true;
    for (const cancel of [...(this.#waits ?? [])]) cancel();
    this.disconnect();
  }
}
