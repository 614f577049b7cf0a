/**
 * PushServerOptions: every knob of the local push server, with autopush's defaults, and their
 * resolution into a complete, validated settings object.
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
  /** Stored messages kept per uaid; beyond it the oldest is dropped. Default 1000. */
  maxStoredPerUser?: number;
  /** Unacked direct notifications per connection; beyond it pushes go to storage. Default 128. */
  maxUnackedDirect?: number;
  /** One line per connection and per push. Default: silent. */
  logger?: Logger;
  /** Clock in ms since the epoch (TTL expiry, VAPID exp, ping rate). Default Date.now. */
  now?: () => number;
  /**
   * Serve wss:// and https:// with this certificate (PEM); with `requestCert`, clients must show
   * a certificate signed by `ca`. Default: plain ws:// and http://.
   */
  tls?: ServerTlsOptions;
}

export interface ServerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer | (string | Buffer)[];
  requestCert?: boolean;
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
  maxStoredPerUser: number;
  maxUnackedDirect: number;
  logger: Logger;
  now: () => number;
  tls: ServerTlsOptions | undefined;
}

export function resolveOptions(options: PushServerOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    host: options.host ?? "127.0.0.1",
    port: port("port", options.port ?? 8080),
    endpointPort: options.endpointPort === undefined ? undefined : port("endpointPort", options.endpointPort),
    endpointURL: options.endpointURL === undefined ? undefined : baseURL(options.endpointURL),
    msgLimit: positive("msgLimit", options.msgLimit ?? 150),
    maxDataBytes: positive("maxDataBytes", options.maxDataBytes ?? 5630),
    echoSubprotocol: options.echoSubprotocol === true,
    handshakeTimeout: positive("handshakeTimeout", options.handshakeTimeout ?? 5000),
    autoPingInterval: positive("autoPingInterval", options.autoPingInterval ?? 300_000),
    autoPingTimeout: positive("autoPingTimeout", options.autoPingTimeout ?? 4000),
    minPingInterval: nonNegative("minPingInterval", options.minPingInterval ?? 45_000),
    megaphoneURL: options.megaphoneURL,
    megaphonePollInterval: positive("megaphonePollInterval", options.megaphonePollInterval ?? 30_000),
    broadcasts: { ...(options.broadcasts ?? {}) },
    cryptoKey: options.cryptoKey,
    state: nonEmpty("state", options.state),
    maxStoredPerUser: positive("maxStoredPerUser", options.maxStoredPerUser ?? 1000),
    maxUnackedDirect: positive("maxUnackedDirect", options.maxUnackedDirect ?? 128),
    logger: options.logger ?? silentLogger,
    now: options.now ?? Date.now,
    tls: options.tls,
  };
  if (resolved.megaphoneURL !== undefined) new URL(resolved.megaphoneURL);
  return resolved;
}

function nonEmpty(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && (typeof value !== "string" || value.length === 0))
    throw new RangeError(`${name} must be a non-empty path`);
  return value;
}

function port(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new RangeError(`${name} must be 0-65535`);
  return value;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be >= 0`);
  return value;
}

/** The base is joined with "/wpush/..." and "/m/...", so it keeps no trailing slash. */
function baseURL(value: string): string {
  const url = new URL(value);
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new RangeError("endpointURL must be http(s)");
  return url.href.replace(/\/+$/, "");
}
