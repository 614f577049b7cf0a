/**
 * The WebSocket a PushService uses when the caller passes none. In Node it is `ws` whatever the
 * version, even with a global WebSocket present (Node 22+'s undici): the global one is replaced
 * here by a browser-like stand-in (gives no reason, has no ping frames), so these tests fail on
 * every Node version if the default ever picks the global again. The runtime decision itself is
 * checked on the globals each runtime presents.
 */

import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import type { ConnectionErrorEvent } from "../../src/observers.ts";
import { runtimeOf } from "../../src/runtime.ts";
import type { PushService } from "../../src/service/push-service.ts";
import { loadDefaultWebSocket } from "../../src/transport/websocket.ts";
import { ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";

/** A WHATWG WebSocket as a browser (or undici) reports a failure: error, then 1006, no reason. */
class NativeStandIn {
  static constructed = 0;
  readyState = 0;
  protocol = "";
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor() {
    NativeStandIn.constructed++;
    setTimeout(() => {
      this.readyState = 3;
      this.onerror?.({ type: "error" });
      this.onclose?.({ code: 1006, reason: "" });
    }, 1);
  }

  send(): void {}
  close(): void {}
}

const services: PushService[] = [];
const servers: ScriptedServer[] = [];
const closers: (() => Promise<void>)[] = [];

beforeEach(() => {
  NativeStandIn.constructed = 0;
  vi.stubGlobal("WebSocket", NativeStandIn);
});

afterEach(async () => {
  for (const service of services.splice(0)) await service.stop();
  for (const server of servers.splice(0)) await server.close();
  for (const close of closers.splice(0)) await close();
  vi.unstubAllGlobals();
  expect(NativeStandIn.constructed).toBe(0);
});

/** A loopback port nothing listens on (bound once, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function scripted(options: Parameters<typeof ScriptedServer.start>[0] = {}) {
  const server = await ScriptedServer.start(options);
  servers.push(server);
  return server;
}

function firstError(service: PushService): Promise<ConnectionErrorEvent> {
  return new Promise((resolve) => {
    const dispose = service.observe("connection-error", (event) => {
      dispose();
      resolve(event);
    });
  });
}

describe("the default WebSocket in Node, with a global WebSocket present", () => {
  it("is ws", async () => {
    expect(await loadDefaultWebSocket()).toBe(WebSocket);
  });

  it("names the exact cause of a refused connection", async () => {
    const port = await closedPort();
    const { service } = newService(`ws://127.0.0.1:${port}/`, { retryBaseInterval: 60_000 });
    services.push(service);
    const error = firstError(service);
    await service.start();
    expect((await error).error).toMatchObject({ kind: "refused", code: "ECONNREFUSED" });
  });

  it("names the HTTP status a server answered the upgrade with", async () => {
    const server = createHttpServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as { port: number };
    const { service } = newService(`ws://127.0.0.1:${port}/`, { retryBaseInterval: 60_000 });
    services.push(service);
    const error = firstError(service);
    await service.start();
    expect((await error).error).toMatchObject({ kind: "http-status", status: 503 });
  });

  it("probes a Ready socket with a ping frame, not a {} text frame", async () => {
    const server = await scripted();
    const { service } = newService(server.url);
    services.push(service);
    await service.start();
    const connection = await server.nextConnection();
    await connection.acceptHello();
    await service.ready();
    const ping = new Promise<void>((resolve) => connection.socket.once("ping", () => resolve()));
    service.networkChanged();
    await ping;
    expect(connection.received.map((text) => JSON.parse(text).messageType)).toEqual(["hello"]);
    expect(service.state).toBe("Ready");
  });

  it("retries without the subprotocol when the server echoes none", async () => {
    const server = await scripted();
    const { service } = newService(server.url, { subprotocol: "push-notification" });
    services.push(service);
    const error = firstError(service);
    await service.start();
    expect((await server.nextConnection()).requestedProtocols).toEqual(["push-notification"]);
    const connection = await server.nextConnection();
    expect(connection.requestedProtocols).toEqual([]);
    await connection.acceptHello();
    await service.ready();
    expect((await error).error.kind).toBe("subprotocol-missing");
  });
});

describe("the runtime decision", () => {
  const node = { process: { versions: { node: "24.22.3" } } };
  it.each([
    ["node", node],
    ["deno", { ...node, Deno: { version: { deno: "2.9.6" } } }],
    ["bun", { process: { versions: { node: "24.3.0", bun: "1.4.5" } }, Bun: {} }],
    ["browser", {}],
    ["browser", { process: {} }],
  ] as const)("is %s for its globals", (runtime, globals) => {
    expect(runtimeOf(globals)).toBe(runtime);
  });
});
