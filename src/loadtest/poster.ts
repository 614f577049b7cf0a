/**
 * The load test's HTTP client: POSTs already-built Web Push requests over one shared keep-alive
 * agent per protocol, so thousands of subscriptions reuse a bounded set of sockets. close()
 * destroys every socket, so nothing of it outlives the run. With a proxy or TLS material
 * (NetworkOptions) the agent comes from the network layer, pooled the same way.
 */

import http from "node:http";
import https from "node:https";
import { agentFor, closeAgents, targetTls } from "../net/network-node.ts";
import { type NetworkOptions, needsNetworkLayer } from "../net/proxy.ts";

export interface PushRequest {
  endpoint: string;
  method: string;
  headers: Record<string, string | number>;
  body: Buffer | null;
}

export interface PostResult {
  status: number;
  statusText: string;
  /** The start of the response body, for error messages. */
  body: string;
}

/** How much of a response body is kept for an error message. */
const BODY_PREVIEW = 200;

export class PushPoster {
  readonly #maxSockets: number;
  readonly #timeoutMs: number;
  #http: http.Agent | null = null;
  #https: https.Agent | null = null;
  #closed = false;
  /** Set when a proxy or TLS material applies; null keeps the plain agents. */
  readonly #network: NetworkOptions | null;

  constructor(options: { maxSockets: number; timeoutMs: number; network?: NetworkOptions }) {
    this.#maxSockets = options.maxSockets;
    this.#timeoutMs = options.timeoutMs;
    this.#network = options.network && needsNetworkLayer(options.network) ? options.network : null;
  }

  /** Resolves with the response; rejects on a network error or timeout. */
  post(request: PushRequest): Promise<PostResult> {
    if (this.#closed) return Promise.reject(new Error("the sender is closed"));
    const url = new URL(request.endpoint);
    const secure = url.protocol === "https:";
    const send = secure ? https.request : http.request;
    const proxied = this.#network ? agentFor(url, this.#network, this.#agentOptions()) : undefined;
    const agent = proxied ?? (secure ? this.#httpsAgent() : this.#httpAgent());
    const tlsOptions = this.#network ? targetTls(this.#network.tls) : {};
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body) headers["Content-Length"] = request.body.byteLength;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: request.method, headers, agent, ...tlsOptions }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (body.length < BODY_PREVIEW) body += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? "",
            body: body.slice(0, BODY_PREVIEW),
          }),
        );
        res.on("error", reject);
      });
      req.setTimeout(this.#timeoutMs, () =>
        req.destroy(new Error(`no response within ${this.#timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.end(request.body ?? undefined);
    });
  }

  /** Destroy every socket; requests still running reject. */
  close(): void {
    this.#closed = true;
    this.#http?.destroy();
    this.#https?.destroy();
    if (this.#network) closeAgents(this.#network);
  }

  #httpAgent(): http.Agent {
    this.#http ??= new http.Agent(this.#agentOptions());
    return this.#http;
  }

  #httpsAgent(): https.Agent {
    this.#https ??= new https.Agent(this.#agentOptions());
    return this.#https;
  }

  /** fifo keeps every pooled socket busy, so none sits idle long enough for the server to drop it. */
  #agentOptions(): http.AgentOptions {
    return { keepAlive: true, maxSockets: this.#maxSockets, scheduling: "fifo" };
  }
}
