/**
 * A PushService that cannot connect says why: the typed cause on `state-change` and
 * `connection-error`, one warning per distinct cause however many retries, and the
 * push-notification subprotocol dropped for a server that never echoes it.
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionErrorEvent, StateChangeEvent } from "../../src/observers.ts";
import type { PushService } from "../../src/service/push-service.ts";
import { ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";

const services: PushService[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const service of services.splice(0)) await service.stop();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function httpServer(status: () => number): Promise<string> {
  const server = createServer((_req, res) => res.writeHead(status()).end());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function errors(service: PushService): ConnectionErrorEvent[] {
  const seen: ConnectionErrorEvent[] = [];
  service.observe("connection-error", (event) => void seen.push(event));
  return seen;
}

/** Resolves once `events` holds `count` entries (the service retries every few ms). */
async function until<T>(events: T[], count: number): Promise<void> {
  while (events.length < count) await new Promise((resolve) => setImmediate(resolve));
}

describe("connection errors", () => {
  it("puts the cause on state-change and connection-error, and warns once per distinct cause", async () => {
    let status = 503;
    const url = await httpServer(() => status);
    const { service, logger } = newService(url, { retryBaseInterval: 5, pingInterval: 20 });
    services.push(service);
    const seen = errors(service);
    const states: StateChangeEvent[] = [];
    service.observe("state-change", (event) => void states.push(event));
    await service.start();
    await until(seen, 4);
    status = 404;
    await until(seen, 8);
    await service.stop();

    const first = seen[0]!;
    expect(first).toEqual({
      serverURL: url,
      error: {
        kind: "http-status",
        status: 503,
        message: `HTTP 503 from ${new URL(url).host} instead of 101 Switching Protocols`,
      },
    });
    const failed = states.filter((event) => event.error);
    expect(failed[0]).toEqual({ state: "ShutDown", previous: "WaitingForWebSocket", error: first.error });
    expect(failed.length).toBeGreaterThanOrEqual(8);

    const warnings = logger.lines
      .filter((line) => line.level === "warn" && line.message.startsWith("push: cannot connect"))
      .map((line) => line.message);
    expect(warnings).toEqual([
      `push: cannot connect to ${url}: HTTP 503 from ${new URL(url).host} instead of 101 Switching Protocols; retrying`,
      `push: cannot connect to ${url}: HTTP 404 from ${new URL(url).host} instead of 101 Switching Protocols; retrying`,
    ]);
  });

  it("warns again for the same cause after a connection succeeded in between", async () => {
    const scripted = await ScriptedServer.start();
    const { service, logger } = newService(scripted.url, { retryBaseInterval: 5, pingInterval: 20 });
    services.push(service);
    await service.start();
    const first = await scripted.nextConnection();
    await first.acceptHello();
    await service.ready();
    first.terminate();
    const second = await scripted.nextConnection();
    await second.acceptHello();
    await service.ready();
    expect(logger.lines.filter((line) => line.level === "warn")).toEqual([
      // pingInterval 20 is below the floor: clamped for pings, said once at construction.
      expect.objectContaining({ message: expect.stringMatching(/pingInterval 20 ms is below/) }),
    ]);
    await scripted.close();
  });

  it("asks for push-notification when told to, and drops it at once for a server that echoes nothing", async () => {
    const scripted = await ScriptedServer.start();
    const { service, logger } = newService(scripted.url, { subprotocol: "push-notification" });
    services.push(service);
    const seen = errors(service);
    await service.start();
    // The first upgrade asked for it; `ws` aborted on the reply that echoed nothing.
    const refused = await scripted.nextConnection();
    expect(refused.requestedProtocols).toEqual(["push-notification"]);
    const connection = await scripted.nextConnection();
    expect(connection.requestedProtocols).toEqual([]);
    await connection.acceptHello();
    await service.ready();
    expect(seen.map((event) => event.error.kind)).toEqual(["subprotocol-missing"]);
    expect(scripted.all.length).toBe(2);
    expect(logger.text()).toMatch(/negotiates no subprotocol; connecting without one/);
    await scripted.close();
  });

  it("keeps push-notification for a server that echoes it", async () => {
    const scripted = await ScriptedServer.start({
      select: (requested) => (requested.has("push-notification") ? "push-notification" : false),
    });
    const { service } = newService(scripted.url, { subprotocol: "push-notification" });
    services.push(service);
    const seen = errors(service);
    await service.start();
    const connection = await scripted.nextConnection();
    expect(connection.protocol).toBe("push-notification");
    await connection.acceptHello();
    await service.ready();
    expect(seen).toEqual([]);
    await scripted.close();
  });

  it("rejects a subprotocol that is not an HTTP token", () => {
    expect(() => newService("ws://127.0.0.1:1/", { subprotocol: "push notification" })).toThrow(
      /subprotocol must be a token/,
    );
  });
});

describe("online / offline through PushService", () => {
  it("setOnline(false) before start makes no attempt; setOnline(true) connects at once", async () => {
    const scripted = await ScriptedServer.start();
    const { service } = newService(scripted.url, { retryBaseInterval: 5 });
    services.push(service);
    service.setOnline(false);
    expect(service.online).toBe(false);
    await service.start();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(scripted.all).toHaveLength(0);
    expect(service.state).toBe("ShutDown");
    service.setOnline(true);
    const connection = await scripted.nextConnection();
    await connection.acceptHello();
    await service.ready();
    service.setOnline(false);
    await connection.closed;
    expect(service.state).toBe("ShutDown");
    expect(() => service.setOnline("yes" as unknown as boolean)).toThrow(TypeError);
    await scripted.close();
  });
});
