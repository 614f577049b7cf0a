/**
 * Real proxy servers on 127.0.0.1 for the proxy tests: an HTTP CONNECT proxy (npm `proxy`, by
 * the author of the agents, with optional Basic auth) and a SOCKS5 proxy
 * (`@pondwader/socks5-server`, optional username/password). Each records the tunnels it opened,
 * and the HTTP one can black-hole its live tunnels (open, silent both ways) for the fault test.
 */

import type { IncomingMessage } from "node:http";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer as createSocksServer } from "@pondwader/socks5-server";
import { createProxy } from "proxy";

export interface RunningProxy {
  url: string;
  port: number;
  /** `host:port` of every tunnel the proxy was asked for (CONNECT target or SOCKS destination). */
  tunnels: string[];
  close(): Promise<void>;
}

export interface HttpProxy extends RunningProxy {
  /** CONNECT requests answered 407. */
  refusedAuth: number;
  /** Live tunnels stop carrying bytes either way, but stay open. */
  blackhole(): void;
  swallowed: number;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

function proxyURL(scheme: string, port: number, auth?: { user: string; password: string }): string {
  const credentials = auth ? `${auth.user}:${auth.password}@` : "";
  return `${scheme}://${credentials}127.0.0.1:${port}`;
}

/** Every open socket of the server, so close() does not wait for keep-alive clients. */
function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return sockets;
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * `hosts` maps a name to the address the proxy connects to instead (a proxy's own DNS), so a
 * test can use a non-loopback name, which environment proxies do not skip, for a loopback server.
 */
export async function startHttpProxy(
  auth?: { user: string; password: string },
  hosts: Record<string, string> = {},
): Promise<HttpProxy> {
  const server = createProxy(createHttpServer());
  const sockets = trackSockets(server);
  const tunnelSockets = new Set<Socket>();
  const expected = auth
    ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}`
    : undefined;
  const state = { refusedAuth: 0, swallowed: 0 };
  if (expected) {
    server.authenticate = (req: IncomingMessage) => {
      const ok = req.headers["proxy-authorization"] === expected;
      if (!ok) state.refusedAuth++;
      return ok;
    };
  }
  const tunnels: string[] = [];
  server.prependListener("connect", (req: IncomingMessage, socket: Socket) => {
    tunnels.push(req.url ?? "");
    const [name, port] = (req.url ?? "").split(":");
    const mapped = name ? hosts[name] : undefined;
    if (mapped) req.url = `${mapped}:${port}`;
    tunnelSockets.add(socket);
    socket.on("close", () => tunnelSockets.delete(socket));
  });
  const port = await listen(server);
  return {
    url: proxyURL("http", port, auth),
    port,
    tunnels,
    get refusedAuth() {
      return state.refusedAuth;
    },
    get swallowed() {
      return state.swallowed;
    },
    blackhole() {
      for (const socket of tunnelSockets) {
        // Client → server: no longer piped on; server → client: writes dropped.
        socket.unpipe();
        socket.removeAllListeners("data");
        socket.on("data", (chunk: Buffer) => {
          state.swallowed += chunk.length;
        });
        socket.resume();
        socket.write = ((chunk: Buffer) => {
          state.swallowed += chunk.length;
          return true;
        }) as Socket["write"];
      }
    },
    close: () => closeServer(server, sockets),
  };
}

export async function startSocksProxy(auth?: { user: string; password: string }): Promise<RunningProxy> {
  const socks = createSocksServer(auth ? { auth: { username: auth.user, password: auth.password } } : {});
  // The package keeps its net.Server private; the test needs its port and its sockets.
  const server = (socks as unknown as { server: Server }).server;
  const sockets = trackSockets(server);
  const tunnels: string[] = [];
  socks.setRulesetValidator((conn) => {
    tunnels.push(`${conn.destAddress}:${conn.destPort}`);
    return true;
  });
  const port = await listen(server);
  return {
    url: proxyURL("socks5", port, auth),
    port,
    tunnels,
    close: () => closeServer(server, sockets),
  };
}
