import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { HelloReply } from "../../src/protocol/messages.ts";
import {
  Connection,
  type ConnectionDelegate,
  type ConnectionOptions,
  type InboundMessage,
  MIN_PING_INTERVAL,
} from "../../src/service/connection.ts";
import type { ConnectFailure } from "../../src/transport/failure.ts";
import { FakeWebSocket } from "../helpers/fake-socket.ts";
import { captureLogger } from "../helpers/logger.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const BASE = 5_000;
const PING = 60_000;
const TIMEOUT = 10_000;
// Longer than any wait below, so the fake sockets that never open do not time out unless a test means it.
const CONNECT_TIMEOUT = 3_600_000;

interface Harness {
  connection: Connection;
  messages: InboundMessage[];
  states: string[];
  handshakes: HelloReply[];
  delegate: ConnectionDelegate;
}

let harness: Harness;

function makeConnection(
  overrides: Partial<ConnectionDelegate> = {},
  options: Partial<ConnectionOptions> = {},
): Harness {
  const messages: InboundMessage[] = [];
  const states: string[] = [];
  const handshakes: HelloReply[] = [];
  const delegate: ConnectionDelegate = {
    hello: async () => ({ uaid: null, broadcasts: {} }),
    handshake: async (reply) => void handshakes.push(reply),
    message: (message) => void messages.push(message),
    stateChanged: (state) => void states.push(state),
    ...overrides,
  };
  const connection = new Connection(
    {
      serverURL: "wss://push.example/",
      WebSocket: FakeWebSocket,
      requestTimeout: TIMEOUT,
      retryBaseInterval: BASE,
      pingInterval: PING,
      subprotocol: null,
      connectTimeout: CONNECT_TIMEOUT,
      logger: captureLogger(),
      ...options,
    },
    delegate,
  );
  return { connection, messages, states, handshakes, delegate };
}

/** Open the newest socket and answer its hello; resolves once Ready. */
async function handshake(uaid = UAID): Promise<FakeWebSocket> {
  const socket = FakeWebSocket.last;
  socket.open();
  await vi.advanceTimersByTimeAsync(0);
  socket.receive({ messageType: "hello", uaid, status: 200, use_webpush: true });
  await vi.advanceTimersByTimeAsync(0);
  expect(harness.connection.state).toBe("Ready");
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  FakeWebSocket.reset();
  harness = makeConnection();
});

afterEach(() => {
  harness.connection.shutdown();
  vi.useRealTimers();
});

describe("Connection", () => {
  it("opens the socket asking for no subprotocol and says hello", async () => {
    harness.connection.connect();
    expect(FakeWebSocket.last.protocols).toBeUndefined();
    expect(harness.connection.state).toBe("WaitingForWebSocket");
    await handshake();
    expect(FakeWebSocket.last.sent[0]).toBe('{"messageType":"hello","broadcasts":{},"use_webpush":true}');
    expect(harness.states).toEqual(["WaitingForWebSocket", "WaitingForHello", "Ready"]);
  });

  it("says hello without uaid when reading the store fails", async () => {
    harness = makeConnection({ hello: async () => Promise.reject(new Error("db down")) });
    harness.connection.connect();
    await handshake();
    expect(JSON.parse(FakeWebSocket.last.sent[0]!)).not.toHaveProperty("uaid");
  });

  it("backs off exponentially, capped at pingInterval, and resets after a parsed message", async () => {
    harness.connection.connect();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      const before = FakeWebSocket.instances.length;
      FakeWebSocket.last.serverClose(1006);
      let waited = 0;
      while (FakeWebSocket.instances.length === before) {
        await vi.advanceTimersByTimeAsync(1_000);
        waited += 1_000;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);

    await handshake();
    expect(harness.connection.retryFailCount).toBe(0);
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(BASE - 1);
    const count = FakeWebSocket.instances.length;
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances.length).toBe(count + 1);
  });

  it("does not reset the backoff for a frame that is not JSON", async () => {
    harness.connection.connect();
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(BASE);
    const socket = FakeWebSocket.last;
    socket.open();
    await vi.advanceTimersByTimeAsync(0);
    socket.receive("garbage");
    expect(harness.connection.retryFailCount).toBe(1);
    socket.receive({ messageType: "whatever" });
    expect(harness.connection.retryFailCount).toBe(0);
  });

  it("reconnects after a hello reply without a valid uaid, keeping the backoff growing", async () => {
    harness.connection.connect();
    for (const uaid of [undefined, "", "x".repeat(200)]) {
      const socket = FakeWebSocket.last;
      socket.open();
      await vi.advanceTimersByTimeAsync(0);
      socket.receive({ messageType: "hello", status: 200, uaid });
      expect(harness.connection.state).toBe("ShutDown");
      expect(socket.closedByClient).not.toBeNull();
      await vi.advanceTimersByTimeAsync(PING);
    }
    expect(harness.connection.retryFailCount).toBe(3);
    expect(harness.handshakes).toEqual([]);
  });

  it("does not reconnect after close code 4774 until there is something to send", async () => {
    harness.connection.connect();
    await handshake();
    FakeWebSocket.last.serverClose(4774);
    expect(harness.connection.state).toBe("ShutDown");
    const count = FakeWebSocket.instances.length;
    await vi.advanceTimersByTimeAsync(10 * PING);
    expect(FakeWebSocket.instances.length).toBe(count);

    const reply = harness.connection.request("register", "c1", '{"messageType":"register","channelID":"c1"}');
    expect(FakeWebSocket.instances.length).toBe(count + 1);
    const socket = await handshake();
    expect(socket.sent.at(-1)).toBe('{"messageType":"register","channelID":"c1"}');
    socket.receive({
      messageType: "register",
      channelID: "C1",
      status: 200,
      pushEndpoint: "https://e.example/1",
    });
    await expect(reply).resolves.toMatchObject({ channelID: "C1", status: 200 });
  });

  it("pings with {} after pingInterval of inbound silence and reconnects when the pong is late", async () => {
    harness.connection.connect();
    const socket = await handshake();
    await vi.advanceTimersByTimeAsync(PING - 1);
    expect(socket.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.sent.at(-1)).toBe("{}");
    socket.receive("{}");
    await vi.advanceTimersByTimeAsync(3 * TIMEOUT);
    expect(harness.connection.state).toBe("Ready");

    // Next ping goes unanswered: reconnect within requestTimeout (+ one tick of slack).
    await vi.advanceTimersByTimeAsync(PING);
    expect(socket.sent.filter((t) => t === "{}")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2 * TIMEOUT);
    expect(harness.connection.state).not.toBe("Ready");
    expect(socket.closedByClient).not.toBeNull();
  });

  it("never sends {} pings closer than 45 s apart, whatever pingInterval says, and warns once", async () => {
    const logger = captureLogger();
    harness = makeConnection({}, { pingInterval: 1_000, logger });
    expect(logger.lines).toEqual([
      {
        level: "warn",
        message: expect.stringContaining("pingInterval 1000 ms is below autoconnect's 45000 ms floor"),
      },
    ]);
    harness.connection.connect();
    const socket = await handshake();
    const pingTimes: number[] = [];
    const start = Date.now();
    // Ten minutes in which the server answers every ping at once.
    while (Date.now() - start < 600_000) {
      await vi.advanceTimersByTimeAsync(1_000);
      if (socket.sent.at(-1) === "{}" && pingTimes.length < socket.sent.filter((t) => t === "{}").length) {
        pingTimes.push(Date.now() - start);
        socket.receive("{}");
      }
    }
    expect(pingTimes[0]).toBe(MIN_PING_INTERVAL);
    const gaps = pingTimes.slice(1).map((time, i) => time - pingTimes[i]!);
    expect(gaps.length).toBeGreaterThan(10);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(MIN_PING_INTERVAL);
    expect(harness.connection.state).toBe("Ready");
    // The backoff still caps at the configured value.
    socket.serverClose(1006);
    for (let i = 0; i < 3; i++) {
      const before = FakeWebSocket.instances.length;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(FakeWebSocket.instances.length).toBe(before + 1);
      FakeWebSocket.last.serverClose(1006);
    }
  });

  it("abandons a handshake that takes longer than connectTimeout and says so on the state change", async () => {
    const errors: (ConnectFailure | undefined)[] = [];
    harness = makeConnection(
      { stateChanged: (state, _previous, error) => void (state === "ShutDown" && errors.push(error)) },
      { connectTimeout: 2_000 },
    );
    harness.connection.connect();
    const socket = FakeWebSocket.last;
    await vi.advanceTimersByTimeAsync(1_999);
    expect(harness.connection.state).toBe("WaitingForWebSocket");
    await vi.advanceTimersByTimeAsync(1);
    expect(harness.connection.state).toBe("ShutDown");
    expect(socket.closedByClient).toBe(1000);
    expect(errors).toEqual([
      { kind: "handshake-timeout", message: "no WebSocket handshake with push.example within 2000 ms" },
    ]);
    await vi.advanceTimersByTimeAsync(BASE);
    expect(FakeWebSocket.last).not.toBe(socket);
  });

  it("gives up on a server that opens the socket and never answers hello, after requestTimeout", async () => {
    harness.connection.connect();
    const socket = FakeWebSocket.last;
    socket.open();
    await vi.advanceTimersByTimeAsync(TIMEOUT - 1);
    expect(harness.connection.state).toBe("WaitingForHello");
    await vi.advanceTimersByTimeAsync(1);
    expect(harness.connection.state).toBe("ShutDown");
    expect(socket.closedByClient).toBe(1000);
    await vi.advanceTimersByTimeAsync(BASE);
    expect(FakeWebSocket.last).not.toBe(socket);
    // A hello answered in time clears the deadline.
    await handshake();
    await vi.advanceTimersByTimeAsync(3 * TIMEOUT);
    expect(harness.connection.state).toBe("Ready");
  });

  it("re-arms the ping timer on every parsed message", async () => {
    harness.connection.connect();
    const socket = await handshake();
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(PING / 2);
      socket.receive({ messageType: "broadcast", broadcasts: {} });
    }
    expect(socket.sent).not.toContain("{}");
  });

  it("times out requests: from the first late one on, every later one fails too, then reconnects", async () => {
    harness.connection.connect();
    const socket = await handshake();
    const first = harness.connection.request("register", "a", "A");
    // The timer ticks every TIMEOUT; "a" is late at the second tick, when "b" is only 100 ms old.
    await vi.advanceTimersByTimeAsync(2 * TIMEOUT - 100);
    const second = harness.connection.request("register", "b", "B");
    const results = Promise.allSettled([first, second]);
    await vi.advanceTimersByTimeAsync(100);
    const [a, b] = await results;
    expect(a).toMatchObject({ status: "rejected", reason: { message: "Request timed out: register|a" } });
    expect(b).toMatchObject({ status: "rejected", reason: { message: "Request timed out: register|b" } });
    expect(socket.closedByClient).not.toBeNull();
  });

  it("shares one promise between identical requests", async () => {
    harness.connection.connect();
    const socket = await handshake();
    const a = harness.connection.request("unregister", "x", "U");
    const b = harness.connection.request("unregister", "X", "U");
    expect(a).toBe(b);
    expect(socket.sent.filter((t) => t === "U")).toHaveLength(1);
    socket.receive({ messageType: "unregister", channelID: "x", status: 200 });
    await expect(a).resolves.toMatchObject({ status: 200 });
  });

  it("queues frames that arrive during the handshake and replays them once Ready", async () => {
    let finish!: () => void;
    harness = makeConnection({
      handshake: () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    });
    harness.connection.connect();
    const socket = FakeWebSocket.last;
    socket.open();
    await vi.advanceTimersByTimeAsync(0);
    socket.receive({ messageType: "hello", uaid: UAID, use_webpush: true });
    socket.receive({ messageType: "notification", channelID: "c", version: "v" });
    await vi.advanceTimersByTimeAsync(0);
    expect(harness.messages).toEqual([]);
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(harness.connection.state).toBe("Ready");
    expect(harness.messages).toMatchObject([{ type: "notification", channelID: "c", messageId: "v" }]);
  });

  it("drops frames tagged for a socket that is gone", async () => {
    harness.connection.connect();
    const socket = await handshake();
    const generation = harness.connection.generation;
    socket.serverClose(1006);
    await vi.advanceTimersByTimeAsync(BASE);
    const next = await handshake();
    harness.connection.sendOn(generation, "stale-ack");
    harness.connection.sendOn(harness.connection.generation, "fresh-ack");
    expect(next.sent).toEqual([expect.stringContaining("hello"), "fresh-ack"]);
  });

  it("rejects pending requests on shutdown and leaves no timer behind", async () => {
    harness.connection.connect();
    await handshake();
    const pending = harness.connection.request("register", "z", "Z");
    harness.connection.shutdown();
    await expect(pending).rejects.toThrow("Request aborted");
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("Connection and a misbehaving server", () => {
  it("reconnects after a hello reply outside WaitingForHello, without resetting the backoff", async () => {
    harness.connection.connect();
    const socket = await handshake();
    FakeWebSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(BASE);
    const second = FakeWebSocket.last;
    second.open();
    await vi.advanceTimersByTimeAsync(0);
    second.receive({ messageType: "hello", uaid: UAID, use_webpush: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(harness.connection.state).toBe("Ready");
    second.receive({ messageType: "hello", uaid: UAID, use_webpush: true });
    expect(harness.connection.state).toBe("ShutDown");
    expect(second.closedByClient).not.toBeNull();
    expect(socket).not.toBe(second);
    await vi.advanceTimersByTimeAsync(BASE);
    expect(FakeWebSocket.last).not.toBe(second);
  });
});
