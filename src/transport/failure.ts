/**
 * Why a WebSocket never opened, as a typed value: what the runtime's error says, sorted into the
 * causes a user can act on. Node's `ws` reports the cause (a system error code, the HTTP status,
 * a subprotocol complaint); a browser reports only "error" then close 1006, which stays honest
 * as "closed-before-open". A failure at a proxy arrives as a ProxyError and keeps its own kind.
 */

export type ConnectFailureKind =
  /** Nothing listens on the port (ECONNREFUSED). */
  | "refused"
  /** The host name does not resolve (ENOTFOUND, EAI_AGAIN, ...). */
  | "dns"
  /** The TLS handshake failed: a bad or untrusted certificate, a protocol mismatch. */
  | "tls"
  /** The server answered the upgrade with an HTTP status instead of 101 (`status` holds it). */
  | "http-status"
  /** We asked for a subprotocol and the server echoed none (autoconnect never echoes one). */
  | "subprotocol-missing"
  /** The server selected a subprotocol we did not ask for. */
  | "subprotocol-mismatch"
  /** No complete opening handshake within connectTimeout. */
  | "handshake-timeout"
  /** Another network error (reset, unreachable, timed out at the OS level); `code` holds it. */
  | "network"
  /** The runtime gave no reason (browsers: close 1006 before open). */
  | "closed-before-open"
  /** The proxy could not be reached: refused, not resolvable, reset. */
  | "proxy-refused"
  /** The proxy wants credentials or refused the ones given (HTTP 407, SOCKS5 authentication). */
  | "proxy-auth"
  /** The proxy answered the tunnel request (CONNECT, SOCKS connect) with a refusal. */
  | "proxy-rejected";

export interface ConnectFailure {
  kind: ConnectFailureKind;
  /** One line saying why, fit for a log line and the CLI. Never holds a secret. */
  message: string;
  /** kind "http-status": the status the server answered instead of 101. */
  status?: number;
  /** The proxy (credentials shown as `***`) when the failure is the proxy's. */
  proxy?: string;
  /** The system or TLS error code when the runtime gives one (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT). */
  code?: string;
}

export function failure(
  kind: ConnectFailureKind,
  message: string,
  extra: Partial<ConnectFailure> = {},
): ConnectFailure {
  return { kind, message, ...extra };
}

/** Two failures with the same key are the same reason (the CLI and the log say it once). */
export function failureKey(reason: ConnectFailure): string {
  return `${reason.kind}|${reason.status ?? ""}|${reason.code ?? ""}`;
}

export function closedBeforeOpen(code: number): ConnectFailure {
  return failure(
    "closed-before-open",
    `the connection closed before it opened (${code}); the runtime gives no reason`,
    code === 1006 ? {} : { code: String(code) },
  );
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA", "ENODATA"]);
const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/;

interface ErrorLike {
  message?: unknown;
  code?: unknown;
  library?: unknown;
}

/**
 * A connection that failed at the proxy, not at the server: thrown by the proxy agents
 * (net/network-node.ts) and carried through `ws` and node:http unchanged, so its cause survives.
 */
export class ProxyError extends Error {
  override name = "ProxyError";
  readonly failure: ConnectFailure;

  constructor(reason: ConnectFailure) {
    super(reason.message);
    this.failure = reason;
  }
}

/** Sort what a socket's 'error' event carries into a ConnectFailure. */
export function classifyConnectError(event: unknown, host: string): ConnectFailure | null {
  const error = errorOf(event);
  if (!error) return null;
  if (error instanceof ProxyError) return error.failure;
  const message = typeof error.message === "string" ? error.message : "";
  const code = typeof error.code === "string" ? error.code : undefined;
  const status = /^Unexpected server response: (\d{3})/.exec(message);
  if (status) {
    const value = Number(status[1]);
    return failure("http-status", `HTTP ${value} from ${host} instead of 101 Switching Protocols`, {
      status: value,
    });
  }
  if (message === "Server sent no subprotocol") {
    return failure("subprotocol-missing", `${host} echoed no subprotocol, but one was asked for`);
  }
  if (/subprotocol/i.test(message)) {
    return failure(
      "subprotocol-mismatch",
      `${host} selected a subprotocol that was not asked for (${message})`,
    );
  }
  if (message === "Opening handshake has timed out") {
    return failure("handshake-timeout", `no WebSocket handshake with ${host} in time`);
  }
  if (code === "ECONNREFUSED") return failure("refused", `connection refused by ${host}`, { code });
  if (code && DNS_CODES.has(code))
    return failure("dns", `cannot resolve ${hostname(host)} (${code})`, { code });
  if ((code && TLS_CODE.test(code)) || error.library === "SSL routines") {
    return failure("tls", `TLS with ${host} failed: ${message}`, code ? { code } : {});
  }
  if (code) return failure("network", `network error with ${host}: ${message}`, { code });
  return message ? failure("network", `cannot connect to ${host}: ${message}`) : null;
}

/** `ws` passes an ErrorEvent whose `error` is the Error; browsers a bare Event. */
function errorOf(event: unknown): ErrorLike | null {
  if (typeof event !== "object" || event === null) return null;
  const inner = (event as { error?: unknown }).error;
  if (typeof inner === "object" && inner !== null) return inner as ErrorLike;
  if (event instanceof Error) return event as ErrorLike;
  return null;
}

function hostname(host: string): string {
  return host.replace(/:\d+$/, "");
}
