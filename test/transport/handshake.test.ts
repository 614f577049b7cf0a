/**
 * The WebSocket handshake against real sockets on 127.0.0.1: which subprotocol replies open, and
 * the typed cause of every handshake that fails (refused, DNS, TLS, HTTP status, subprotocol,
 * handshake timeout, and the browser's reason-less close).
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import type { ConnectFailure } from "../../src/transport/failure.ts";
import { PUSH_SUBPROTOCOL, Transport, type WebSocketConstructor } from "../../src/transport/websocket.ts";
import { FakeWebSocket } from "../helpers/fake-socket.ts";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Outcome = { opened: true; protocol: string } | { opened: false; failure: ConnectFailure };

/** Open one Transport and resolve with how it ended: open (and with what), or the failure. */
function attempt(
  url: string,
  options: { protocols?: string[]; connectTimeout?: number; Ctor?: WebSocketConstructor } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    let transport: Transport | undefined;
    let socket: WebSocket | undefined;
    const Ctor =
      options.Ctor ??
      (class extends WebSocket {
        constructor(u: string, p?: string | string[]) {
          super(u, p);
          socket = this;
        }
      } as unknown as WebSocketConstructor);
    transport = new Transport(
      url,
      Ctor,
      {
        open: () => {
          resolve({ opened: true, protocol: socket?.protocol ?? "" });
          transport?.close();
        },
        text: () => {},
        binary: () => {},
        close: () => {},
        failed: (failure) => resolve({ opened: false, failure }),
      },
      { protocols: options.protocols ?? [], connectTimeout: options.connectTimeout ?? 10_000 },
    );
  });
}

async function listening<T extends Server | ReturnType<typeof createNetServer>>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        (server as Server).closeAllConnections?.();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A plain `ws` server whose 101 reply carries whatever `select` returns. */
async function wsServer(select: (requested: Set<string>) => string | false): Promise<string> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: select });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  cleanups.push(() => {
    for (const client of wss.clients) client.terminate();
    return new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
}

/** A bare HTTP server completing every upgrade with `Sec-WebSocket-Protocol: protocol`, asked or not. */
async function rawUpgradeServer(protocol: string): Promise<string> {
  const server = createHttpServer();
  server.on("upgrade", (req, socket) => {
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    );
  });
  const port = await listening(server);
  return `ws://127.0.0.1:${port}/`;
}

function failureOf(outcome: Outcome): ConnectFailure {
  if (outcome.opened)
    throw new Error(`expected a failure, the socket opened (protocol "${outcome.protocol}")`);
  return outcome.failure;
}

describe("subprotocol replies", () => {
  it("(a) opens against a server that echoes nothing (autoconnect 1.83.1), asking for nothing", async () => {
    const url = await wsServer(() => false);
    expect(await attempt(url)).toEqual({ opened: true, protocol: "" });
  });

  it("(b) opens against a server that echoes push-notification, asked for or not", async () => {
    const url = await wsServer((requested) => (requested.has(PUSH_SUBPROTOCOL) ? PUSH_SUBPROTOCOL : false));
    expect(await attempt(url)).toEqual({ opened: true, protocol: "" });
    expect(await attempt(url, { protocols: [PUSH_SUBPROTOCOL] })).toEqual({
      opened: true,
      protocol: PUSH_SUBPROTOCOL,
    });
  });

  it("(c) fails with subprotocol-mismatch when the server selects another protocol", async () => {
    const url = await wsServer(() => "other");
    const unasked = failureOf(await attempt(await rawUpgradeServer("other")));
    expect(unasked.kind).toBe("subprotocol-mismatch");
    const asked = failureOf(await attempt(url, { protocols: [PUSH_SUBPROTOCOL] }));
    expect(asked.kind).toBe("subprotocol-mismatch");
    expect(asked.message).toMatch(/127\.0\.0\.1:\d+ selected a subprotocol/);
  });

  it("reports subprotocol-missing when push-notification was asked for and nothing echoed", async () => {
    const url = await wsServer(() => false);
    const failure = failureOf(await attempt(url, { protocols: [PUSH_SUBPROTOCOL] }));
    expect(failure.kind).toBe("subprotocol-missing");
  });

  it("refuses a socket that opened with a subprotocol nobody asked for (a runtime that does not check)", async () => {
    FakeWebSocket.reset();
    const outcome = attempt("wss://push.example/", { Ctor: FakeWebSocket });
    const socket = FakeWebSocket.last as FakeWebSocket & { protocol: string };
    socket.protocol = "other";
    socket.open();
    expect(failureOf(await outcome).kind).toBe("subprotocol-mismatch");
    expect(socket.closedByClient).toBe(1000);
  });
});

describe("why a connection failed", () => {
  it("(d) an HTTP status instead of 101: 404 and 503, with the status", async () => {
    for (const status of [404, 503]) {
      const port = await listening(
        createHttpServer((_req, res) => {
          res.writeHead(status).end();
        }),
      );
      const failure = failureOf(await attempt(`ws://127.0.0.1:${port}/`));
      expect(failure).toMatchObject({ kind: "http-status", status });
      expect(failure.message).toBe(
        `HTTP ${status} from 127.0.0.1:${port} instead of 101 Switching Protocols`,
      );
    }
  });

  it("refused: nothing listens on the port", async () => {
    const server = createNetServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const failure = failureOf(await attempt(`ws://127.0.0.1:${port}/`));
    expect(failure).toMatchObject({ kind: "refused", code: "ECONNREFUSED" });
    expect(failure.message).toBe(`connection refused by 127.0.0.1:${port}`);
  });

  it("dns: the host name does not resolve", async () => {
    // An injected resolver that fails the way getaddrinfo does, so the test needs no network.
    const lookup = (hostname: string, _options: unknown, callback: (error: Error) => void) => {
      const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
        code: "ENOTFOUND",
        hostname,
      });
      process.nextTick(() => callback(error));
    };
    const Ctor = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { lookup: lookup as never });
      }
    } as unknown as WebSocketConstructor;
    const failure = failureOf(await attempt("wss://push.invalid/", { Ctor }));
    expect(failure).toMatchObject({ kind: "dns", code: "ENOTFOUND" });
    expect(failure.message).toBe("cannot resolve push.invalid (ENOTFOUND)");
  });

  it("tls: a server with a certificate nobody trusts", async () => {
    const dir = new URL("../fixtures/tls/", import.meta.url);
    const server = createHttpsServer({
      key: readFileSync(new URL("self-signed.key", dir)),
      cert: readFileSync(new URL("self-signed.crt", dir)),
    });
    server.on("tlsClientError", () => {});
    const port = await listening(server);
    const failure = failureOf(await attempt(`wss://127.0.0.1:${port}/`));
    expect(failure.kind).toBe("tls");
    expect(failure.code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    expect(failure.message).toMatch(/^TLS with 127\.0\.0\.1:\d+ failed: self[- ]signed certificate/);
  });

  it("handshake-timeout: the server accepts TCP and never answers the upgrade", async () => {
    const sockets: Socket[] = [];
    const server = createNetServer((socket) => void sockets.push(socket));
    const port = await listening(server);
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
    });
    const failure = failureOf(await attempt(`ws://127.0.0.1:${port}/`, { connectTimeout: 150 }));
    expect(failure).toEqual({
      kind: "handshake-timeout",
      message: `no WebSocket handshake with 127.0.0.1:${port} within 150 ms`,
    });
    expect(sockets.length).toBe(1);
  });

  it("closed-before-open: a browser socket that only says 1006", async () => {
    FakeWebSocket.reset();
    const outcome = attempt("wss://push.example/", { Ctor: FakeWebSocket });
    // What Chromium gives for any failed handshake: a bare Event, then close 1006.
    FakeWebSocket.last.onerror?.({ type: "error" });
    FakeWebSocket.last.serverClose(1006);
    expect(failureOf(await outcome)).toEqual({
      kind: "closed-before-open",
      message: "the connection closed before it opened (1006); the runtime gives no reason",
    });
  });
});
