/**
 * Nothing waits or grows without bound, against the scripted FakeAutopush under fake
 * timers: a failed store write means no ack, a store-error event and a re-send; held messages
 * are capped in count and bytes and let go on stop(); ready() always settles; a failed start
 * closes the store it opened.
 */

import "fake-indexeddb/auto";
import { IDBDatabase, IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import type { PushDB } from "../../src/db/push-db.ts";
import type { StoreErrorEvent } from "../../src/observers.ts";
import { Broadcasts } from "../../src/service/broadcasts.ts";
import { Connection, type InboundMessage } from "../../src/service/connection.ts";
import { PushService } from "../../src/service/push-service.ts";
import { CrashCounter } from "../faults/support/report.ts";
import { FakeAutopush } from "../helpers/fake-autopush.ts";
import { FAKE_TIMERS, fakeService, startAndSubscribe, until } from "../helpers/fake-service.ts";
import { FakeWebSocket } from "../helpers/fake-socket.ts";
import { captureLogger } from "../helpers/logger.ts";

const SCOPE = "https://limits.example/";

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKE_TIMERS] });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** A memory store whose next `failWrites` updates fail as a full disk does. */
function failingStore(): { db: PushDB; control: { failWrites: number } } {
  const inner = openMemoryPushDB(createMemoryStorage());
  const control = { failWrites: 0 };
  const db = new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (key === "update") {
        return (...args: Parameters<PushDB["update"]>) => {
          if (control.failWrites > 0) {
            control.failWrites--;
            return Promise.reject(
              Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }),
            );
          }
          return target.update(...args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, control };
}

describe("a store write that fails before the ack", () => {
  it("means no ack, a store-error event and a logged error; the message comes again and is acked", async () => {
    const crashes = new CrashCounter().install();
    const { db, control } = failingStore();
    const harness = fakeService({ retryBaseInterval: 1_000 }, new FakeAutopush(), db);
    const { service, server, logger } = harness;
    try {
      const channelID = await startAndSubscribe(harness, SCOPE);
      const received: string[] = [];
      const storeErrors: StoreErrorEvent[] = [];
      service.observe("push-message", ({ messageId }) => void received.push(messageId));
      service.observe("store-error", (event) => void storeErrors.push(event));
      // Three writes in a row fail: three deliveries, three re-sends, each after a longer wait.
      control.failWrites = 3;
      server.notify(channelID, "v1");
      await until(() => server.acks().has("v1"), 60_000);

      expect(received).toEqual(["v1", "v1", "v1", "v1"]);
      expect(server.acks().get("v1")).toEqual([100]);
      // No ack on any socket the write failed on: only the last socket acked.
      const ackSockets = server.framesOf("ack").map((s) => s.socket);
      expect(ackSockets).toEqual([server.sockets.length - 1]);
      expect(storeErrors).toHaveLength(3);
      expect(storeErrors[0]).toMatchObject({ scope: SCOPE, messageId: "v1" });
      expect(storeErrors[0]?.error.message).toMatch(/ENOSPC/);
      const errors = logger.lines.filter((l) => l.level === "error" && /the store failed/.test(l.message));
      expect(errors).toHaveLength(3);
      expect(errors[0]?.message).toMatch(/not acked.*ENOSPC/);
      // The connection started over after 1 s, 2 s, 4 s: a broken store never makes a tight loop.
      const opened = server.sockets.map((s) => s.openedAt);
      const gaps = opened.slice(1).map((at, i) => at - (opened[i] ?? 0));
      expect(gaps).toHaveLength(3);
      expect(gaps[1]).toBeGreaterThan(gaps[0] ?? 0);
      expect(gaps[2]).toBeGreaterThan(gaps[1] ?? 0);
      expect(service.state).toBe("Ready");
      expect(crashes.total).toBe(0);
    } finally {
      crashes.uninstall();
      await service.stop();
    }
  });
});

describe("messages held while nobody observes push-message", () => {
  it("are capped in count: one more is left unacked for the server, delivered when it comes again", async () => {
    const harness = fakeService({ maxHeldMessages: 3 });
    const { service, server, logger } = harness;
    try {
      const channelID = await startAndSubscribe(harness, SCOPE);
      for (const version of ["a", "b", "c", "d", "e"]) server.notify(channelID, version);
      await until(() => logger.lines.some((l) => /leaving this one unacked/.test(l.message)));
      await vi.advanceTimersByTimeAsync(1_000);
      const received: string[] = [];
      service.observe("push-message", ({ messageId }) => void received.push(messageId));
      await until(() => server.acks().size === 3);
      expect(received).toEqual(["a", "b", "c"]);
      expect([...server.acks().keys()]).toEqual(["a", "b", "c"]);
      // Warned once for the overflow, not once per message.
      expect(logger.lines.filter((l) => l.level === "warn" && /unacked/.test(l.message))).toHaveLength(1);
      // The server still has d and e; on the next connection they come again and are delivered.
      server.drop();
      await until(() => server.acks().size === 5);
      expect(received).toEqual(["a", "b", "c", "d", "e"]);
    } finally {
      await service.stop();
    }
  });

  it("are capped in payload bytes", async () => {
    const harness = fakeService({ maxHeldBytes: 100 });
    const { service, server } = harness;
    try {
      const channelID = await startAndSubscribe(harness, SCOPE);
      const data = "A".repeat(60);
      server.notify(channelID, "first", { data, headers: { encoding: "aes128gcm" } });
      server.notify(channelID, "second", { data, headers: { encoding: "aes128gcm" } });
      await vi.advanceTimersByTimeAsync(1_000);
      service.observe("push-message", () => {});
      await until(() => server.acks().size === 1);
      await vi.advanceTimersByTimeAsync(1_000);
      // The held one went on (and failed to decrypt: 101); the one over the cap was never taken.
      expect([...server.acks()]).toEqual([["first", [101]]]);
    } finally {
      await service.stop();
    }
  });

  it("are let go, unacked, by stop(): a restarted service does not deliver them from memory", async () => {
    const server = new FakeAutopush();
    const harness = fakeService({}, server);
    const { service } = harness;
    const channelID = await startAndSubscribe(harness, SCOPE);
    server.notify(channelID, "held");
    await vi.advanceTimersByTimeAsync(1_000);
    await service.stop();
    expect(server.acks().size).toBe(0);
    // The server has dropped it meanwhile (its TTL ran out): only a copy in memory could deliver it.
    server.unacked.clear();
    await service.start();
    await until(() => service.state === "Ready");
    const received: string[] = [];
    service.observe("push-message", ({ messageId }) => void received.push(messageId));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(received).toEqual([]);
    expect(server.acks().size).toBe(0);
    await service.stop();
  });
});

describe("ready() always settles", () => {
  it("rejects before start() and after stop(), and a pending one rejects when the service stops", async () => {
    const server = new FakeAutopush();
    server.answering = false;
    const { service } = fakeService({}, server);
    await expect(service.ready()).rejects.toMatchObject({
      name: "InvalidStateError",
      message: "PushService is not started: call start() before ready()",
    });
    await service.start();
    const pending = service.ready();
    const outcome = pending.then(
      () => "resolved",
      (error: Error) => `${error.name}: ${error.message}`,
    );
    await vi.advanceTimersByTimeAsync(5_000);
    await service.stop();
    expect(await outcome).toBe("AbortError: PushService stopped");
    await expect(service.ready()).rejects.toMatchObject({ name: "InvalidStateError" });
  });
});

describe("a start() that fails", () => {
  it("closes the store it opened and rejects the ready() waiting on it", async () => {
    vi.useRealTimers();
    const close = vi.spyOn(IDBDatabase.prototype, "close");
    vi.spyOn(Broadcasts.prototype, "attach").mockRejectedValueOnce(new Error("disk gone"));
    const indexedDB = new IDBFactory();
    const service = new PushService({
      serverURL: "wss://push.example/",
      indexedDB,
      WebSocket: new FakeAutopush().WebSocket,
    });
    const starting = service.start();
    const waiting = service.ready().then(
      () => "resolved",
      (error: Error) => `${error.name}: ${error.message}`,
    );
    await expect(starting).rejects.toThrow("disk gone");
    expect(await waiting).toBe("AbortError: PushService failed to start: disk gone");
    expect(close).toHaveBeenCalledTimes(1);
    expect(service.state).toBe("ShutDown");
    // Nothing is left half-open: a second start works.
    await service.start();
    expect(service.state).not.toBe("ShutDown");
    await service.stop();
    expect(close).toHaveBeenCalledTimes(2);
  });
});

describe("frames queued during the hello handshake", () => {
  it("are capped: one more than maxHandshakeFrames drops the socket instead of growing the queue", async () => {
    FakeWebSocket.reset();
    const logger = captureLogger();
    let finishHandshake!: () => void;
    const messages: InboundMessage[] = [];
    const connection = new Connection(
      {
        serverURL: "wss://push.example/",
        WebSocket: FakeWebSocket,
        requestTimeout: 10_000,
        retryBaseInterval: 5_000,
        pingInterval: 60_000,
        subprotocol: null,
        connectTimeout: 20_000,
        maxHandshakeFrames: 100,
        logger,
      },
      {
        hello: async () => ({ uaid: null, broadcasts: {} }),
        handshake: () => new Promise<void>((resolve) => (finishHandshake = resolve)),
        message: (message) => void messages.push(message),
        stateChanged: () => {},
      },
    );
    try {
      connection.connect();
      const socket = FakeWebSocket.last;
      socket.open();
      await vi.advanceTimersByTimeAsync(0);
      socket.receive({
        messageType: "hello",
        uaid: "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11",
        status: 200,
        use_webpush: true,
      });
      const notification = (i: number) => ({ messageType: "notification", channelID: "c", version: `v${i}` });
      for (let i = 0; i < 100; i++) socket.receive(notification(i));
      expect(socket.closedByClient).toBeNull();
      socket.receive(notification(100));
      expect(socket.closedByClient).not.toBeNull();
      expect(connection.state).toBe("ShutDown");
      expect(logger.text()).toMatch(/more than 100 frames arrived during the hello handshake/);
      finishHandshake();
      await vi.advanceTimersByTimeAsync(0);
      // Nothing queued on the dropped socket is handed on.
      expect(messages).toEqual([]);
      // The next socket comes after the backoff, and a handshake within the cap goes through.
      await vi.advanceTimersByTimeAsync(5_000);
      expect(FakeWebSocket.instances).toHaveLength(2);
    } finally {
      connection.shutdown();
    }
  });
});

describe("server URLs in log lines", () => {
  it("carry no user:password", async () => {
    FakeWebSocket.reset();
    const harness = fakeService({
      serverURL: "wss://alice:s3cr3t-pass@push.example/",
      WebSocket: FakeWebSocket,
      retryBaseInterval: 1_000,
    });
    const { service, logger } = harness;
    try {
      await service.start();
      FakeWebSocket.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(1_500);
      FakeWebSocket.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(0);
      expect(logger.text()).toMatch(/cannot connect to wss:\/\/\*\*\*@push\.example\//);
      expect(logger.text()).not.toMatch(/s3cr3t|alice/);
    } finally {
      await service.stop();
    }
  });
});
