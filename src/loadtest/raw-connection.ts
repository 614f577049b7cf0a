/**
 * The raw protocol level of one virtual user: its ProtocolClient (opened in a connect slot,
 * closed on disconnect), and the commands on it (hello, register, unregister, ack, nack,
 * broadcast_subscribe, a raw frame, waiting for a message) with their metrics. Notifications
 * and their relay bytes stay with the virtual user (virtual-user.ts), which reads replies here.
 */

import { randomUUID } from "node:crypto";
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
import { METRIC } from "./metrics.ts";
import { ProtocolClient, ScenarioError, ScenarioStopped } from "./protocol-client.ts";
import type { RunContext } from "./run-context.ts";
import type { HelloResult, RegisterResult } from "./scenario-types.ts";

/** What the raw level reads from its virtual user. */
export interface RawUser {
  readonly stopped: boolean;
  /** Take relay pushes that came in unread (the drain window). */
  collectArrivals(): void;
}

export class RawConnection {
  readonly #run: RunContext;
  readonly #user: RawUser;
  #client: ProtocolClient | null = null;

  constructor(run: RunContext, user: RawUser) {
    this.#run = run;
    this.#user = user;
  }

  /** The client while there is one, open or not. */
  get client(): ProtocolClient | null {
    return this.#client;
  }

  async connect(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#checkStopped();
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
    this.#checkStopped();
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
          if (run.draining) this.#user.collectArrivals();
        },
      },
      timeoutMs,
    );
    this.#client = client;
    try {
      await client.opened();
    } catch (error) {
      client.close(this.#user.stopped);
      this.#client = null;
      throw this.#user.stopped ? new ScenarioStopped("stopped") : error;
    }
    run.sink.counter(METRIC.connectionOpened);
    run.sink.histogram(METRIC.connectTime, run.now() - startedAt);
  }

  disconnect(): void {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    if (client.isOpen) this.#run.sink.counter(METRIC.connectionClosed);
    client.close(this.#user.stopped);
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
    const message = await this.connected().next((m) => m.type === type, timeoutMs);
    return message as Extract<ServerMessage, { type: T }> | null;
  }

  async #request<T extends "hello" | "register" | "unregister">(
    frame: string,
    type: T,
    timeoutMs: number | undefined,
    match: (message: Extract<ServerMessage, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const client = this.connected();
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
    if (!this.connected().send(frame)) throw new ScenarioError("disconnected", "cannot send: not connected");
  }

  /** The open client; throws ScenarioStopped after the stop, ScenarioError before connect(). */
  connected(): ProtocolClient {
    this.#checkStopped();
    if (!this.#client) throw new ScenarioError("disconnected", "not connected (call connect() first)");
    return this.#client;
  }

  #checkStopped(): void {
    if (this.#user.stopped) throw new ScenarioStopped("stopped");
  }
}
