/**
 * The scenario API's types, shared by the context (virtual-user.ts), the built-in scenarios,
 * the plan runner and anything that drives scenarios from outside (an Artillery engine): what a
 * scenario is, what its context offers, and what the commands return.
 */

import type { PushHeaders } from "../crypto/decrypt.ts";
import type { ServerMessage } from "../protocol/messages.ts";
import type { PushService } from "../service/push-service.ts";
import type { PushSubscriptionJSON } from "../subscription.ts";
import type { NotificationRequest, PayloadMode } from "./payload.ts";

/** A scenario's parameters: from the plan's fields or `--arg name=value`; numbers when numeric. */
export type ScenarioArgs = Record<string, string | number>;

/** One virtual user's script. It ends when the promise settles; a rejection counts as a failure. */
export type ScenarioFunction = (ctx: ScenarioContext) => Promise<void>;

export interface ScenarioDefinition {
  name: string;
  description: string;
  /** Parameters in positional order with their defaults (a plan's extra fields fill them in order). */
  params: ScenarioArgs;
  run: ScenarioFunction;
}

export interface HelloResult {
  uaid: string;
  status: number;
  useWebPush: boolean;
  broadcasts: Record<string, string>;
}

export interface RegisterResult {
  channelID: string;
  status: number;
  /** null when the server refused (status ≠ 200). */
  pushEndpoint: string | null;
}

export interface SendResult {
  status: number;
  /** The start of the response body. */
  body: string;
  /** ms from the POST to its answer. */
  ms: number;
}

export interface Notification {
  channelID: string;
  /** The server's `version`: the message id to ack. */
  version: string;
  /** base64url as received; null for a push without data. */
  data: string | null;
  headers: PushHeaders | null;
  /** ms from its POST, when this virtual user sent it (relay payloads only); else null. */
  latencyMs: number | null;
}

export interface UserAgentPush {
  scope: string;
  text: string | null;
  bytes: Uint8Array | null;
}

/** A real PushService (in-memory store) for user-agent-realistic flows and real decryption. */
export interface UserAgent {
  readonly service: PushService;
  readonly uaid: string | null;
  /** Start and wait until the connection is Ready. */
  start(): Promise<void>;
  stop(): Promise<void>;
  subscribe(
    scope: string,
    options?: { vapid?: boolean },
  ): Promise<PushSubscriptionJSON & { endpoint: string }>;
  unsubscribe(scope: string): Promise<boolean>;
  /** The next push-message for the scope (queued ones first); null after timeoutMs. */
  expectPush(scope: string, timeoutMs: number): Promise<UserAgentPush | null>;
}

/** What a scenario may do. Every command reports its metrics; replies come back as values. */
export interface ScenarioContext {
  /** Number of this virtual user in its process (for names and logs). */
  readonly id: number;
  readonly args: ScenarioArgs;
  readonly payloadMode: PayloadMode;
  /** The run's VAPID public key (base64url), for register(channelID, key). */
  readonly vapidPublicKey: string;
  /** The run was stopped: a forever loop should end. */
  readonly stopped: boolean;

  // Raw protocol level: exactly the frames asked for, on one socket.
  connect(options?: { timeoutMs?: number }): Promise<void>;
  disconnect(): void;
  /** hello with the uaid (or without, for a new one); resolves with the reply. */
  hello(
    uaid?: string | null,
    options?: { broadcasts?: Record<string, string>; timeoutMs?: number },
  ): Promise<HelloResult>;
  register(
    channelID?: string,
    key?: string | null,
    options?: { timeoutMs?: number },
  ): Promise<RegisterResult>;
  unregister(channelID: string, options?: { code?: number; timeoutMs?: number }): Promise<{ status: number }>;
  ack(channelID: string, version: string, code?: number): void;
  nack(version: string, code?: number): void;
  broadcastSubscribe(broadcasts: Record<string, string>): void;
  /** Any text frame, as given (wrong ones included). */
  sendFrame(text: string): void;
  /** The next server frame of the type (inbox first); null after timeoutMs. */
  expectMessage<T extends ServerMessage["type"]>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ServerMessage, { type: T }> | null>;
  /** The next notification for the channel; null after timeoutMs. Relay bytes are checked on arrival. */
  expectNotification(channelID: string, timeoutMs: number): Promise<Notification | null>;
  /** One notification for each channel listed (a channel listed twice wants two); stops at the timeout. */
  expectNotifications(channelIDs: string[], timeoutMs: number): Promise<Notification[]>;

  // The application server.
  sendNotification(request: NotificationRequest): Promise<SendResult>;

  // User-agent level.
  userAgent(): UserAgent;

  // Flow and metrics.
  wait(ms: number): Promise<void>;
  timerStart(name: string): void;
  timerStop(name: string): void;
  counter(name: string, value?: number): void;
  /** Start another test plan (`scenario,count,rate,delay[,args…]`, `|`-separated) in this run. */
  spawn(plan: string): void;
  randomChannelID(): string;
  /** Relay: random aes128gcm-shaped bytes; e2e: random text of about that length. */
  randomData(minBytes?: number, maxBytes?: number): Uint8Array;
}
