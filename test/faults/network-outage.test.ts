/**
 * Fault 4: the network goes away for a long time. Under fake timers (FakeWebSocket) a 24-hour
 * outage: the reconnect backoff doubles up to its cap (pingInterval) and stays there, and the
 * connection comes back by itself once the server answers again. Against the real local server
 * behind a TCP proxy that refuses connections for a while: the same with small option values,
 * and the pushes sent during the outage arrive afterwards. Counts go to
 * .tmp/reliability/network-outage.json.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { generateKeys } from "../../src/crypto/keys.ts";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { FakeWebSocket } from "../helpers/fake-socket.ts";
import { captureLogger } from "../helpers/logger.ts";
import { Inbox, nextState, send, waitFor } from "./support/local.ts";
import { TcpProxy } from "./support/proxy.ts";
import { CrashCounter, ReliabilityLog, SLOW } from "./support/report.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const CHANNEL = "4d1bd1a5-9a6b-4c8e-8f4e-1c2d3e4f5a6b";
const BASE = 5_000;
const PING = 1_800_000;
const DAY = 24 * 60 * 60 * 1000;
const OUTAGES = SLOW ? 4 : 1;

const log = new ReliabilityLog("network-outage");
const crashes = new CrashCounter();
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => void crashes.install());
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  crashes.uninstall();
  log.write();
});

/** A store that already holds one subscription under UAID, so hello carries the uaid. */
async function seededStore() {
  const keys = await generateKeys();
  const db = openMemoryPushDB(createMemoryStorage());
  await db.put({
    channelID: CHANNEL,
    pushEndpoint: "https://push.example/wpush/v1/token",
    scope: "https://outage.example/",
    p256dhPublicKey: keys.publicKey,
    p256dhPrivateKey: keys.privateKey,
    authenticationSecret: keys.authSecret,
    appServerKey: null,
    recentMessageIDs: [],
    pushCount: 0,
    lastPush: 0,
    ctime: Date.now(),
    quota: Number.POSITIVE_INFINITY,
    version: null,
    systemRecord: true,
  });
  await db.setUAID(UAID);
  return db;
}

describe("fault 4: the network goes away for a long time", () => {
  it("24 hours without a server: backoff doubles to pingInterval, stays capped, and the client comes back by itself", async () => {
    const db = await seededStore();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    FakeWebSocket.reset();
    const service = new PushService({
      serverURL: "wss://push.example/",
      WebSocket: FakeWebSocket,
      db,
      logger: captureLogger(),
    });
    cleanups.push(() => service.stop());
    const inbox = new Inbox(service);
    await service.start();

    const answerHello = async () => {
      const socket = FakeWebSocket.last;
      socket.open();
      await vi.advanceTimersByTimeAsync(0);
      expect(JSON.parse(socket.sent[0]!)).toMatchObject({ messageType: "hello", uaid: UAID });
      socket.receive({ messageType: "hello", uaid: UAID, status: 200, use_webpush: true });
      await vi.advanceTimersByTimeAsync(0);
      expect(service.state).toBe("Ready");
      return socket;
    };
    await answerHello();

    /** Run timers until the next socket opens (other timers, like the wake check, fire between); ms waited. */
    const nextSocket = async () => {
      const start = Date.now();
      const count = FakeWebSocket.instances.length;
      while (FakeWebSocket.instances.length === count) await vi.advanceTimersToNextTimerAsync();
      return Date.now() - start;
    };

    // The network goes: every attempt fails to open (1006) for a day.
    const outageStart = Date.now();
    const delays: number[] = [];
    FakeWebSocket.last.serverClose(1006);
    while (Date.now() - outageStart < DAY) {
      delays.push(await nextSocket());
      FakeWebSocket.last.serverClose(1006);
    }
    const expected = delays.map((_, n) => Math.min(BASE * 2 ** n, PING));
    expect(delays).toEqual(expected);
    expect(delays.at(-1)).toBe(PING);
    // No hot loop: after the cap, one attempt per pingInterval.
    const firstCapped = delays.indexOf(PING);
    expect(delays.length - firstCapped).toBeLessThanOrEqual(Math.ceil(DAY / PING));

    // The server is back: the next attempt opens, hello carries the uaid, a push gets through.
    const sockets = FakeWebSocket.instances.length;
    await nextSocket();
    expect(FakeWebSocket.instances.length).toBe(sockets + 1);
    const socket = await answerHello();
    socket.receive({ messageType: "notification", channelID: CHANNEL, version: "after-outage" });
    await vi.advanceTimersByTimeAsync(0);
    await inbox.all(["id:after-outage"]);
    await vi.waitFor(() => expect(socket.sentFrames().at(-1)).toMatchObject({ messageType: "ack" }));
    expect(socket.sentFrames().at(-1)).toEqual({
      messageType: "ack",
      updates: [{ channelID: CHANNEL, version: "after-outage", code: 100 }],
    });

    // A parsed message reset the backoff: the next drop is retried after the base interval.
    socket.serverClose(1006);
    expect(await nextSocket()).toBe(BASE);
    expect(crashes.total).toBe(0);

    log.add({
      id: "F4a",
      category: "fault",
      title: "24-hour outage under fake timers (defaults: retryBaseInterval 5 s, pingInterval 30 min)",
      runs: delays.length,
      sent: 1,
      delivered: inbox.distinct,
      duplicated: inbox.duplicates,
      lost: 1 - inbox.distinct,
      crashes: crashes.total,
      notes: `${delays.length} reconnect attempts in 24 h; delays ${delays
        .slice(0, firstCapped + 1)
        .map((d) => `${d / 1000} s`)
        .join(
          ", ",
        )}, then capped; back by itself on the first attempt after the server returned; backoff reset to 5 s after it`,
    });
  });

  it("the local server unreachable for a while (connections refused): reconnects by itself, pushes sent meanwhile arrive", async () => {
    const server = await createPushServer({ port: 0, minPingInterval: 0 });
    cleanups.push(() => server.close());
    const proxy = await TcpProxy.start(server.port);
    cleanups.push(() => proxy.close());
    const service = new PushService({
      serverURL: proxy.url,
      db: openMemoryPushDB(createMemoryStorage()),
      logger: captureLogger(),
      retryBaseInterval: 10,
      pingInterval: 320,
    });
    cleanups.push(() => service.stop());
    const inbox = new Inbox(service);
    let attempts = 0;
    service.observe("state-change", ({ state }) => {
      if (state === "WaitingForWebSocket") attempts++;
    });
    await service.start();
    const subscription = await service.subscribe({ scope: "https://outage.example/" });

    let sent = 0;
    let totalAttempts = 0;
    for (let outage = 0; outage < OUTAGES; outage++) {
      const before = attempts;
      await proxy.down();
      const during = Array.from({ length: 10 }, (_, i) => `outage${outage}-${i}`);
      for (const payload of during) await send(subscription, payload, { vapid: false });
      sent += during.length;
      // Long enough for the backoff to reach its cap (10, 20, 40, 80, 160, 320, 320, ...).
      await waitFor(() => attempts - before >= 9, "9 failed reconnect attempts");
      expect(service.state).not.toBe("Ready");
      const back = nextState(service, "Ready");
      await proxy.up();
      await back;
      totalAttempts += attempts - before;
      await inbox.all(during);
      const after = `after-outage${outage}`;
      await send(subscription, after, { vapid: false });
      sent++;
      await inbox.all([after]);
    }
    expect(inbox.duplicates).toBe(0);
    expect(crashes.total).toBe(0);
    log.add({
      id: "F4b",
      category: "fault",
      title: "local server unreachable (TCP refused) until the backoff is capped, then reachable again",
      runs: OUTAGES,
      sent,
      delivered: inbox.distinct,
      duplicated: inbox.duplicates,
      lost: sent - inbox.distinct,
      crashes: crashes.total,
      notes: `retryBaseInterval 10 ms, pingInterval 320 ms; ${totalAttempts} reconnect attempts in all; 10 pushes stored by the server during each outage, all delivered after it`,
    });
  });
});
