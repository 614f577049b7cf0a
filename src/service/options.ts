/**
 * PushService's options: their types, defaults and validation. A bad option fails at
 * construction with one TypeError sentence that names it.
 */

import { MAX_DECRYPT_WORKERS } from "../crypto/worker-messages.ts";
import type { PushDB } from "../db/push-db.ts";
import type { Logger } from "../log.ts";
import { isLoopbackHost, type WebSocketConstructor } from "../transport/websocket.ts";
import type { IDBFactoryLike } from "../web-types.ts";
import type { ConnectionOptions } from "./connection-types.ts";
import type { QuotaOptions } from "./lifecycle.ts";

export interface PushServiceOptions {
  /** The autopush server. Default "wss://push.services.mozilla.com/". */
  serverURL?: string;
  /** IndexedDB factory; default globalThis.indexedDB. */
  indexedDB?: IDBFactoryLike;
  /** IndexedDB database name; default "pushapi". */
  databaseName?: string;
  /** Any PushDB implementation; wins over indexedDB. */
  db?: PushDB;
  /** WebSocket constructor; default the native one, else `ws`. */
  WebSocket?: WebSocketConstructor;
  /** ms to wait for a register/unregister reply, the hello reply, a pong or a liveness probe. Default 10 000. */
  requestTimeout?: number;
  /** ms; reconnect backoff is retryBaseInterval × 2^n, capped at pingInterval. Default 5 000. */
  retryBaseInterval?: number;
  /**
   * ms of inbound silence before sending a `{}` ping. Default 1 800 000. A `{}` ping never goes
   * out sooner than 45 000 ms after the previous one (autoconnect closes a client that pings
   * faster); a smaller value is clamped for pings, with a warning, and still caps the backoff.
   */
  pingInterval?: number;
  /**
   * The WebSocket subprotocol to ask for. Default none: autoconnect (Mozilla's server) never
   * echoes one, and Node's `ws` and Chromium abort a handshake whose asked-for subprotocol is
   * not echoed. Set "push-notification" only for a server that demands it.
   */
  subprotocol?: string | null;
  /** ms the WebSocket opening handshake (TCP, TLS, HTTP upgrade) may take. Default 20 000. */
  connectTimeout?: number;
  /**
   * ms between wall-clock checks that notice the machine slept (the clock jumped more than 30 s
   * past the check) and then act as networkChanged(). Default 10 000; 0 turns it off.
   */
  wakeCheckInterval?: number;
  /** Per-subscription window of message ids kept to drop duplicates; 0 disables. Default 100. */
  maxRecentMessageIDs?: number;
  /** Allow ws:// to a non-loopback host. Default false. */
  allowInsecureServerURL?: boolean;
  logger?: Logger;
  /**
   * Whether the app behind a scope may receive pushes (a browser shell's notification
   * permission). Default: always true. A push for a scope without permission is acked 102.
   */
  hasPermission?: (scope: string) => boolean | Promise<boolean>;
  /**
   * Opt-in: Firefox's push quota for sites. Without it every subscription is unlimited, like
   * Firefox's system subscriptions.
   */
  quota?: QuotaOptions;
  /** ms between a push and its quota cost being applied. Default 3 000. */
  quotaUpdateDelay?: number;
  /**
   * Decrypt on this many worker threads (Node, Electron main), shared by every PushService of the
   * process that asks for the same number; 0 decrypts on the main thread. Default 0. Ignored by
   * the WebCrypto backend (browsers), which is asynchronous already.
   */
  decryptWorkers?: number;
}

const DEFAULTS = {
  serverURL: "wss://push.services.mozilla.com/",
  requestTimeout: 10_000,
  retryBaseInterval: 5_000,
  pingInterval: 1_800_000,
  connectTimeout: 20_000,
  wakeCheckInterval: 10_000,
  maxRecentMessageIDs: 100,
  quotaUpdateDelay: 3_000,
  decryptWorkers: 0,
};

const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (message, ...details) => console.warn(message, ...details),
  error: (message, ...details) => console.error(message, ...details),
};

export type ResolvedOptions = Required<
  Pick<
    PushServiceOptions,
    | "serverURL"
    | "requestTimeout"
    | "retryBaseInterval"
    | "pingInterval"
    | "connectTimeout"
    | "wakeCheckInterval"
    | "maxRecentMessageIDs"
    | "quotaUpdateDelay"
    | "decryptWorkers"
    | "logger"
  >
> & { subprotocol: string | null };

/**
 * Resolved options, shared by every service whose options resolve to the same values with the
 * same logger (the common case: many agents in one process with the defaults), frozen so no
 * holder can change another's.
 */
const shared = new WeakMap<Logger, Map<string, Readonly<ResolvedOptions>>>();

export function resolveOptions(options: PushServiceOptions): ResolvedOptions {
  const resolved = resolveOwn(options);
  const { logger, ...values } = resolved;
  const key = JSON.stringify(values);
  let byValues = shared.get(logger);
  if (!byValues) {
    byValues = new Map();
    shared.set(logger, byValues);
  }
  const known = byValues.get(key);
  if (known) return known;
  const frozen = Object.freeze(resolved);
  byValues.set(key, frozen);
  return frozen;
}

function resolveOwn(options: PushServiceOptions): ResolvedOptions {
  const serverURL = options.serverURL ?? DEFAULTS.serverURL;
  checkServerURL(serverURL, options.allowInsecureServerURL === true);
  return {
    serverURL,
    requestTimeout: positive("requestTimeout", options.requestTimeout ?? DEFAULTS.requestTimeout),
    retryBaseInterval: positive("retryBaseInterval", options.retryBaseInterval ?? DEFAULTS.retryBaseInterval),
    pingInterval: positive("pingInterval", options.pingInterval ?? DEFAULTS.pingInterval),
    connectTimeout: positive("connectTimeout", options.connectTimeout ?? DEFAULTS.connectTimeout),
    wakeCheckInterval: nonNegativeInteger(
      "wakeCheckInterval",
      options.wakeCheckInterval ?? DEFAULTS.wakeCheckInterval,
    ),
    subprotocol: checkSubprotocol(options.subprotocol ?? null),
    maxRecentMessageIDs: nonNegativeInteger(
      "maxRecentMessageIDs",
      options.maxRecentMessageIDs ?? DEFAULTS.maxRecentMessageIDs,
    ),
    quotaUpdateDelay: nonNegativeInteger(
      "quotaUpdateDelay",
      options.quotaUpdateDelay ?? DEFAULTS.quotaUpdateDelay,
    ),
    decryptWorkers: workerCount(options.decryptWorkers ?? DEFAULTS.decryptWorkers),
    logger: options.logger ?? consoleLogger,
  };
}

function checkServerURL(serverURL: string, allowInsecure: boolean): void {
  let url: URL;
  try {
    url = new URL(serverURL);
  } catch {
    throw new TypeError(`serverURL is not a valid URL: ${JSON.stringify(serverURL)}`);
  }
  if (url.protocol === "wss:") return;
  if (url.protocol !== "ws:") throw new TypeError(`serverURL must be a wss:// URL, not ${url.protocol}//`);
  if (!allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new TypeError(
      `serverURL ${url.host} uses ws:// to a non-loopback host; use wss:// or set allowInsecureServerURL`,
    );
  }
}

/** A subprotocol is an HTTP token (RFC 6455 §4.1); anything else would break the upgrade request. */
function checkSubprotocol(value: string | null): string | null {
  if (value === null) return null;
  if (typeof value !== "string" || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)) {
    throw new TypeError(
      `subprotocol must be a token such as "push-notification", got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function positive(name: string, value: number): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0)
    throw new TypeError(`${name} must be a whole number ≥ 0, got ${String(value)}`);
  return value;
}

function workerCount(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_DECRYPT_WORKERS) {
    throw new TypeError(
      `decryptWorkers must be an integer from 0 to ${MAX_DECRYPT_WORKERS}, got ${String(value)}`,
    );
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Sharing: many services in one process mostly hold the same settings. Frozen objects shared
// between them keep an idle service small (about 0.7 KB each for the connection's options).

/**
 * The connection's options, built field by field rather than by spreading the resolved options
 * (a spread gives every connection its own hidden class and property descriptors), and shared
 * like the resolved options they come from: per options object and WebSocket constructor.
 */
export function connectionOptions(
  config: ResolvedOptions,
  WebSocket: WebSocketConstructor,
): ConnectionOptions {
  let byConstructor = sharedConnectionOptions.get(config);
  if (!byConstructor) {
    byConstructor = new WeakMap();
    sharedConnectionOptions.set(config, byConstructor);
  }
  let options = byConstructor.get(WebSocket);
  if (!options) {
    options = Object.freeze(ownConnectionOptions(config, WebSocket));
    byConstructor.set(WebSocket, options);
  }
  return options;
}

const sharedConnectionOptions = new WeakMap<
  ResolvedOptions,
  WeakMap<WebSocketConstructor, Readonly<ConnectionOptions>>
>();

function ownConnectionOptions(config: ResolvedOptions, WebSocket: WebSocketConstructor): ConnectionOptions {
  return {
    serverURL: config.serverURL,
    WebSocket,
    requestTimeout: config.requestTimeout,
    retryBaseInterval: config.retryBaseInterval,
    pingInterval: config.pingInterval,
    subprotocol: config.subprotocol,
    connectTimeout: config.connectTimeout,
    wakeCheckInterval: config.wakeCheckInterval,
    logger: config.logger,
  };
}
