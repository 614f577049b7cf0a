/**
 * PushServerOptions: every knob of the local push server, with autopush's defaults, and their
 * resolution into a complete, validated settings object: every number has a range
 * (OPTION_RANGES), and a value outside it is one TypeError or RangeError line naming the option.
 */

import { type Logger, silentLogger } from "../log.ts";

export interface PushServerOptions {
  /** Address both listeners bind to. Default "127.0.0.1". */
  host?: string;
  /** WebSocket (autoconnect) port; 0 picks a free port. Default 8080. */
  port?: number;
  /**
   * HTTP (autoendpoint) port; 0 picks a free port. When absent, one server on `port` serves both:
   * WebSocket upgrades on "/", HTTP routes otherwise.
   */
  endpointPort?: number;
  /** Public base URL written into pushEndpoint; VAPID `aud` must be its origin. Default http://host:endpointPort. */
  endpointURL?: string;
  /** Messages read from storage in one session before the uaid is reset. Default 150. */
  msgLimit?: number;
  /** Largest accepted push body in bytes. Default 5630. */
  maxDataBytes?: number;
  /**
   * Echo the `push-notification` subprotocol when a client asks for it. Default false: like
   * autoconnect 1.83.1, the 101 reply never carries a subprotocol.
   */
  echoSubprotocol?: boolean;
  /** ms a new socket has to send hello. Default 5000. */
  handshakeTimeout?: number;
  /** ms between WebSocket-level ping frames. Default 300000. */
  autoPingInterval?: number;
  /** ms to wait for the pong frame. Default 4000. */
  autoPingTimeout?: number;
  /** Minimum ms between two client "{}" pings. Default 45000. */
  minPingInterval?: number;
  /** Megaphone API URL polled for broadcast versions (GET → {"broadcasts": {id: version}}). */
  megaphoneURL?: string;
  /** ms between Megaphone polls. Default 30000. */
  megaphonePollInterval?: number;
  /** Static broadcast versions (alternative or addition to Megaphone). */
  broadcasts?: Record<string, string>;
  /** Secret for endpoint tokens and message ids. Default: random per process, or kept in `state`. */
  cryptoKey?: Uint8Array | string;
  /**
   * Directory (LevelDB) that keeps uaids, channels, stored messages, broadcast versions and the
   * token secret across restarts. Default: none, everything lives in memory and dies with the process.
   */
  state?: string;
  /**
   * ms between attempts to write the state again after a write failed (disk full, I/O error).
   * While writes fail, pushes that would be stored get 503 and registrations status 500.
   * Default 1000.
   */
  stateRetryInterval?: number;
  /** Stored messages kept per uaid; beyond it the oldest is dropped. Default 1000. */
  maxStoredPerUser?: number;
  /** Unacked direct notifications per connection; beyond it pushes go to storage. Default 128. */
  maxUnackedDirect?: number;
  /** One line per connection and per push. Default: silent. */
  logger?: Logger;
  /** Clock in ms since the epoch (TTL expiry, VAPID exp, ping rate). Default Date.now. */
  now?: () => number;
}

export interface ResolvedOptions {
  host: string;
  port: number;
  endpointPort: number | undefined;
  endpointURL: string | undefined;
  msgLimit: number;
  maxDataBytes: number;
  echoSubprotocol: boolean;
  handshakeTimeout: number;
  autoPingInterval: number;
  autoPingTimeout: number;
  minPingInterval: number;
  megaphoneURL: string | undefined;
  megaphonePollInterval: number;
  broadcasts: Record<string, string>;
  cryptoKey: Uint8Array | string | undefined;
  state: string | undefined;
  stateRetryInterval: number;
  maxStoredPerUser: number;
  maxUnackedDirect: number;
  logger: Logger;
  now: () => number;
}

/** The longest duration a Node timer takes; above it setTimeout fires after 1 ms. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Every number option's range: durations in ms (a timer each, so below 2^31 ms), counts and
 * sizes whole numbers. README "push-agent/server options" lists the same table.
 */
export const OPTION_RANGES = {
  port: { min: 0, max: 65_535, integer: true },
  endpointPort: { min: 0, max: 65_535, integer: true },
  msgLimit: { min: 1, max: MAX_DURATION_MS, integer: true },
  maxDataBytes: { min: 1, max: 1_048_576, integer: true },
  handshakeTimeout: { min: 1, max: MAX_DURATION_MS, integer: false },
  autoPingInterval: { min: 1, max: MAX_DURATION_MS, integer: false },
  autoPingTimeout: { min: 1, max: MAX_DURATION_MS, integer: false },
  minPingInterval: { min: 0, max: MAX_DURATION_MS, integer: false },
  megaphonePollInterval: { min: 1, max: MAX_DURATION_MS, integer: false },
  stateRetryInterval: { min: 1, max: MAX_DURATION_MS, integer: false },
  maxStoredPerUser: { min: 1, max: 10_000_000, integer: true },
  maxUnackedDirect: { min: 1, max: 100_000, integer: true },
} as const satisfies Record<string, { min: number; max: number; integer: boolean }>;

type NumberOption = keyof typeof OPTION_RANGES;

export function resolveOptions(options: PushServerOptions = {}): ResolvedOptions {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  const num = (name: NumberOption, fallback: number) => inRange(name, options[name] ?? fallback);
  return {
    host: nonEmptyString("host", options.host ?? "127.0.0.1"),
    port: num("port", 8080),
    endpointPort:
      options.endpointPort === undefined ? undefined : inRange("endpointPort", options.endpointPort),
    endpointURL: options.endpointURL === undefined ? undefined : httpURL("endpointURL", options.endpointURL),
    msgLimit: num("msgLimit", 150),
    maxDataBytes: num("maxDataBytes", 5630),
    echoSubprotocol: boolean("echoSubprotocol", options.echoSubprotocol ?? false),
    handshakeTimeout: num("handshakeTimeout", 5000),
    autoPingInterval: num("autoPingInterval", 300_000),
    autoPingTimeout: num("autoPingTimeout", 4000),
    minPingInterval: num("minPingInterval", 45_000),
    megaphoneURL:
      options.megaphoneURL === undefined ? undefined : httpURL("megaphoneURL", options.megaphoneURL),
    megaphonePollInterval: num("megaphonePollInterval", 30_000),
    broadcasts: broadcasts(options.broadcasts ?? {}),
    cryptoKey: cryptoKey(options.cryptoKey),
    state: options.state === undefined ? undefined : nonEmptyString("state", options.state),
    stateRetryInterval: num("stateRetryInterval", 1000),
    maxStoredPerUser: num("maxStoredPerUser", 1000),
    maxUnackedDirect: num("maxUnackedDirect", 128),
    logger: logger(options.logger),
    now: fn("now", options.now ?? Date.now),
  };
}

/** One line naming the option: TypeError for a wrong type, RangeError for a value outside its range. */
function inRange(name: NumberOption, value: unknown): number {
  const range = OPTION_RANGES[name];
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  }
  const kind = range.integer ? "a whole number" : "a number";
  if (value < range.min || value > range.max || (range.integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be ${kind} ${range.min}-${range.max}, got ${value}`);
  }
  return value;
}

function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, got ${describe(value)}`);
  if (value.length === 0) throw new RangeError(`${name} must not be empty`);
  return value;
}

function boolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function fn<T>(name: string, value: T): T {
  if (typeof value !== "function") throw new TypeError(`${name} must be a function, got ${describe(value)}`);
  return value;
}

function logger(value: Logger | undefined): Logger {
  if (value === undefined) return silentLogger;
  const methods = ["debug", "info", "warn", "error"] as const;
  if (typeof value !== "object" || value === null || methods.some((m) => typeof value[m] !== "function")) {
    throw new TypeError("logger must have debug, info, warn and error methods");
  }
  return value;
}

function broadcasts(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`broadcasts must be an object of id → version strings, got ${describe(value)}`);
  }
  for (const [id, version] of Object.entries(value)) {
    if (typeof version !== "string") throw new TypeError(`broadcasts.${id} must be a string version`);
  }
  return { ...(value as Record<string, string>) };
}

function cryptoKey(value: unknown): Uint8Array | string | undefined {
  if (value === undefined || typeof value === "string" || value instanceof Uint8Array) return value;
  throw new TypeError(`cryptoKey must be a string or a Uint8Array, got ${describe(value)}`);
}

/** An http(s) URL; the endpoint base is joined with "/wpush/..." and "/m/...", so it keeps no trailing slash. */
function httpURL(name: string, value: unknown): string {
  const text = nonEmptyString(name, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`${name} is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError(`${name} must be http(s)`);
  return name === "endpointURL" ? url.href.replace(/\/+$/, "") : text;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return typeof value;
}
