/**
 * The chat application server: a small HTTP API over the store, and the push queue that tells
 * subscribers there is news. Node `http`, JSON in and out, no framework.
 *
 *   GET    /vapid-public-key      → 200 {publicKey}
 *   POST   /subscriptions         {nickname, subscription} → 201 (new) | 200 (updated)
 *   DELETE /subscriptions         {endpoint} → 204 | 404
 *   POST   /messages              {from, text} → 201 {id}
 *   GET    /messages?after=<id>   → 200 {latest, messages}: id > after, oldest first, ≤ 50
 *
 * Errors are `{"error": "<one line>"}` with a 4xx status. No route ever returns an endpoint:
 * whoever holds one can push to its owner.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "push-agent";
import { PushQueue, type PushQueueStats, type VapidDetails } from "./push-queue.ts";
import { describeError, isNickname, MAX_TEXT_LENGTH, type MessagesPage } from "./shared.ts";
import { ChatStore, isSubscriber } from "./store.ts";

export type { VapidDetails } from "./push-queue.ts";

export interface ChatServerOptions {
  /** 0 picks a free port. Default 0. */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** A JSON file to keep messages and subscriptions in across restarts; default memory only. */
  store?: string;
  vapid: VapidDetails;
  /** Seconds a push may wait at the push service for an offline client. Default 3600. */
  ttl?: number;
  /** ms before a push request is given up. Default 10 000. */
  pushTimeout?: number;
  logger?: Logger;
}

export interface ChatServerStats extends PushQueueStats {
  messages: number;
  latest: number;
  subscribers: number;
}

export interface ChatServer {
  /** http://host:port, no trailing slash. */
  url: string;
  /** Resolves when the push queue has nothing left to send. */
  drained(): Promise<void>;
  stats(): ChatServerStats;
  /** Stop listening, finish the queued pushes, write the store. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 * 1024;

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function createChatServer(options: ChatServerOptions): Promise<ChatServer> {
  const logger = options.logger ?? silent;
  const store = await ChatStore.open(options.store, logger);
  const queue = new PushQueue({
    store,
    vapid: options.vapid,
    ttl: options.ttl ?? 3600,
    requestTimeout: options.pushTimeout ?? 10_000,
    logger,
  });
  const routes = new Routes(store, queue, options.vapid.publicKey);
  const server = createServer((req, res) => {
    routes.handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) return sendJSON(res, error.status, { error: error.message });
      logger.error(`chat: ${req.method} ${req.url} failed: ${describeError(error)}`);
      sendJSON(res, 500, { error: "internal error" });
    });
  });
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;

  let closing: Promise<void> | undefined;
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await queue.stop();
    await store.flush();
  };
  return {
    url: `http://${host}:${port}`,
    drained: () => queue.idle(),
    stats: () => ({
      ...queue.stats,
      messages: store.messageCount,
      latest: store.latest,
      subscribers: store.subscriberCount,
    }),
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}

class Routes {
  constructor(
    readonly store: ChatStore,
    readonly queue: PushQueue,
    readonly publicKey: string,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://chat.invalid");
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /vapid-public-key":
        return sendJSON(res, 200, { publicKey: this.publicKey });
      case "POST /subscriptions":
        return this.subscribe(await readJSON(req), res);
      case "DELETE /subscriptions":
        return this.unsubscribe(await readJSON(req), res);
      case "POST /messages":
        return this.post(await readJSON(req), res);
      case "GET /messages":
        return sendJSON(res, 200, this.page(url.searchParams.get("after")));
    }
    if (["/vapid-public-key", "/subscriptions", "/messages"].includes(url.pathname)) {
      throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
    }
    throw new HttpError(404, `no route ${url.pathname}`);
  }

  subscribe(body: unknown, res: ServerResponse): void {
    if (!isSubscriber(body)) {
      throw new HttpError(400, "expected {nickname, subscription: {endpoint, keys: {p256dh, auth}}}");
    }
    const { nickname, subscription } = body;
    const isNew = this.store.putSubscriber({
      nickname,
      subscription: { endpoint: subscription.endpoint, keys: subscription.keys },
    });
    sendJSON(res, isNew ? 201 : 200, {});
  }

  unsubscribe(body: unknown, res: ServerResponse): void {
    const endpoint = (body as { endpoint?: unknown } | null)?.endpoint;
    if (typeof endpoint !== "string") throw new HttpError(400, "expected {endpoint}");
    if (!this.store.removeSubscriber(endpoint)) throw new HttpError(404, "no such subscription");
    res.writeHead(204).end();
  }

  post(body: unknown, res: ServerResponse): void {
    const { from, text } = (body ?? {}) as { from?: unknown; text?: unknown };
    if (!isNickname(from))
      throw new HttpError(400, "from must be a nickname of 1-32 letters, digits, _ or -");
    if (typeof text !== "string" || text.trim() === "" || text.length > MAX_TEXT_LENGTH) {
      throw new HttpError(400, `text must be a non-blank string of at most ${MAX_TEXT_LENGTH} characters`);
    }
    const message = this.store.addMessage(from, text);
    // Answer now; the pushes go out from the queue, whatever the push services do.
    this.queue.announce(message.id);
    sendJSON(res, 201, { id: message.id });
  }

  page(after: string | null): MessagesPage {
    const from = after === null ? 0 : /^\d{1,15}$/.test(after) ? Number(after) : Number.NaN;
    if (Number.isNaN(from)) throw new HttpError(400, "after must be a message id (an integer ≥ 0)");
    return { latest: this.store.latest, messages: this.store.messagesAfter(from) };
  }
}

async function readJSON(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
