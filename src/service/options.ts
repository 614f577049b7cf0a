/**
 * PushService's options: their types, defaults, documented ranges and validation. A bad option
 * fails at construction with one sentence that names it: TypeError for the wrong kind of value,
 * RangeError for a number outside its range. Every duration stays below 2^31 ms, the largest
 * delay a timer keeps (a larger one fires after 1 ms in every runtime).
 */

import { MAX_DECRYPT_WORKERS } from "../crypto/worker-messages.ts";
import type { PushDB } from "../db/push-db.ts";
import type { Logger } from "../log.ts";
import { isLoopbackHost } from "../net/hosts.ts";
import { checkNetworkOptions, type NetworkOptions } from "../net/proxy.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { IDBFactoryLike } from "../web-types.ts";
import type { ConnectionOptions } from "./connection-types.ts";
import type { QuotaOptions } from "./lifecycle.ts";

/** `proxy`, `noProxy` and `tls` (Node): see net/proxy.ts and the README's "Proxies and private CAs". */
export interface PushServiceOptions extends NetworkOptions {
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
  /**
   * ms a push-message observer may take (a returned promise that has not settled by then). Past
   * it the observer counts as failed: nack 303, logged, and the channel's next message goes on.
   * Default 300 000, the five minutes Firefox and Chromium give a service worker's push event
   * that extends it with waitUntil().
   */
  observerTimeout?: number;
  /**
   * Messages held, with their payloads, while no push-message observer exists: at most this
   * many (default 1 000). Beyond it a message is left unacked for the server to keep.
   */
  maxHeldMessages?: number;
  /** The same cap in payload bytes (the frame's base64url data). Default 4 MiB. */
  maxHeldBytes?: number;
  /**
   * Frames that arrive while the hello reply is handled are queued and replayed once Ready; at
   * most this many (default 1 000). One more drops the socket (nothing was acked, so the server
   * keeps every message) and the client reconnects with backoff.
   */
  maxHandshakeFrames?: number;
}

/** The largest delay setTimeout/setInterval keep: 2^31 − 1 ms (about 24.8 days). */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** A timer delay computed from options or from what a server did, kept where a timer honours it. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(ms, 0), MAX_TIMER_DELAY);
}

/** A wall-clock check more often than this costs CPU and finds a sleep no sooner (30 s slack). */
export const MIN_WAKE_CHECK_INTERVAL = 1_000;

const HOUR = 3_600_000;

/**
 * Documented ranges (README, Options): [min, max], inclusive. Waits for the server are capped at
 * an hour, so a service whose server answers is Ready again within an hour of any drop; a
 * conforming autopush sends at most 21 stored messages before it waits for acks, hence the floor
 * of maxHandshakeFrames.
 */
export const OPTION_RANGES = {
  requestTimeout: [1, HOUR],
  retryBaseInterval: [1, HOUR],
  pingInterval: [1, 24 * HOUR],
  connectTimeout: [1, HOUR],
  wakeCheckInterval: [MIN_WAKE_CHECK_INTERVAL, HOUR],
  quotaUpdateDelay: [0, HOUR],
  maxRecentMessageIDs: [0, 10_000],
  observerTimeout: [1, HOUR],
  maxHeldMessages: [0, 1_000_000],
  maxHeldBytes: [0, 2 ** 30],
  maxHandshakeFrames: [100, 1_000_000],
} as const satisfies Record<string, readonly [number, number]>;

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
  observerTimeout: 300_000,
  maxHeldMessages: 1_000,
  maxHeldBytes: 4 * 1024 * 1024,
  maxHandshakeFrames: 1_000,
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
    | "observerTimeout"
    | "maxHeldMessages"
    | "maxHeldBytes"
    | "maxHandshakeFrames"
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
  checkNetworkOptions(options);
  return {
    serverURL,
    requestTimeout: duration("requestTimeout", options.requestTimeout),
    retryBaseInterval: duration("retryBaseInterval", options.retryBaseInterval),
    pingInterval: duration("pingInterval", options.pingInterval),
    connectTimeout: duration("connectTimeout", options.connectTimeout),
    wakeCheckInterval: wakeInterval(options.wakeCheckInterval ?? DEFAULTS.wakeCheckInterval),
    subprotocol: checkSubprotocol(options.subprotocol ?? null),
    maxRecentMessageIDs: count("maxRecentMessageIDs", options.maxRecentMessageIDs),
    quotaUpdateDelay: count("quotaUpdateDelay", options.quotaUpdateDelay),
    decryptWorkers: workerCount(options.decryptWorkers ?? DEFAULTS.decryptWorkers),
    observerTimeout: duration("observerTimeout", options.observerTimeout),
    maxHeldMessages: count("maxHeldMessages", options.maxHeldMessages),
    maxHeldBytes: count("maxHeldBytes", options.maxHeldBytes),
    maxHandshakeFrames: count("maxHandshakeFrames", options.maxHandshakeFrames),
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

type RangedOption = keyof typeof OPTION_RANGES & keyof typeof DEFAULTS;

/** A timer duration in ms: a number within the option's range; fractions are allowed. */
function duration(name: RangedOption, given: number | undefined): number {
  const value = given ?? DEFAULTS[name];
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number of milliseconds, got ${describe(value)}`);
  }
  return inRange(name, value, "ms");
}

/** A whole number (a count, a size in bytes, or a delay that is 0 for "at once"). */
function count(name: RangedOption, given: number | undefined): number {
  const value = given ?? DEFAULTS[name];
  if (!Number.isInteger(value)) throw new TypeError(`${name} must be a whole number, got ${describe(value)}`);
  return inRange(name, value, "");
}

function inRange(name: RangedOption, value: number, unit: string): number {
  const [min, max] = OPTION_RANGES[name];
  if (value >= min && value <= max) return value;
  const suffix = unit ? ` ${unit}` : "";
  throw new RangeError(`${name} must be from ${min} to ${max}${suffix}, got ${value}`);
}

/** 0 turns the check off; otherwise a duration within its range. */
function wakeInterval(value: number): number {
  if (value === 0) return 0;
  if (!Number.isInteger(value)) {
    throw new TypeError(`wakeCheckInterval must be a whole number of milliseconds, got ${describe(value)}`);
  }
  const [min, max] = OPTION_RANGES.wakeCheckInterval;
  if (value >= min && value <= max) return value;
  throw new RangeError(`wakeCheckInterval must be 0 (off) or from ${min} to ${max} ms, got ${value}`);
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
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
    maxHandshakeFrames: config.maxHandshakeFrames,
    logger: config.logger,
  };
}
