/**
 * push-agent/server: a local push server that speaks autopush-rs's protocols — the WebSocket
 * protocol towards user agents (autoconnect) and the Web Push HTTP API towards application
 * servers (autoendpoint). One process, one or two ports, state in memory or (with `state`) in a
 * LevelDB directory: for tests, development and small private deployments. Node only.
 */

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { MegaphonePoller } from "./broadcasts.ts";
import { createEndpointHandler, createHealthHandler } from "./endpoint.ts";
import { PushHub } from "./hub.ts";
import { type PushServerOptions, resolveOptions } from "./options.ts";
import { Session } from "./session.ts";
import { openServerState } from "./state.ts";

export type { PushServerOptions } from "./options.ts";

/** autoconnect does not set a frame limit, so the actix default (64 KiB) applies. */
const MAX_FRAME_BYTES = 64 * 1024;
const SWEEP_INTERVAL = 60_000;
/** How long close() waits for clients to answer the close frame before cutting them off. */
const CLOSE_GRACE = 200;

export interface PushServerStats {
  /** Open WebSocket connections, hello'd or not. */
  connections: number;
  /** Connections that completed hello (one per uaid). */
  sessions: number;
  /** Stored user records (a new uaid counts once it registered a channel). */
  users: number;
  channels: number;
  /** Messages waiting in storage (topic and timestamp). */
  storedMessages: number;
  /** Pushes accepted with 201, and what became of them. */
  pushes: number;
  direct: number;
  stored: number;
  dropped: number;
  /** Pushes answered 503 because the state directory could not keep them (disk full, I/O error). */
  refused: number;
  broadcasts: Record<string, string>;
}

export interface PushServer {
  /** ws://host:port/ — what a user agent connects to. */
  url: string;
  /** The HTTP base pushEndpoints start with. */
  endpointURL: string;
  /** Bound WebSocket port (useful with port 0). */
  port: number;
  /** Bound HTTP port (the same as `port` when one server serves both). */
  endpointPort: number;
  /** Closes sockets, servers and timers; nothing keeps the process alive afterwards. */
  close(): Promise<void>;
  /**
   * Set a broadcast version. Subscribed connections whose version differs get a `broadcast`
   * frame immediately (autopush waits for the next ping tick; the frame is the same).
   */
  setBroadcast(id: string, version: string): void;
  stats(): PushServerStats;
}

export async function createPushServer(options?: PushServerOptions): Promise<PushServer> {
  const opts = resolveOptions(options);
  const state = await openServerState(opts);
  const { store, broadcasts } = state;
  const hub = new PushHub(opts, store, state.codec, broadcasts);

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    // autoconnect negotiates no subprotocol (ws would otherwise echo the first one asked for).
    handleProtocols: (protocols) =>
      opts.echoSubprotocol && protocols.has("push-notification") ? "push-notification" : false,
  });
  // actix (autoconnect) dates its 101 reply; `ws` would not.
  wss.on("headers", (headers) => headers.push(`Date: ${new Date(opts.now()).toUTCString()}`));
  wss.on("connection", (ws) => new Session(ws, hub));

  const split = opts.endpointPort !== undefined;
  const endpointHandler = createEndpointHandler(hub);
  const wsServer = createServer(split ? createHealthHandler() : endpointHandler);
  wsServer.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    if (!isRoot(req)) return refuseUpgrade(socket);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });
  const endpointServer = split ? createServer(endpointHandler) : undefined;
  endpointServer?.on("upgrade", (_req: IncomingMessage, socket: Duplex) => refuseUpgrade(socket));
  const servers = endpointServer ? [wsServer, endpointServer] : [wsServer];

  try {
    await listen(wsServer, opts.port, opts.host);
    if (endpointServer) await listen(endpointServer, opts.endpointPort!, opts.host);
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    await state.close();
    throw err;
  }
  const port = (wsServer.address() as AddressInfo).port;
  const endpointPort = endpointServer ? (endpointServer.address() as AddressInfo).port : port;
  hub.endpointBase = opts.endpointURL ?? `http://${urlHost(opts.host)}:${endpointPort}`;

  const megaphone = opts.megaphoneURL
    ? new MegaphonePoller(opts.megaphoneURL, opts.megaphonePollInterval, broadcasts, opts.logger)
    : undefined;
  await megaphone?.start();
  const sweeper = setInterval(() => store.sweepExpired(hub.nowSec()), SWEEP_INTERVAL);
  sweeper.unref();

  const url = `ws://${urlHost(opts.host)}:${port}/`;
  opts.logger.info(`push-server: listening on ${url}, endpoints at ${hub.endpointBase}`);

  let closing: Promise<void> | undefined;
  const close = async () => {
    clearInterval(sweeper);
    megaphone?.stop();
    for (const session of [...hub.connections]) session.close("shutdown");
    await waitForClients(wss);
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    await Promise.all(servers.map(closeServer));
    await state.close();
  };

  return {
    url,
    endpointURL: hub.endpointBase,
    port,
    endpointPort,
    close: () => {
      closing ??= close();
      return closing;
    },
    setBroadcast: (id, version) => broadcasts.update({ [id]: version }),
    stats: () => ({
      connections: hub.connections.size,
      sessions: hub.sessions.size,
      ...store.counts(),
      ...hub.counters,
      broadcasts: broadcasts.all(),
    }),
  };
}

function isRoot(req: IncomingMessage): boolean {
  return new URL(req.url ?? "/", "http://localhost").pathname === "/";
}

function refuseUpgrade(socket: Duplex): void {
  socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Give clients a moment to complete the closing handshake, so they see the close code. */
function waitForClients(wss: WebSocketServer): Promise<void> {
  const pending = [...wss.clients].map(
    (ws) => new Promise<void>((resolve) => ws.once("close", () => resolve())),
  );
  if (pending.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_GRACE);
    Promise.all(pending).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A host as it goes into a URL: wildcard binds become loopback, IPv6 gets brackets. */
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

export type { PushTarget, SendPushOptions, SendPushResult, VapidDetails } from "./send.ts";
export { InvalidPushRequestError, sendPush } from "./send.ts";
