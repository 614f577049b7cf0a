/**
 * One virtual user: the ScenarioContext a scenario runs against. Raw commands go through a
 * ProtocolClient (frames built by the protocol module, replies parsed by it); pushes go out
 * through the run's shared HTTP sender; user-agent flows get real PushServices. Every command
 * reports through the run's MetricsSink, so whatever drives virtual users (the plan runner, an
 * Artillery engine) sees the same metrics.
 *
 * Relay payloads this user sends are remembered by their bytes until they come back: the
 * arrival is checked byte for byte (changed bytes come back as an unknown payload and the sent
 * one stays owed) and gives the push latency. What is still owed when the user closes is
 * counted as lost only if the server accepted it (2xx); a POST with no answer yet is "in flight
 * at the end", unfinished rather than lost. During the run's drain window no push is sent, and
 * pushes arriving are counted as they come in.
 */

import { randomUUID } from "node:crypto";
import { describeError, type Logger } from "../log.ts";
import {
  type AckCode,
  ackFrame,
  broadcastSubscribeFrame,
  helloFrame,
  type NackCode,
  nackFrame,
  registerFrame,
  type ServerMessage,
  type UnregisterCode,
  unregisterFrame,
} from "../protocol/messages.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { ErrorLog } from "./error-log.ts";
import { METRIC, type MetricsSink } from "./metrics.ts";
import { type NotificationRequest, type PayloadMode, type RequestBuilder, relayPayload } from "./payload.ts";
import type { PushPoster } from "./poster.ts";
import { ProtocolClient, ScenarioError, ScenarioStopped } from "./protocol-client.ts";
import type {
  HelloResult,
  Notification,
  RegisterResult,
  ScenarioArgs,
  ScenarioContext,
  ScenarioDefinition,
  SendResult,
  UserAgent,
} from "./scenario-types.ts";
import { ServiceUserAgent } from "./user-agent.ts";

/** Relay pushes of a run not back yet, by whether the server answered their POST (2xx). */
export interface PushLedger {
  unanswered: number;
  accepted: number;
  /** Called after every change (the drain window watches it). */
  changed(): void;
}

/** One relay push this user sent. A push can arrive before its POST is answered. */
interface SentPush {
  at: number;
  /** The POST has its answer (or failed). */
  answered: boolean;
  arrived: boolean;
}

/** What every virtual user of a run shares. */
export interface RunContext {
  serverURL: string;
  allowInsecureServerURL: boolean;
  /** For the raw level (the Transport asks for no subprotocol). */
  WebSocket: WebSocketConstructor;
  /** For PushService user agents. */
  agentWebSocket: WebSocketConstructor;
  payloadMode: PayloadMode;
  sink: MetricsSink;
  errors: ErrorLog;
  poster: PushPoster;
  requests: RequestBuilder;
  logger: Logger;
  now(): number;
  /** Default for connect, hello, register and unregister replies. */
  replyTimeoutMs: number;
  /** A slot among the connections being opened at once (thousands at once only thrash); call the result to free it. */
  connectSlot(): Promise<() => void>;
  readonly stopped: boolean;
  /** The run's drain window: no new pushes; arrivals are counted as they come in. */
  readonly draining: boolean;
  /** The run's relay pushes not back yet. */
  owed: PushLedger;
  /** Called when the run stops; returns the unregistering function. */
  onStop(cancel: () => void): () => void;
  spawn(plan: string): void;
}

const DEFAULT_EXPECT_MS = 5_000;

export class VirtualUser implements ScenarioContext {
  readonly id: number;
  readonly args: ScenarioArgs;
  readonly #run: RunContext;
  #client: ProtocolClient | null = null;
  #timers: Map<string, number> | null = null;
  #sent: Map<string, SentPush[]> | null = null;
  /** Relay pushes whose POST has no answer yet, arrived or not. */
  readonly #unanswered = new Set<SentPush>();
  #agents: ServiceUserAgent[] | null = null;
  #waits: Set<() => void> | null = null;
  #stopped = false;

  constructor(run: RunContext, id: number, args: ScenarioArgs) {
    this.#run = run;
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
    let lost = 0;
    let inFlight = 0;
    for (const pushes of this.#sent?.values() ?? []) {
      for (const push of pushes) if (push.answered && !push.arrived) lost++;
    }
    for (const push of this.#unanswered) if (!push.arrived) inFlight++;
    owed.accepted -= lost;
    owed.unanswered -= this.#unanswered.size;
    this.#unanswered.clear();
    this.#sent = null;
    if (lost > 0) sink.counter(METRIC.lost, lost);
    if (inFlight > 0) sink.counter(METRIC.inFlightAtEnd, inFlight);
    owed.changed();
  }

  // ---- raw protocol level

  async connect(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#checkRunning();
    if (this.#client?.isOpen) throw new ScenarioError("connect", "already connected");
    const run = this.#run;
    const release = await run.connectSlot();
    try {
      await this.#open(options.timeoutMs ?? run.replyTimeoutMs);
    } finally {
      release();
    }
  }

  async #open(timeoutMs: number): Promise<void> {
    this.#checkRunning();
    const run = this.#run;
    const startedAt = run.now();
    const client = new ProtocolClient(
      run.serverURL,
      run.WebSocket,
      {
        ignored: (reason) => {
          run.sink.counter(`${METRIC.errorPrefix}bad_frame`);
          run.errors.add(`ignored a server frame: ${reason}`);
        },
        closed: () => {
          if (this.#client === client) run.sink.counter(METRIC.connectionClosed);
        },
        queued: () => {
          if (run.draining) this.collectArrivals();
        },
      },
      timeoutMs,
    );
    this.#client = client;
    try {
      await client.opened();
    } catch (error) {
      client.close(this.stopped);
      this.#client = null;
      throw this.stopped ? new ScenarioStopped("stopped") : error;
    }
    run.sink.counter(METRIC.connectionOpened);
    run.sink.histogram(METRIC.connectTime, run.now() - startedAt);
  }

  disconnect(): void {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    if (client.isOpen) this.#run.sink.counter(METRIC.connectionClosed);
    client.close(this.stopped);
  }

  async hello(
    uaid: string | null = null,
    options: { broadcasts?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<HelloResult> {
    const startedAt = this.#run.now();
    const reply = await this.#request(helloFrame(uaid, options.broadcasts ?? {}), "hello", options.timeoutMs);
    this.#run.sink.counter(METRIC.hello);
    this.#run.sink.histogram(METRIC.helloTime, this.#run.now() - startedAt);
    return {
      uaid: reply.uaid,
      status: reply.status,
      useWebPush: reply.useWebPush,
      broadcasts: Object.fromEntries(reply.broadcasts),
    };
  }

  async register(
    channelID: string = randomUUID(),
    key: string | null = null,
    options: { timeoutMs?: number } = {},
  ): Promise<RegisterResult> {
    const startedAt = this.#run.now();
    const reply = await this.#request(
      registerFrame(channelID, key),
      "register",
      options.timeoutMs,
      (m) => m.channelID === channelID,
    );
    if (reply.status !== 200 || !reply.pushEndpoint) {
      this.#run.sink.counter(`${METRIC.errorPrefix}register`);
      return { channelID: reply.channelID, status: reply.status, pushEndpoint: null };
    }
    this.#run.sink.counter(METRIC.register);
    this.#run.sink.histogram(METRIC.registerTime, this.#run.now() - startedAt);
    return { channelID: reply.channelID, status: reply.status, pushEndpoint: reply.pushEndpoint };
  }

  async unregister(channelID: string, options: { code?: number; timeoutMs?: number } = {}) {
    const frame = unregisterFrame(channelID, (options.code ?? 200) as UnregisterCode);
    const reply = await this.#request(
      frame,
      "unregister",
      options.timeoutMs,
      (m) => m.channelID === channelID,
    );
    this.#run.sink.counter(reply.status === 200 ? METRIC.unregister : `${METRIC.errorPrefix}unregister`);
    return { status: reply.status };
  }

  ack(channelID: string, version: string, code = 100): void {
    this.#send(ackFrame(channelID, version, code as AckCode));
    this.#run.sink.counter(METRIC.acked);
  }

  nack(version: string, code = 301): void {
    this.#send(nackFrame(version, code as NackCode));
  }

  broadcastSubscribe(broadcasts: Record<string, string>): void {
    this.#send(broadcastSubscribeFrame(broadcasts));
  }

  sendFrame(text: string): void {
    this.#send(text);
  }

  async expectMessage<T extends ServerMessage["type"]>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ServerMessage, { type: T }> | null> {
    const message = await this.#connected().next((m) => m.type === type, timeoutMs);
    return message as Extract<ServerMessage, { type: T }> | null;
  }

  async expectNotification(
    channelID: string,
    timeoutMs: number = DEFAULT_EXPECT_MS,
  ): Promise<Notification | null> {
    const message = await this.#connected().next(
      (m) => m.type === "notification" && m.channelID === channelID,
      timeoutMs,
    );
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
      const message = await this.#connected().next(
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
    const push = key ? this.#remember(key, startedAt) : null;
    let status: number;
    let body: string;
    try {
      ({ status, body } = await run.poster.post(built));
    } catch (error) {
      // Cut off by the stop: close() counts it in flight at the end.
      if (this.stopped) throw new ScenarioStopped("stopped");
      if (key && push) this.#forget(key, push);
      run.sink.counter(`${METRIC.errorPrefix}http`);
      run.errors.add(`POST failed: ${describeError(error)}`);
      return { status: 0, body: describeError(error), ms: run.now() - startedAt };
    }
    const ms = run.now() - startedAt;
    if (status >= 200 && status < 300) {
      if (push) this.#answered(push, true);
      run.sink.counter(METRIC.sent);
      if (built.body) run.sink.counter(METRIC.sentBytes, built.body.byteLength);
    } else {
      if (key && push) this.#forget(key, push);
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
    if (data !== null) {
      const key = data.replace(/=+$/, "");
      const pushes = this.#sent?.get(key);
      if (pushes && pushes.length > 0) {
        const push = pushes.shift()!;
        if (pushes.length === 0) this.#sent!.delete(key);
        latencyMs = run.now() - push.at;
        run.sink.histogram(METRIC.latency, latencyMs);
        this.#settle(push);
      } else if (this.#sent && this.#sent.size > 0) {
        run.sink.counter("notification.unknown");
      }
    }
    run.sink.counter(METRIC.received);
    return { channelID, version, data, headers, latencyMs };
  }

  #remember(key: string, at: number): SentPush {
    this.#sent ??= new Map();
    const push: SentPush = { at, answered: false, arrived: false };
    const pushes = this.#sent.get(key);
    if (pushes) pushes.push(push);
    else this.#sent.set(key, [push]);
    this.#unanswered.add(push);
    this.#run.owed.unanswered++;
    return push;
  }

  /** The POST has its answer: accepted (owed until it arrives) or not. */
  #answered(push: SentPush, accepted: boolean): void {
    if (!this.#unanswered.delete(push)) return;
    push.answered = true;
    const { owed } = this.#run;
    owed.unanswered--;
    if (accepted && !push.arrived) owed.accepted++;
    owed.changed();
  }

  /** The push arrived: no longer owed. */
  #settle(push: SentPush): void {
    if (push.arrived) return;
    push.arrived = true;
    const { owed } = this.#run;
    if (push.answered) owed.accepted--;
    owed.changed();
  }

  /** The POST failed or was refused: nothing was promised, the push is no longer expected. */
  #forget(key: string, push: SentPush): void {
    this.#answered(push, false);
    const pushes = this.#sent?.get(key);
    const index = pushes?.indexOf(push) ?? -1;
    if (index < 0) return;
    pushes!.splice(index, 1);
    if (pushes!.length === 0) this.#sent!.delete(key);
  }

  /** Relay pushes that came in unread (the drain window, or a user closing): counted as received. */
  collectArrivals(): void {
    const sent = this.#sent;
    const client = this.#client;
    if (!sent || sent.size === 0 || !client) return;
    const ours = (m: ServerMessage) =>
      m.type === "notification" && m.data !== null && sent.has(m.data.replace(/=+$/, ""));
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

  async #request<T extends "hello" | "register" | "unregister">(
    frame: string,
    type: T,
    timeoutMs: number | undefined,
    match: (message: Extract<ServerMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const client = this.#connected();
    if (!client.send(frame)) throw new ScenarioError("disconnected", `cannot send ${type}: not connected`);
    const ms = timeoutMs ?? this.#run.replyTimeoutMs;
    const reply = await client.next(
      (m) => m.type === type && match(m as Extract<ServerMessage, { type: T }>),
      ms,
    );
    if (!reply) throw new ScenarioError(`${type}_timeout`, `no ${type} reply within ${ms} ms`);
    return reply as Extract<ServerMessage, { type: T }>;
  }

  #send(frame: string): void {
    if (!this.#connected().send(frame)) throw new ScenarioError("disconnected", "cannot send: not connected");
  }

  #connected(): ProtocolClient {
    this.#checkRunning();
    if (!this.#client) throw new ScenarioError("disconnected", "not connected (call connect() first)");
    return this.#client;
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
