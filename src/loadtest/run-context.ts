/**
 * RunContext: what every virtual user of a run shares (the server, sockets, sender, metrics, the
 * run's stop and drain window). The runner and smoke test build it; the virtual user
 * (virtual-user.ts) and its raw protocol level (raw-connection.ts) read it.
 */

import type { Logger } from "../log.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { ErrorLog } from "./error-log.ts";
import type { MetricsSink } from "./metrics.ts";
import type { PayloadMode, RequestBuilder } from "./payload.ts";
import type { PushPoster } from "./poster.ts";
import type { PushLedger } from "./sent-pushes.ts";

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
