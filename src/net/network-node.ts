/**
 * The network layer on Node: turns the NetworkOptions (net/proxy.ts decides the proxy) into what
 * Node's sockets take: an http.Agent that tunnels through the proxy (`https-proxy-agent` for HTTP
 * CONNECT, `socks-proxy-agent` for SOCKS), TLS options for the target, a `ws` WebSocket bound to
 * both, and one HTTP request for sendPush. A failure at the proxy leaves as a ProxyError naming
 * the proxy with its credentials masked. Reached through `#network`, never from a browser.
 */

import { readFileSync } from "node:fs";
import type { Agent, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { HttpsProxyAgent } from "https-proxy-agent";
import { SocksProxyAgent } from "socks-proxy-agent";
import { failure, ProxyError } from "../transport/failure.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import { textWithoutCredentials } from "../url-credentials.ts";
import {
  type NetworkOptions,
  type ProxyChoice,
  proxyFor,
  redactURL,
  type TlsMaterial,
  type TlsOptions,
} from "./proxy.ts";

/** TLS options as node:tls takes them, for the target (and for an https:// proxy). */
export interface NodeTlsOptions {
  ca?: (string | Buffer)[];
  cert?: (string | Buffer)[];
  key?: (string | Buffer)[];
  passphrase?: string;
}

/** Socket pool settings for a long-lived agent (the load tester's keep-alive sender). */
export interface PoolOptions {
  keepAlive?: boolean;
  maxSockets?: number;
}

type AgentLike = HttpsProxyAgent<string> | SocksProxyAgent;

const agents = new WeakMap<NetworkOptions, Map<string, AgentLike>>();

/** The proxy agent for `target`, or undefined for a direct connection. One agent per options and proxy. */
export function agentFor(target: URL, options: NetworkOptions, pool: PoolOptions = {}): Agent | undefined {
  const choice = proxyFor(target, options);
  if (!choice) return undefined;
  let byProxy = agents.get(options);
  if (!byProxy) {
    byProxy = new Map();
    agents.set(options, byProxy);
  }
  const key = `${choice.url.href}|${pool.keepAlive === true}|${pool.maxSockets ?? ""}`;
  let agent = byProxy.get(key);
  if (!agent) {
    agent = makeAgent(choice, { ...pool, ...targetTls(options.tls) });
    byProxy.set(key, agent);
  }
  return agent;
}

/** Destroys the pooled sockets of every agent made for these options. */
export function closeAgents(options: NetworkOptions): void {
  for (const agent of agents.get(options)?.values() ?? []) agent.destroy();
  agents.delete(options);
}

function makeAgent(choice: ProxyChoice, agentOptions: PoolOptions & NodeTlsOptions): AgentLike {
  const label = redactURL(choice.url);
  return choice.url.protocol.startsWith("socks")
    ? socksAgent(label, choice.url.href, agentOptions)
    : tunnelAgent(label, choice.url.href, agentOptions);
}

/**
 * HTTP CONNECT through an http:// or https:// proxy. The agent replays a refused CONNECT's reply
 * to the request as if the server had sent it; the status is caught first and thrown as a
 * ProxyError instead, so a 407 is never taken for the push server's answer.
 */
function tunnelAgent(label: string, proxy: string, options: PoolOptions & NodeTlsOptions): AgentLike {
  const agent = new HttpsProxyAgent(proxy, options);
  const connect = agent.connect.bind(agent);
  agent.connect = async (req, opts) => {
    let status = 0;
    const onConnect = (reply: { statusCode: number }) => {
      status = reply.statusCode;
    };
    req.once("proxyConnect", onConnect);
    try {
      const socket = await connect(req, opts).catch((error: unknown) => {
        throw unreachable(label, error);
      });
      if (status === 200) return socket;
      socket.destroy();
      throw tunnelRefused(label, status, `${opts.host}:${opts.port}`);
    } finally {
      req.off("proxyConnect", onConnect);
    }
  };
  return agent;
}

/** SOCKS4/5 through `socks-proxy-agent`; the proxy's refusals become ProxyErrors. */
function socksAgent(label: string, proxy: string, options: PoolOptions & NodeTlsOptions): AgentLike {
  const agent = new SocksProxyAgent(proxy, options);
  const connect = agent.connect.bind(agent);
  agent.connect = (req, opts) =>
    connect(req, opts).catch((error: unknown) => {
      throw socksFailure(label, error, `${opts.host}:${opts.port}`);
    });
  return agent;
}

function socksFailure(label: string, error: unknown, target: string): unknown {
  // With socks5:// the target name is resolved before the proxy is asked: that failure is the target's.
  if ((error as { syscall?: string }).syscall === "getaddrinfo") return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/authentication failed/i.test(message)) {
    return new ProxyError(
      failure("proxy-auth", `SOCKS proxy ${label} refused the credentials`, { proxy: label }),
    );
  }
  if (/rejected connection/i.test(message)) {
    return new ProxyError(
      failure("proxy-rejected", `SOCKS proxy ${label} refused to connect to ${target}`, { proxy: label }),
    );
  }
  return unreachable(label, error);
}

const SYSTEM_CODE = /\b(E[A-Z]{3,}|EAI_[A-Z]+)\b/;

/** The proxy itself could not be reached (refused, no such host, reset, TLS to the proxy). */
function unreachable(label: string, error: unknown): ProxyError {
  const code =
    typeof (error as { code?: unknown }).code === "string"
      ? (error as { code: string }).code
      : SYSTEM_CODE.exec(String((error as Error)?.message ?? ""))?.[1];
  const detail = code ?? textWithoutCredentials(error instanceof Error ? error.message : String(error));
  const verb = code === "ECONNREFUSED" ? "refused the connection" : "could not be reached";
  return new ProxyError(
    failure("proxy-refused", `proxy ${label} ${verb} (${detail})`, {
      proxy: label,
      ...(code ? { code } : {}),
    }),
  );
}

function tunnelRefused(label: string, status: number, target: string): ProxyError {
  if (status === 407) {
    return new ProxyError(
      failure("proxy-auth", `proxy ${label} wants credentials (407 Proxy Authentication Required)`, {
        proxy: label,
        status,
      }),
    );
  }
  return new ProxyError(
    failure("proxy-rejected", `proxy ${label} refused the tunnel to ${target} (HTTP ${status})`, {
      proxy: label,
      status,
    }),
  );
}

/**
 * TLS options for the target: `ca` adds to the trust store rather than replacing it (Node's
 * own `ca` replaces it, which would drop the public roots and NODE_EXTRA_CA_CERTS).
 */
export function targetTls(options: TlsOptions | undefined): NodeTlsOptions {
  if (!options) return {};
  const result: NodeTlsOptions = {};
  if (options.ca !== undefined) result.ca = [...defaultCertificates(), ...list(options.ca)];
  if (options.cert !== undefined) result.cert = list(options.cert);
  if (options.key !== undefined) result.key = list(options.key);
  if (options.passphrase !== undefined) result.passphrase = options.passphrase;
  return result;
}

function list(value: TlsMaterial | TlsMaterial[]): (string | Buffer)[] {
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => (typeof item === "string" ? item : Buffer.from(item)));
}

let defaults: string[] | undefined;

/** The runtime's roots plus NODE_EXTRA_CA_CERTS, what Node trusts when no `ca` is given. */
function defaultCertificates(): string[] {
  defaults ??= [...tls.rootCertificates, ...extraCertificates()];
  return defaults;
}

function extraCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [readFileSync(file, "utf8")];
  } catch {
    // Node warned about the unreadable file at startup; nothing more to add here.
    return [];
  }
}

type WsConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: Record<string, unknown>,
) => InstanceType<WebSocketConstructor>;

/**
 * A WebSocket constructor whose sockets go through the chosen proxy with the TLS options. The
 * base is the caller's constructor (it must take `ws`'s third options argument) or `ws` itself:
 * a proxy needs an http.Agent, which only `ws` takes.
 */
export async function networkWebSocket(
  base: WebSocketConstructor | undefined,
  options: NetworkOptions,
): Promise<WebSocketConstructor> {
  const Base = (base ?? (await import("ws")).default) as unknown as WsConstructor;
  const tlsOptions = targetTls(options.tls);
  return class ProxiedWebSocket extends Base {
    constructor(url: string, protocols?: string | string[]) {
      const agent = agentFor(new URL(url), options);
      super(url, protocols, { ...tlsOptions, ...(agent ? { agent } : {}) });
    }
  } as unknown as WebSocketConstructor;
}

export interface PlainRequest {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
}

export interface PlainResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP request through the proxy with the TLS options (sendPush's path when either applies). */
export function requestVia(
  endpoint: string,
  request: PlainRequest,
  options: NetworkOptions,
): Promise<PlainResponse> {
  const url = new URL(endpoint);
  const send = url.protocol === "https:" ? https.request : http.request;
  const headers: OutgoingHttpHeaders = { ...request.headers };
  if (request.body) headers["content-length"] = request.body.byteLength;
  const agent = agentFor(url, options);
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: request.method,
        headers,
        ...targetTls(options.tls),
        ...(agent ? { agent } : {}),
        ...(request.signal ? { signal: request.signal } : {}),
      },
      (res) => readResponse(res).then(resolve, reject),
    );
    req.on("error", reject);
    req.end(request.body ? Buffer.from(request.body) : undefined);
  });
}

async function readResponse(res: IncomingMessage): Promise<PlainResponse> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? "",
    headers,
    body: Buffer.concat(chunks).toString("utf8"),
  };
}
