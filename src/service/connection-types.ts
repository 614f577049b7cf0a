/**
 * The types the connection shares with its owner and its readers: its states, its options, what
 * it delivers and the delegate it reports to. In their own file so that the observer bus and the
 * service can name them without importing the connection itself.
 */

import type { Logger } from "../log.ts";
import type {
  BroadcastMessage,
  HelloReply,
  LegacyNotification,
  WebPushNotification,
} from "../protocol/messages.ts";
import type { ConnectFailure } from "../transport/failure.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";

export type ConnectionState = "ShutDown" | "WaitingForWebSocket" | "WaitingForHello" | "Ready";

export interface ConnectionOptions {
  serverURL: string;
  WebSocket: WebSocketConstructor;
  requestTimeout: number;
  retryBaseInterval: number;
  pingInterval: number;
  /** The subprotocol to ask for; null (the default) asks for none, which every autopush accepts. */
  subprotocol: string | null;
  /** ms the opening handshake may take. */
  connectTimeout: number;
  /** ms between wall-clock checks for a sleep; 0 disables. */
  wakeCheckInterval?: number;
  logger: Logger;
}

export type InboundMessage = WebPushNotification | LegacyNotification | BroadcastMessage;

export interface ConnectionDelegate {
  /** What to say in hello. A failure here is treated as "no subscriptions". */
  hello(): Promise<{ uaid: string | null; broadcasts: Record<string, string> }>;
  /** Act on a valid hello reply; the connection is Ready, and requests are re-sent, once it resolves. */
  handshake(reply: HelloReply): Promise<void>;
  message(message: InboundMessage): void;
  /** `error` is set when the change to ShutDown is a connection attempt that failed. */
  stateChanged(state: ConnectionState, previous: ConnectionState, error?: ConnectFailure): void;
}
