/**
 * Sleep, network changes and zombie sockets, under fake timers: the embedder's probe
 * (networkChanged), online/offline, the wall-clock jump that gives a sleep away, and server ping
 * frames whose absence finds a dead socket long before pingInterval. The 45 s floor for `{}`
 * pings holds throughout.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Connection, type ConnectionOptions, MIN_PING_INTERVAL } from "../../src/service/connection.ts";
import { FakeNodeWebSocket, FakeWebSocket } from "../helpers/fake-socket.ts";
import { captureLogger } from "../helpers/logger.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const TIMEOUT = 10_000;
const PING = 1_800_000;

let connection: Connection;

function make(options: Partial<ConnectionOptions> = {}): Connection {
  connection = new Connection(
    {
      serverURL: "wss://push.example/",
      WebSocket: FakeWebSocket,
      requestTimeout: TIMEOUT,
      retryBaseInterval: 5_000,
      pingInterval: PING,
      subprotocol: null,
      connectTimeout: 3_600_000,
      logger: captureLogger(),
      ...options,
    },
    {
      hello: async () => ({ uaid: UAID, broadcasts: {} }),
      handshake: async () => {},
      message: () => {},
      stateChanged: () => {},
    },
  );
  return connection;
}

async function ready(): Promise<FakeWebSocket> {
  const socket = FakeWebSocket.last;
  socket.open();
  await vi.advanceTimersByTimeAsync(0);
  socket.receive({ messageType: "hello", uaid: UAID, status: 200, use_webpush: true });
  await vi.advanceTimersByTimeAsync(0);
  expect(connection.state).toBe("Ready");
  return socket;
}

const pings = (socket: FakeWebSocket) => socket.sent.filter((text) => text === "{}").length;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  FakeWebSocket.reset();
});

afterEach(() => {
  connection.shutdown();
  vi.useRealTimers();
});

describe("probe (networkChanged)", () => {
  it("sends {} at once; no answer within requestTimeout → a new socket at once, backoff reset", async () => {
    make().connect();
    const socket = await ready();
    connection.probe("test");
    expect(pings(socket)).toBe(1);
    await vi.advanceTimersByTimeAsync(TIMEOUT - 1);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.closedByClient).toBe(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(connection.retryFailCount).toBe(0);
  });

  it("an answered probe keeps the socket", async () => {
    make().connect();
    const socket = await ready();
    connection.probe("test");
    socket.receive("{}");
    await vi.advanceTimersByTimeAsync(5 * TIMEOUT);
    expect(connection.state).toBe("Ready");
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("never sends two {} under 45 s apart: a probe right after a ping reconnects instead", async () => {
    make().connect();
    const socket = await ready();
    connection.probe("first");
    socket.receive("{}");
    await vi.advanceTimersByTimeAsync(MIN_PING_INTERVAL - 1);
    connection.probe("second");
    expect(pings(socket)).toBe(1);
    expect(socket.closedByClient).toBe(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    // On the new socket the floor starts afresh, as autoconnect's does.
    const next = await ready();
    connection.probe("third");
    expect(pings(next)).toBe(1);
  });

  it("uses a WebSocket ping where the runtime has one, leaving {} for the ping timer", async () => {
    make({ WebSocket: FakeNodeWebSocket }).connect();
    const socket = (await ready()) as FakeNodeWebSocket;
    for (let i = 0; i < 3; i++) {
      connection.probe("test");
      socket.control("pong");
    }
    expect(socket.pingsSent).toBe(3);
    expect(pings(socket)).toBe(0);
    connection.probe("test");
    await vi.advanceTimersByTimeAsync(TIMEOUT);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("cuts a pending backoff short", async () => {
    make().connect();
    await ready();
    for (let i = 0; i < 4; i++) {
      FakeWebSocket.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(5_000 * 2 ** i);
    }
    FakeWebSocket.last.serverClose(1006);
    const count = FakeWebSocket.instances.length;
    expect(connection.retryFailCount).toBe(5);
    connection.probe("test");
    expect(FakeWebSocket.instances).toHaveLength(count + 1);
    expect(connection.retryFailCount).toBe(0);
  });
});

describe("online / offline", () => {
  it("offline closes the socket and tries nothing until online, which connects at once", async () => {
    make().connect();
    const socket = await ready();
    connection.setOnline(false);
    expect(socket.closedByClient).toBe(1000);
    expect(connection.state).toBe("ShutDown");
    connection.probe("ignored while offline");
    connection.connect();
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    connection.setOnline(true);
    expect(FakeWebSocket.instances).toHaveLength(2);
    await ready();
  });
});

describe("wake-up detection", () => {
  it("a wall-clock jump past the check timer probes the socket", async () => {
    make({ wakeCheckInterval: 10_000 }).connect();
    const socket = await ready();
    // Ten quiet minutes with the clock running normally: nothing.
    await vi.advanceTimersByTimeAsync(600_000);
    expect(pings(socket)).toBe(0);
    // The machine sleeps an hour: timers stop, the clock does not.
    vi.setSystemTime(Date.now() + 3_600_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pings(socket)).toBe(1);
    await vi.advanceTimersByTimeAsync(TIMEOUT);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });
});

describe("server ping frames as liveness", () => {
  it("their absence probes the socket long before pingInterval", async () => {
    make({ WebSocket: FakeNodeWebSocket }).connect();
    const start = Date.now();
    const socket = (await ready()) as FakeNodeWebSocket;
    // The server pings every 20 s; the client's pong is automatic in `ws`.
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(20_000);
      socket.control("ping");
    }
    expect(socket.pingsSent).toBe(0);
    // Then nothing: after 1.5 periods + requestTimeout a ping frame goes out, then a reconnect.
    await vi.advanceTimersByTimeAsync(20_000 * 1.5 + TIMEOUT - 1);
    expect(socket.pingsSent).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.pingsSent).toBe(1);
    await vi.advanceTimersByTimeAsync(TIMEOUT);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(Date.now() - start).toBe(5 * 20_000 + 20_000 * 1.5 + 2 * TIMEOUT);
    expect(Date.now() - start).toBeLessThan(PING);
  });
});
