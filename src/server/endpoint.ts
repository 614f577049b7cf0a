/**
 * The HTTP side for application servers (autoendpoint): POST /wpush/{v1,v2}/{token} and the
 * legacy /wpush/{token}, DELETE /m/{message_id}, health routes, CORS. Checks run in autopush's
 * order: token (404) → VAPID header (401) → token version (404/401) → subscription (410) →
 * JWT (401) → body size (413) → TTL / encryption / Topic (400). Every 404 has an empty body. A
 * push the state directory could not keep gets 503 errno 201 (autopush's database error).
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";
import type { PushHub, PushOutcome } from "./hub.ts";
import { HeaderError, parsePushHeaders } from "./push-headers.ts";
import { type Notification, StateWriteError } from "./store.ts";
import { sha256 } from "./tokens.ts";
import { parseVapidHeader, VapidError, type VapidHeader, verifyVapidJwt } from "./vapid.ts";

const MORE_INFO = "http://autopush.readthedocs.io/en/latest/http.html#error-codes";
const VERSION = "push-agent-server/0.1.0";

/** An error answer: status, autopush errno (null where autopush has none) and a message. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly errno: number | null,
    message: string,
  ) {
    super(message);
  }
}

const notFound = () => new ApiError(404, 102, "Not Found");
const noSubscription = () => new ApiError(410, 106, "No such subscription");

export function createEndpointHandler(hub: PushHub): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    setCors(req, res);
    handle(hub, req, res).catch((err: unknown) => {
      if (err instanceof ApiError) {
        if (req.method === "POST") {
          hub.logger.info(`push-server: push rejected ${err.status} errno=${err.errno} (${err.message})`);
        }
        return sendError(res, err);
      }
      hub.logger.error(`push-server: ${req.method} failed: ${(err as Error).message}`);
      sendError(res, new ApiError(500, 999, "Internal Server Error"));
    });
  };
}

/** Health routes only: what the WebSocket port answers to plain HTTP when the ports are split. */
export function createHealthHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    setCors(req, res);
    if (!health(req, res)) sendError(res, notFound());
  };
}

async function handle(hub: PushHub, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === "OPTIONS") return void res.writeHead(200).end();
  if (health(req, res)) return;
  const path = new URL(req.url ?? "/", "http://localhost").pathname.split("/").slice(1);
  if (req.method === "POST" && path[0] === "wpush") return push(hub, req, res, path);
  if (req.method === "DELETE" && path[0] === "m" && path.length === 2)
    return deleteMessage(hub, path[1]!, res);
  throw notFound();
}

function health(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  const bodies: Record<string, unknown> = {
    "/health": { status: "OK", version: VERSION },
    "/status": { status: "OK", version: VERSION },
    "/__heartbeat__": { status: "OK", version: VERSION },
    "/__lbheartbeat__": {},
    "/__version__": { version: VERSION },
  };
  if (!(path in bodies)) return false;
  sendJson(res, 200, bodies[path]);
  return true;
}

async function push(hub: PushHub, req: IncomingMessage, res: ServerResponse, path: string[]): Promise<void> {
  const route = parseRoute(path);
  if (!route) throw notFound();
  // The body is read first (bounded) so no answer leaves an unread request behind.
  const body = await readBody(req, hub.options.maxDataBytes);
  const token = hub.codec.openEndpointToken(route.token);
  if (!token) throw notFound();
  const vapid = vapidOrThrow(() => parseVapidHeader(header(req, "authorization"), header(req, "crypto-key")));
  if (token.length !== (route.version === 2 ? 64 : 32)) throw notFound();
  if (route.version === 2) checkKeyHash(vapid, token.keyHash!);
  const user = hub.store.getUser(token.uaid);
  if (!user?.channels.has(token.chid)) throw noSubscription();
  if (vapid) vapidOrThrow(() => verifyVapidJwt(vapid, new URL(hub.endpointBase).origin, hub.nowSec()));
  if (body === null) throw new ApiError(413, 104, "Data payload too large");

  let headers: ReturnType<typeof parsePushHeaders>;
  try {
    headers = parsePushHeaders((name) => header(req, name), body.length > 0);
  } catch (err) {
    if (err instanceof HeaderError) throw new ApiError(400, err.errno, err.message);
    throw err;
  }

  const sortkey = hub.nextSortkey();
  const { uaid, chid } = token;
  const n: Notification = {
    chid,
    version: hub.codec.messageId(
      headers.topic === undefined ? { uaid, chid, sortkey } : { uaid, chid, topic: headers.topic },
    ),
    ttl: headers.ttl,
    timestamp: hub.nowSec(),
    sortkey,
  };
  if (headers.topic !== undefined) n.topic = headers.topic;
  if (body.length > 0) {
    n.data = body.toString("base64url");
    n.headers = headers.notificationHeaders ?? {};
  }
  // With a state directory, 201 means the message is on disk: a crash after it loses nothing.
  const outcome = await routeOrRefuse(hub, uaid, n);
  hub.logger.info(
    `push-server: push uaid=${uaid.slice(0, 8)}… chid=${chid.slice(0, 8)}… ttl=${n.ttl}` +
      `${n.topic === undefined ? "" : " topic"} bytes=${body.length} → ${outcome}`,
  );
  res.writeHead(201, { Location: `${hub.endpointBase}/m/${n.version}`, TTL: String(n.ttl) }).end();
}

/** A push the state directory could not keep is refused as autoendpoint refuses one its database did not take. */
async function routeOrRefuse(hub: PushHub, uaid: string, n: Notification): Promise<PushOutcome> {
  try {
    return await hub.route(uaid, n);
  } catch (err) {
    if (!(err instanceof StateWriteError)) throw err;
    throw new ApiError(503, 201, `Push not stored: ${err.message}. Retry later`);
  }
}

function parseRoute(path: string[]): { version: 1 | 2; token: string } | null {
  if (path.length === 2 && path[1]) return { version: 1, token: path[1] };
  if (path.length !== 3 || !path[2]) return null;
  if (path[1] === "v1") return { version: 1, token: path[2] };
  if (path[1] === "v2") return { version: 2, token: path[2] };
  return null;
}

/** v2 endpoints only accept pushes signed by the key the subscription was made with. */
function checkKeyHash(vapid: VapidHeader | undefined, keyHash: Buffer): void {
  if (!vapid) throw new ApiError(401, 109, "Missing VAPID Authorization for this endpoint");
  if (!sha256(vapid.publicKey).equals(keyHash)) throw new ApiError(401, 109, "VAPID public key mismatch");
}

function vapidOrThrow<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof VapidError) throw new ApiError(401, 109, err.message);
    throw err;
  }
}

async function deleteMessage(hub: PushHub, messageId: string, res: ServerResponse): Promise<void> {
  const id = hub.codec.openMessageId(messageId);
  if (!id) throw new ApiError(400, null, "Invalid message ID");
  if ("topic" in id) hub.store.removeTopicMessage(id.uaid, id.chid, id.topic, messageId);
  else hub.store.removeTimestampMessage(id.uaid, messageId);
  res.writeHead(204).end();
}

/** The raw body, or null when it exceeds `limit` (the rest is drained, not kept). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(new Error("request aborted"));
    });
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function setCors(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE");
  res.setHeader("Access-Control-Allow-Headers", header(req, "access-control-request-headers") ?? "*");
  res.setHeader("Access-Control-Expose-Headers", "Location, TTL");
}

function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) return void res.end();
  // autopush empties every 404, whatever its cause.
  if (err.status === 404) return void res.writeHead(404, { "Content-Length": "0" }).end();
  if (err.status === 410) res.setHeader("Cache-Control", "max-age=86400");
  if (err.status === 503) res.setHeader("Retry-After", "120");
  sendJson(res, err.status, {
    code: err.status,
    errno: err.errno,
    error: STATUS_CODES[err.status] ?? "Error",
    message: err.message,
    more_info: MORE_INFO,
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}
