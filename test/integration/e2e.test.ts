/**
 * The library against the local push server, over real sockets: what an app server sends with
 * `web-push` arrives decrypted, is acked, is stored while the user agent is offline, and is
 * re-sent when it was not acked.
 */

import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import webpush from "web-push";
import WebSocket from "ws";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import type { PushMessageEvent } from "../../src/observers.ts";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer, type PushServer, type PushServerOptions } from "../../src/server/index.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { captureLogger } from "../helpers/logger.ts";

const SCOPE = "https://app.example/";
const vapid = webpush.generateVAPIDKeys();
const vapidDetails = {
  subject: "mailto:test@example.com",
  publicKey: vapid.publicKey,
  privateKey: vapid.privateKey,
};

let server: PushServer;
const services: PushService[] = [];

async function startServer(options: PushServerOptions = {}) {
  server = await createPushServer({ port: 0, logger: captureLogger(), ...options });
}

beforeEach(async () => {
  await startServer();
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
  await server.close();
});

function agent(options: PushServiceOptions = {}) {
  const logger = captureLogger();
  const service = new PushService({
    serverURL: server.url,
    indexedDB: options.indexedDB ?? new IDBFactory(),
    logger,
    retryBaseInterval: 20,
    ...options,
  });
  services.push(service);
  return { service, logger };
}

/** Collects push-message events; `next(n)` resolves once n of them have arrived. */
function inbox(service: PushService) {
  const messages: PushMessageEvent[] = [];
  const waiters: { count: number; resolve(): void }[] = [];
  service.observe("push-message", (event) => {
    messages.push(event);
    for (const waiter of waiters.filter((w) => messages.length >= w.count)) waiter.resolve();
  });
  const texts = () => messages.map((m) => m.data?.text() ?? null);
  const next = (count: number) =>
    new Promise<void>((resolve) => {
      if (messages.length >= count) resolve();
      else waiters.push({ count, resolve });
    });
  return { messages, texts, next };
}

async function send(
  subscription: { toJSON(): unknown },
  payload: string | null,
  options: { encoding?: "aes128gcm" | "aesgcm"; TTL?: number; topic?: string; vapid?: boolean } = {},
) {
  const result = await sendPush(subscription.toJSON() as Parameters<typeof sendPush>[0], payload, {
    TTL: options.TTL ?? 60,
    contentEncoding: options.encoding ?? "aes128gcm",
    ...(options.topic ? { topic: options.topic } : {}),
    ...(options.vapid === false ? {} : { vapidDetails }),
  });
  if (!result.ok) throw Object.assign(new Error(`push failed: ${result.statusCode}`), result);
  return result;
}

/** Wait until the server holds no stored message for anyone: every delivery was acked. */
async function drained() {
  await expect.poll(() => server.stats().storedMessages).toBe(0);
}

describe("library ⇄ local push server", () => {
  it("runs subscribe, push, decrypt, restart and stored delivery over autoconnect's handshake: no subprotocol", async () => {
    // Every socket the agents open, to read the subprotocol each 101 reply selected.
    const sockets: WebSocket[] = [];
    const Recording = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    } as unknown as WebSocketConstructor;
    const indexedDB = new IDBFactory();
    const first = agent({ indexedDB, WebSocket: Recording });
    const box = inbox(first.service);
    await first.service.start();
    const subscription = await first.service.subscribe({
      scope: SCOPE,
      applicationServerKey: vapid.publicKey,
    });
    await send(subscription, "live");
    await box.next(1);
    const uaid = first.service.uaid;
    await first.service.stop();

    await send(subscription, "stored while away", { encoding: "aesgcm" });
    const second = agent({ indexedDB, WebSocket: Recording });
    const again = inbox(second.service);
    await second.service.start();
    await again.next(1);
    expect(box.texts()).toEqual(["live"]);
    expect(again.texts()).toEqual(["stored while away"]);
    expect(second.service.uaid).toBe(uaid);
    expect(sockets.map((socket) => socket.protocol)).toEqual(["", ""]);
    await drained();
  });

  it("keeps a connection to the local server, which closes a client pinging under 45 s apart, for ten minutes", async () => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
      shouldAdvanceTime: true,
    });
    try {
      // A server started under the fake clock, so both sides measure ping gaps on it.
      await server.close();
      await startServer();
      const sent: string[] = [];
      const Counting = class extends WebSocket {
        override send(data: string) {
          sent.push(data);
          super.send(data);
        }
      } as unknown as WebSocketConstructor;
      // pingInterval 1 s asks for far too many pings; the 45 s floor keeps the server content.
      const { service, logger } = agent({
        db: openMemoryPushDB(createMemoryStorage()),
        WebSocket: Counting,
        pingInterval: 1_000,
      });
      await service.start();
      await service.ready();
      let drops = 0;
      service.observe("state-change", ({ previous }) => {
        if (previous === "Ready") drops++;
      });
      // Ten minutes of silence: {} pings, and the server's own WebSocket ping at 5 min. Time moves
      // in 500 ms steps with the real sockets' I/O in between, so a reply can beat its deadline.
      for (let elapsed = 0; elapsed < 600_000; elapsed += 500) {
        await vi.advanceTimersByTimeAsync(500);
        for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(drops, logger.text()).toBe(0);
      expect(service.state).toBe("Ready");
      const pings = sent.filter((frame) => frame === "{}").length;
      expect(pings).toBe(Math.floor(600_000 / 45_000));
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses push-notification by default, like autoconnect 1.83.1, and echoes it with echoSubprotocol", async () => {
    const asking = new WebSocket(server.url, ["push-notification"]);
    const error = await new Promise<Error>((resolve) => asking.once("error", resolve));
    expect(error.message).toBe("Server sent no subprotocol");
    await server.close();
    await startServer({ echoSubprotocol: true });
    const echoed = new WebSocket(server.url, ["push-notification"]);
    await new Promise((resolve) => echoed.once("open", resolve));
    expect(echoed.protocol).toBe("push-notification");
    echoed.terminate();
  });

  it("subscribes with VAPID, receives aes128gcm and aesgcm pushes decrypted, and acks them", async () => {
    const { service } = agent();
    const box = inbox(service);
    await service.start();
    const subscription = await service.subscribe({ scope: SCOPE, applicationServerKey: vapid.publicKey });
    expect(subscription.endpoint.startsWith(`${server.endpointURL}/wpush/v2/`)).toBe(true);

    const first = await send(subscription, "über aes128gcm", { encoding: "aes128gcm" });
    expect(first.statusCode).toBe(201);
    expect(first.location).toMatch(new RegExp(`^${server.endpointURL}/m/`));
    await send(subscription, "hello aesgcm", { encoding: "aesgcm" });
    await box.next(2);
    expect(box.texts()).toEqual(["über aes128gcm", "hello aesgcm"]);
    expect(box.messages[0]!.messageId).toBe(first.location!.split("/m/")[1]);
    await drained();
  });

  it("works without VAPID on a v1 endpoint, and a v2 endpoint refuses an unsigned push", async () => {
    const { service } = agent();
    const box = inbox(service);
    await service.start();
    const plain = await service.subscribe({ scope: SCOPE });
    expect(plain.endpoint).toContain("/wpush/v1/");
    await send(plain, "unsigned", { vapid: false });
    await box.next(1);
    expect(box.texts()).toEqual(["unsigned"]);

    const signed = await service.subscribe({
      scope: "https://signed.example/",
      applicationServerKey: vapid.publicKey,
    });
    const refused = await sendPush(signed.toJSON(), "x", {});
    expect(refused.statusCode, `${signed.endpoint} ${refused.body}`).toBe(401);
  });

  it("delivers a push without payload as data: null", async () => {
    const { service } = agent();
    const box = inbox(service);
    await service.start();
    const subscription = await service.subscribe({ scope: SCOPE });
    await send(subscription, null);
    await box.next(1);
    expect(box.messages[0]!.data).toBeNull();
    await drained();
  });

  it("stores pushes while the agent is offline and delivers them oldest first, in batches, after hello", async () => {
    const indexedDB = new IDBFactory();
    const first = agent({ indexedDB });
    await first.service.start();
    const subscription = await first.service.subscribe({ scope: SCOPE });
    await first.service.stop();

    for (let i = 0; i < 25; i++) await send(subscription, `stored ${i}`);
    await send(subscription, "gone", { TTL: 0 });
    expect(server.stats().storedMessages).toBe(25);

    const second = agent({ indexedDB });
    const box = inbox(second.service);
    await second.service.start();
    await box.next(25);
    expect(box.texts()).toEqual(Array.from({ length: 25 }, (_, i) => `stored ${i}`));
    await drained();
  });

  it("delivers only the newest stored message of a Topic", async () => {
    const indexedDB = new IDBFactory();
    const first = agent({ indexedDB });
    await first.service.start();
    const subscription = await first.service.subscribe({ scope: SCOPE });
    await first.service.stop();

    await send(subscription, "old score", { topic: "score" });
    await send(subscription, "plain");
    await send(subscription, "new score", { topic: "score" });

    const second = agent({ indexedDB });
    const box = inbox(second.service);
    await second.service.start();
    await box.next(2);
    await drained();
    expect(box.texts().sort()).toEqual(["new score", "plain"]);
  });

  it("re-sends a message that was never acked, and the app gets it after the restart", async () => {
    const indexedDB = new IDBFactory();
    const first = agent({ indexedDB });
    let seen!: () => void;
    const arrived = new Promise<void>((resolve) => {
      seen = resolve;
    });
    // The app takes the message but never finishes with it: no ack goes out.
    first.service.observe("push-message", () => {
      seen();
      return new Promise(() => {});
    });
    await first.service.start();
    const subscription = await first.service.subscribe({ scope: SCOPE });
    await send(subscription, "at least once");
    await arrived;
    await first.service.stop();

    const second = agent({ indexedDB });
    const box = inbox(second.service);
    await second.service.start();
    await box.next(1);
    expect(box.texts()).toEqual(["at least once"]);
    await drained();
  });

  it("drops duplicates the server re-sends after a partly acked batch", async () => {
    const indexedDB = new IDBFactory();
    const first = agent({ indexedDB });
    await first.service.start();
    const subscription = await first.service.subscribe({ scope: SCOPE });
    await first.service.stop();
    for (let i = 0; i < 10; i++) await send(subscription, `batch ${i}`);

    // The app finishes the first five of the batch and never the rest; then the agent stops.
    const second = agent({ indexedDB });
    let delivered = 0;
    let recorded = 0;
    second.service.observe("push-message", () => (++delivered > 5 ? new Promise(() => {}) : undefined));
    second.service.observe("push-subscription-modified", () => void recorded++);
    await second.service.start();
    await expect.poll(() => recorded).toBe(5);
    await new Promise((resolve) => setImmediate(resolve)); // let the fifth ack leave
    await second.service.stop();

    const third = agent({ indexedDB });
    const box = inbox(third.service);
    await third.service.start();
    await box.next(5);
    await drained();
    // The whole batch came again; the five already delivered were dropped as duplicates.
    expect(box.texts()).toEqual(["batch 5", "batch 6", "batch 7", "batch 8", "batch 9"]);
  });

  it("re-registers nothing by itself but reports every subscription lost to a uaid reset after msgLimit", async () => {
    await server.close();
    await startServer({ msgLimit: 20 });
    const indexedDB = new IDBFactory();
    const first = agent({ indexedDB });
    await first.service.start();
    const subscription = await first.service.subscribe({ scope: SCOPE });
    const oldUaid = first.service.uaid;
    await first.service.stop();
    for (let i = 0; i < 35; i++) await send(subscription, `m${i}`);

    const second = agent({ indexedDB });
    inbox(second.service);
    const changes: string[] = [];
    second.service.observe("push-subscription-change", (event) => void changes.push(event.scope));
    await second.service.start();
    await expect.poll(() => changes).toEqual([SCOPE]);
    expect(second.service.uaid).not.toBe(oldUaid);
    expect(await second.service.subscriptions()).toEqual([]);
    await expect(send(subscription, "after reset")).rejects.toMatchObject({ statusCode: 410 });
  });

  it("unsubscribes: the server answers 410 with Cache-Control for the old endpoint", async () => {
    const { service } = agent();
    await service.start();
    const subscription = await service.subscribe({ scope: SCOPE });
    expect(await subscription.unsubscribe()).toBe(true);
    await expect(send(subscription, "too late")).rejects.toMatchObject({
      statusCode: 410,
      headers: expect.objectContaining({ "cache-control": "max-age=86400" }),
    });
  });

  it("reconnects by itself after the server goes away and comes back on the same port", async () => {
    const { service } = agent({ retryBaseInterval: 10, pingInterval: 200 });
    const box = inbox(service);
    await service.start();
    await service.ready();
    const port = server.port;
    const cryptoKey = "integration-test-server-secret";
    await server.close();
    await startServer({ port, cryptoKey });
    await service.ready();
    const subscription = await service.subscribe({ scope: SCOPE });
    await send(subscription, "back again");
    await box.next(1);
    expect(box.texts()).toEqual(["back again"]);
  });

  it("delivers broadcasts: register phase after subscribe, broadcast phase on a change", async () => {
    await server.close();
    await startServer({ broadcasts: { "remote-settings/monitor_changes": "v2" } });
    const { service } = agent();
    await service.start();
    await service.ready();
    const calls: string[] = [];
    await service.addBroadcastListener("remote-settings/monitor_changes", "v1", (version, _id, { phase }) => {
      calls.push(`${phase}:${version}`);
    });
    await expect.poll(() => calls).toEqual(["register:v2"]);
    server.setBroadcast("remote-settings/monitor_changes", "v3");
    await expect.poll(() => calls).toEqual(["register:v2", "broadcast:v3"]);
  });

  it("never logs a private key, an auth secret or a whole endpoint, even at debug level", async () => {
    const { service, logger } = agent();
    const box = inbox(service);
    await service.start();
    const subscription = await service.subscribe({ scope: SCOPE, applicationServerKey: vapid.publicKey });
    await send(subscription, "secret payload");
    await box.next(1);
    await subscription.unsubscribe();
    await service.stop();

    const text = logger.text();
    expect(logger.lines.some((line) => line.level === "debug")).toBe(true);
    const { keys, endpoint } = subscription.toJSON();
    const token = endpoint.split("/").at(-1)!;
    expect(text).not.toContain(keys.auth);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(0, 24));
    expect(text).not.toContain("secret payload");
  });
});
