/**
 * Fault 1: the server side drops the connection (a) before the hello reply, (b) while a register
 * is pending, (c) in the middle of a burst of 100 stored notifications. Afterwards every message
 * reached the app exactly once and every subscription still receives pushes. Counts go to
 * .tmp/reliability/connection-drop.json.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import type { PushSubscription } from "../../src/subscription.ts";
import { testDecryptWorkers } from "../helpers/decrypt-workers.ts";
import { captureLogger } from "../helpers/logger.ts";
import { type Frame, type ScriptedConnection, ScriptedServer } from "../helpers/scripted-server.ts";
import { Inbox, send, storedMessages, vapidPublicKey, waitFor } from "./support/local.ts";
import { TcpProxy } from "./support/proxy.ts";
import { CrashCounter, ReliabilityLog, SLOW, seededRandom, testSeed } from "./support/report.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const HELLO_DROPS = SLOW ? 50 : 10;
const REGISTER_DROPS = SLOW ? 30 : 6;
const BURST_RUNS = SLOW ? 12 : 2;
const BURST = 100;

const log = new ReliabilityLog("connection-drop");
const crashes = new CrashCounter();
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => void crashes.install());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  crashes.uninstall();
  log.write();
});

function scriptedAgent(server: ScriptedServer) {
  const service = new PushService({
    decryptWorkers: testDecryptWorkers,
    serverURL: server.url,
    db: openMemoryPushDB(),
    logger: captureLogger(),
    retryBaseInterval: 5,
    requestTimeout: 10_000,
  });
  cleanups.push(() => service.stop());
  const inbox = new Inbox(service);
  return { service, inbox };
}

async function scriptedServer(): Promise<ScriptedServer> {
  const server = await ScriptedServer.start();
  cleanups.push(() => server.close());
  return server;
}

function notification(channelID: unknown, version: string): Frame {
  return { messageType: "notification", channelID, version };
}

/** The next ack the client sends on `connection`, as its single update. */
async function nextAck(connection: ScriptedConnection): Promise<{ version: string; code: number }> {
  const ack = await connection.nextOfType("ack");
  const [update] = ack.updates as { version: string; code: number }[];
  return update!;
}

/** Subscribe `scope` over a Ready scripted connection; returns the channelID. */
async function register(service: PushService, connection: ScriptedConnection, scope: string) {
  const pending = service.subscribe({ scope });
  const frame = await connection.acceptRegister();
  await pending;
  return String(frame.channelID);
}

type DropBeforeHello = (connection: ScriptedConnection) => Promise<void>;

const helloDrops: [string, DropBeforeHello][] = [
  ["terminated before the client said hello", async (c) => c.terminate()],
  [
    "terminated after the hello, before the reply",
    async (c) => {
      await c.next();
      c.terminate();
    },
  ],
  [
    "closed 1011 after the hello",
    async (c) => {
      await c.next();
      c.close(1011, "SM");
    },
  ],
  [
    "closed 1000 after the hello",
    async (c) => {
      await c.next();
      c.close(1000);
    },
  ],
  [
    "closed 1001 after the hello",
    async (c) => {
      await c.next();
      c.close(1001, "Shutdown");
    },
  ],
];

describe("fault 1: the server drops the connection", () => {
  it("(a) before the hello reply: the client reconnects, keeps its uaid, and receives what was waiting", async () => {
    const server = await scriptedServer();
    const { service, inbox } = scriptedAgent(server);
    await service.start();
    const first = await server.nextConnection();
    await first.acceptHello(UAID);
    const channelID = await register(service, first, "https://a.example/");
    first.terminate();

    const sent: string[] = [];
    for (let round = 0; round < HELLO_DROPS; round++) {
      const [, drop] = helloDrops[round % helloDrops.length]!;
      await drop(await server.nextConnection());
      const good = await server.nextConnection();
      const hello = await good.acceptHello(UAID);
      expect(hello.uaid).toBe(UAID);
      const version = `a-${round}`;
      sent.push(version);
      good.send(notification(channelID, version));
      expect(await nextAck(good)).toEqual({ channelID, version, code: 100 });
      // The next round's connection starts from a drop of this one.
      good.terminate();
    }

    const last = await server.nextConnection();
    await last.acceptHello(UAID);
    const fresh = await register(service, last, "https://a2.example/");
    last.send(notification(fresh, "a-final"));
    expect(await nextAck(last)).toMatchObject({ version: "a-final", code: 100 });
    sent.push("a-final");

    const keys = sent.map((v) => `id:${v}`);
    await inbox.all(keys);
    expect(inbox.duplicates).toBe(0);
    expect(crashes.total).toBe(0);
    log.add({
      id: "F1a",
      category: "fault",
      title:
        "server drops the connection before the hello reply (5 ways: TCP reset before/after hello, close 1011/1000/1001)",
      runs: HELLO_DROPS,
      sent: sent.length,
      delivered: inbox.distinct,
      duplicated: inbox.duplicates,
      lost: keys.filter((k) => !inbox.has(k)).length,
      crashes: crashes.total,
      notes: "same uaid in every hello; a new subscription and a push on it work afterwards",
    });
  });

  it("(b) during a register: the register is re-sent with the same channelID after reconnect and subscribe() resolves", async () => {
    const server = await scriptedServer();
    const { service, inbox } = scriptedAgent(server);
    await service.start();
    let connection = await server.nextConnection();
    await connection.acceptHello(UAID);

    const sent: string[] = [];
    let resends = 0;
    for (let round = 0; round < REGISTER_DROPS; round++) {
      const scope = `https://b${round}.example/`;
      const pending = service.subscribe({ scope });
      const original = await connection.nextOfType("register");
      // Every third round the re-sent register is dropped once more.
      const drops = round % 3 === 2 ? 2 : 1;
      connection.terminate();
      for (let extra = 1; extra < drops; extra++) {
        const again = await server.nextConnection();
        await again.acceptHello(UAID);
        expect((await again.nextOfType("register")).channelID).toBe(original.channelID);
        resends++;
        again.close(1011, "SM");
      }
      connection = await server.nextConnection();
      await connection.acceptHello(UAID);
      const resent = await connection.acceptRegister("http://push.example/wpush/v1/");
      resends++;
      expect(resent.channelID).toBe(original.channelID);
      const subscription = await pending;
      expect(subscription.endpoint).toBe(`http://push.example/wpush/v1/${String(original.channelID)}`);
      expect((await service.getSubscription(scope))?.endpoint).toBe(subscription.endpoint);

      const version = `b-${round}`;
      sent.push(version);
      connection.send(notification(original.channelID, version));
      expect(await nextAck(connection)).toMatchObject({ version, code: 100 });
    }

    const keys = sent.map((v) => `id:${v}`);
    await inbox.all(keys);
    expect((await service.subscriptions()).length).toBe(REGISTER_DROPS);
    expect(inbox.duplicates).toBe(0);
    expect(crashes.total).toBe(0);
    log.add({
      id: "F1b",
      category: "fault",
      title: "server drops the connection while a register is pending (every third time twice in a row)",
      runs: REGISTER_DROPS,
      sent: sent.length,
      delivered: inbox.distinct,
      duplicated: inbox.duplicates,
      lost: keys.filter((k) => !inbox.has(k)).length,
      crashes: crashes.total,
      notes: `${resends} re-sent registers, all with the original channelID; every subscribe() resolved`,
    });
  });

  it("(c) in the middle of 100 stored notifications: all arrive exactly once and every subscription still works", async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    let sent = 0;
    let delivered = 0;
    let duplicated = 0;
    let lost = 0;
    let resentCopies = 0;
    const cutPoints: number[][] = [];
    for (let run = 0; run < BURST_RUNS; run++) {
      // A fresh server per run: an ack still in flight when a run stops its agent stays apart.
      const server: PushServer = await createPushServer({ port: 0, logger: captureLogger() });
      cleanups.push(() => server.close());
      const proxy = await TcpProxy.start(server.port);
      cleanups.push(() => proxy.close());
      const storage = createMemoryStorage();
      const agent = (inbox?: (service: PushService) => Inbox) => {
        const logger = captureLogger();
        const service = new PushService({
          decryptWorkers: testDecryptWorkers,
          serverURL: proxy.url,
          db: openMemoryPushDB(storage),
          logger,
          retryBaseInterval: 5,
        });
        cleanups.push(() => service.stop());
        return { service, logger, inbox: inbox?.(service) };
      };

      const first = agent();
      await first.service.start();
      const subscriptions: PushSubscription[] = [
        await first.service.subscribe({ scope: "https://c1.example/", applicationServerKey: vapidPublicKey }),
        await first.service.subscribe({ scope: "https://c2.example/" }),
      ];
      await first.service.stop();

      const keys: string[] = [];
      for (let i = 0; i < BURST; i++) {
        const key = `c${run}-${i}`;
        keys.push(key);
        await send(subscriptions[i % 2]!, key, {
          encoding: i % 3 === 0 ? "aesgcm" : "aes128gcm",
          vapid: i % 2 === 0,
        });
      }
      expect(storedMessages(server)).toBe(BURST);
      sent += BURST;

      // Cut after ~40 deliveries; every other run a second time later in the burst.
      const cuts = [30 + Math.floor(random() * 21)];
      if (run % 2 === 1) cuts.push(60 + Math.floor(random() * 31));
      cutPoints.push(cuts);
      const cutsBefore = proxy.cuts;
      const second = agent(
        (service) =>
          new Inbox(service, (_event, inbox) => {
            if (cuts.includes(inbox.total)) proxy.cut();
          }),
      );
      const inbox = second.inbox!;
      await second.service.start();
      await inbox.all(keys);
      await waitFor(() => storedMessages(server) === 0, "every stored message to be acked");
      expect(proxy.cuts - cutsBefore).toBe(cuts.length);

      // Every subscription still works on the new connection.
      const after = [`c${run}-after-1`, `c${run}-after-2`];
      await send(subscriptions[0]!, after[0]!);
      await send(subscriptions[1]!, after[1]!, { vapid: false });
      sent += after.length;
      await inbox.all(after);

      for (const key of [...keys, ...after]) expect(inbox.counts.get(key), key).toBe(1);
      // The message whose observer made the cut was never acked: at least one copy per cut came back.
      const copies = second.logger.lines.filter((l) => /duplicate/.test(l.message)).length;
      expect(copies).toBeGreaterThanOrEqual(cuts.length);
      resentCopies += copies;
      delivered += inbox.distinct;
      duplicated += inbox.duplicates;
      lost += [...keys, ...after].filter((k) => !inbox.has(k)).length;
      await second.service.stop();
    }
    expect(crashes.total).toBe(0);
    log.add({
      id: "F1c",
      category: "fault",
      title: "connection cut (TCP, both ways) in the middle of a burst of 100 stored notifications",
      runs: BURST_RUNS,
      sent,
      delivered,
      duplicated,
      lost,
      crashes: crashes.total,
      notes: `local push server behind a TCP proxy; cut after deliveries ${cutPoints.map((c) => c.join("+")).join(", ")} (seed ${seed}); 2 subscriptions, aes128gcm and aesgcm; ${resentCopies} re-sent copies dropped as duplicates (ack 102)`,
    });
  });
});

describe("a copy re-sent on a newer connection while the first is with the app", () => {
  /*
   * Regression (found by this suite): the copy used to be acked 102 at once on the new socket
   * while the first copy's ack was tied to the dead one, so the server forgot a message the app
   * had not finished with; a host stop at that moment lost it for good.
   */
  it("does not ack a re-sent copy before the app has finished with the first one", async () => {
    const server = await scriptedServer();
    const storage = createMemoryStorage();
    const first = new PushService({
      decryptWorkers: testDecryptWorkers,
      serverURL: server.url,
      db: openMemoryPushDB(storage),
      logger: captureLogger(),
      retryBaseInterval: 5,
    });
    cleanups.push(() => first.stop());
    const seen: string[] = [];
    // The app takes its time with the message (a slow disk, a prompt to the user, ...).
    first.observe("push-message", (event) => {
      seen.push(event.messageId);
      return new Promise(() => {});
    });
    await first.start();
    const c1 = await server.nextConnection();
    await c1.acceptHello(UAID);
    const channelID = await register(first, c1, "https://inflight.example/");
    c1.send(notification(channelID, "m"));
    await waitFor(() => seen.length === 1, "the app to get m");

    // The network blips; the server re-sends what was not acked.
    c1.terminate();
    const c2 = await server.nextConnection();
    await c2.acceptHello(UAID);
    c2.send(notification(channelID, "m"));
    c2.send(notification("0c9a2f4b-8e6d-4c1a-a3b2-f1e0d9c8b7a6", "probe"));
    const firstAck = await nextAck(c2);
    // Today this is { version: "m", code: 102 }: the server forgets m while the app still holds it.
    const premature = firstAck.version === "m";
    // The host now goes down before the app finishes; the next instance gets m only if the server
    // still has it, i.e. only if it was not acked.
    await first.stop();
    const second = new PushService({
      decryptWorkers: testDecryptWorkers,
      serverURL: server.url,
      db: openMemoryPushDB(storage),
      logger: captureLogger(),
      retryBaseInterval: 5,
    });
    cleanups.push(() => second.stop());
    const again = new Inbox(second);
    await second.start();
    const c3 = await server.nextConnection();
    await c3.acceptHello(UAID);
    if (!premature) {
      c3.send(notification(channelID, "m"));
      await again.all(["id:m"]);
    }
    // Every hand-over of m to an app, in the stopped host and in the restarted one.
    const handed = new Set([...seen, ...again.events.map((e) => e.messageId)]);
    const handedTimes = seen.length + again.total;
    log.add({
      id: "F1d",
      category: "fault",
      title:
        "connection drops while the app is handling a message, the server re-sends it, then the host stops",
      runs: 1,
      sent: 1,
      delivered: handed.size,
      duplicated: handedTimes - handed.size,
      lost: 1 - handed.size,
      crashes: crashes.total,
      notes: premature
        ? "the re-sent copy was acked 102 on the new connection while the first copy was still with the app; the server dropped it and the restarted host never got it"
        : "the re-sent copy stayed unacked until the app finished; the restarted host got it (the duplicate: the stopped host had been handed m and never finished it, so it came again, by design)",
    });
    expect(firstAck.version).toBe("probe");
  });
});
