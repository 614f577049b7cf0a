import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import webpush from "web-push";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import { openLevelPushDB } from "../../src/node.ts";
import type { PushEventMap } from "../../src/observers.ts";
import type { PushService } from "../../src/service/push-service.ts";
import type { PushSubscription } from "../../src/subscription.ts";
import { type Frame, type ScriptedConnection, ScriptedServer } from "../helpers/scripted-server.ts";
import { captureLogger, newService, nextEvent } from "../helpers/service.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const OTHER_UAID = "0c9a2f4b8e6d4c1aa3b2f1e0d9c8b7a6";
const SCOPE = "https://app.example/";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let server: ScriptedServer;
const services: PushService[] = [];

beforeEach(async () => {
  server = await ScriptedServer.start();
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
  await server.close();
});

function track(created: ReturnType<typeof newService>) {
  services.push(created.service);
  return created;
}

/** A started service whose hello has been answered; returns the server side of the connection. */
async function connected(options: Parameters<typeof newService>[1] = {}, uaid = UAID) {
  const created = track(newService(server.url, options));
  await created.service.start();
  const connection = await server.nextConnection();
  const hello = await connection.acceptHello(uaid);
  await created.service.ready();
  return { ...created, connection, hello };
}

async function subscribe(service: PushService, connection: ScriptedConnection, scope = SCOPE) {
  const pending = service.subscribe({ scope });
  const register = await connection.acceptRegister();
  const subscription = await pending;
  return { subscription, register };
}

function encrypt(subscription: PushSubscription, payload: string, encoding: "aes128gcm" | "aesgcm") {
  const { keys } = subscription.toJSON();
  const result = webpush.encrypt(keys.p256dh, keys.auth, payload, encoding);
  const data = Buffer.from(result.cipherText).toString("base64url");
  if (encoding === "aes128gcm") return { data, headers: { encoding } };
  return {
    data,
    headers: {
      encoding,
      encryption: `salt=${result.salt}`,
      crypto_key: `dh=${Buffer.from(result.localPublicKey).toString("base64url")}`,
    },
  };
}

function notification(channelID: unknown, version: string, extra: Frame = {}): Frame {
  return { messageType: "notification", channelID, version, ...extra };
}

function collect<T extends keyof PushEventMap>(service: PushService, topic: T): PushEventMap[T][] {
  const events: PushEventMap[T][] = [];
  service.observe(topic, (event) => {
    events.push(event);
  });
  return events;
}

describe("connection and hello", () => {
  it("walks ShutDown → WaitingForWebSocket → WaitingForHello → Ready", async () => {
    const { service } = track(newService(server.url));
    const states = collect(service, "state-change");
    expect(service.state).toBe("ShutDown");
    await service.start();
    const connection = await server.nextConnection();
    // autoconnect negotiates no subprotocol, so push-agent asks for none.
    expect(connection.protocol).toBe("");
    expect(connection.requestedProtocols).toEqual([]);
    await connection.acceptHello();
    await service.ready();
    expect(states.map((e) => `${e.previous}→${e.state}`)).toEqual([
      "ShutDown→WaitingForWebSocket",
      "WaitingForWebSocket→WaitingForHello",
      "WaitingForHello→Ready",
    ]);
    expect(service.uaid).toBe(UAID);
  });

  it("says hello without a uaid while there is no subscription, in Firefox's key order", async () => {
    await connected();
    const [text] = server.all[0]!.received;
    expect(text).toBe('{"messageType":"hello","broadcasts":{},"use_webpush":true}');
  });

  it("says hello with the stored uaid once it has a subscription, across a restart", async () => {
    const { service, connection, indexedDB } = await connected();
    await subscribe(service, connection);
    await service.stop();
    const second = track(newService(server.url, { indexedDB }));
    await second.service.start();
    const hello = await (await server.nextConnection()).next();
    expect(hello).toEqual({ messageType: "hello", broadcasts: {}, use_webpush: true, uaid: UAID });
  });

  it("drops every subscription with push-subscription-change when the hello reply brings a new uaid", async () => {
    const { service, connection, indexedDB } = await connected();
    const { subscription } = await subscribe(service, connection);
    await subscribe(service, connection, "https://other.example/");
    await service.stop();

    const second = track(newService(server.url, { indexedDB }));
    const changes = collect(second.service, "push-subscription-change");
    await second.service.start();
    await (await server.nextConnection()).acceptHello(OTHER_UAID);
    await second.service.ready();
    expect(second.service.uaid).toBe(OTHER_UAID);
    expect(await second.service.subscriptions()).toEqual([]);
    expect(changes.map((c) => c.scope).sort()).toEqual(["https://app.example/", "https://other.example/"]);
    expect(changes.find((c) => c.scope === SCOPE)?.oldSubscription?.endpoint).toBe(subscription.endpoint);
  });

  it("ignores malformed frames and keeps serving valid traffic", async () => {
    const { service, connection, logger } = await connected({ retryBaseInterval: 10 });
    const { subscription, register } = await subscribe(service, connection);
    const messages = collect(service, "push-message");
    for (const bad of [
      "not json",
      "[1,2,3]",
      '{"messageType":"surprise"}',
      '{"messageType":"notification","version":"x"}',
      '{"messageType":"notification","channelID":42,"version":"x"}',
      '{"messageType":"register","status":200}',
      '{"messageType":"hello","uaid":"late"}',
      '{"__proto__":{"polluted":true},"messageType":"broadcast","broadcasts":{"__proto__":"1"}}',
    ]) {
      connection.send(bad);
    }
    // The late hello reply shut the connection down (unexpected in Ready); a new one comes up.
    const next = await server.nextConnection();
    await next.acceptHello();
    next.send(notification(register.channelID, "m1"));
    const ack = await next.nextOfType("ack");
    expect(ack.updates).toEqual([{ channelID: register.channelID, version: "m1", code: 100 }]);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.subscription.endpoint).toBe(subscription.endpoint);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(logger.text()).toContain("frame is not JSON");
    expect(logger.text()).toContain("unknown messageType");
  });

  it("matches messageType case-insensitively", async () => {
    const { service, connection } = await connected();
    const pending = service.subscribe({ scope: SCOPE });
    const register = await connection.nextOfType("register");
    connection.send({
      messageType: "REGISTER",
      channelID: register.channelID,
      status: 200,
      pushEndpoint: "https://p.example/e",
    });
    await pending;
    const messages = collect(service, "push-message");
    connection.send({ messageType: "Notification", channelID: register.channelID, version: "v1" });
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "v1", code: 100 },
    ]);
    expect(messages).toHaveLength(1);
  });
});

describe("register and unregister", () => {
  it("registers a lower-case UUID channel with a padded key and stores the keys", async () => {
    const { service, connection } = await connected();
    const vapid = webpush.generateVAPIDKeys();
    const modified = collect(service, "push-subscription-modified");
    const pending = service.subscribe({ scope: SCOPE, applicationServerKey: vapid.publicKey });
    const register = await connection.acceptRegister();
    const subscription = await pending;

    expect(register.channelID).toMatch(UUID_RE);
    // base64url *with* padding, as Firefox sends it: 65 bytes → 87 characters + "=".
    expect(register.key).toBe(`${vapid.publicKey}=`);
    expect(subscription.endpoint).toBe(`https://push.example/wpush/v1/${String(register.channelID)}`);
    expect(subscription.getKey("p256dh")!.byteLength).toBe(65);
    expect(subscription.getKey("auth")!.byteLength).toBe(16);
    expect(Buffer.from(subscription.options.applicationServerKey!).toString("base64url")).toBe(
      vapid.publicKey,
    );
    const json = subscription.toJSON();
    expect(json.keys.p256dh).toMatch(/^[A-Za-z0-9_-]{87}$/);
    expect(json.keys.auth).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(json.expirationTime).toBeNull();
    expect(modified).toEqual([{ scope: SCOPE }]);
    expect((await service.getSubscription(SCOPE))?.endpoint).toBe(subscription.endpoint);
  });

  it("returns the existing subscription without server traffic", async () => {
    const { service, connection } = await connected();
    const { subscription } = await subscribe(service, connection);
    const again = await service.subscribe({ scope: SCOPE });
    expect(again.endpoint).toBe(subscription.endpoint);
    expect(connection.received.filter((t) => t.includes('"register"'))).toHaveLength(1);
  });

  it("coalesces concurrent subscribes for one scope into one register", async () => {
    const { service, connection } = await connected();
    const a = service.subscribe({ scope: SCOPE });
    const b = service.subscribe({ scope: SCOPE });
    await connection.acceptRegister();
    expect((await a).endpoint).toBe((await b).endpoint);
    expect(connection.received.filter((t) => t.includes('"register"'))).toHaveLength(1);
  });

  it("rejects with InvalidStateError for a different applicationServerKey, InvalidAccessError for a bad one", async () => {
    const { service, connection } = await connected();
    await subscribe(service, connection);
    const key = webpush.generateVAPIDKeys().publicKey;
    await expect(service.subscribe({ scope: SCOPE, applicationServerKey: key })).rejects.toMatchObject({
      name: "InvalidStateError",
    });
    const offCurve = new Uint8Array(65).fill(7);
    offCurve[0] = 4;
    await expect(
      service.subscribe({ scope: "https://b.example/", applicationServerKey: offCurve }),
    ).rejects.toMatchObject({
      name: "InvalidAccessError",
    });
    await expect(
      service.subscribe({ scope: "https://b.example/", applicationServerKey: `${key}=` }),
    ).rejects.toMatchObject({ name: "InvalidCharacterError" });
  });

  it("rejects with AbortError on a non-200 register reply and stores nothing", async () => {
    const { service, connection } = await connected();
    const pending = service.subscribe({ scope: SCOPE });
    const register = await connection.nextOfType("register");
    connection.send({
      messageType: "register",
      channelID: register.channelID,
      status: 500,
      pushEndpoint: "",
    });
    await expect(pending).rejects.toMatchObject({
      name: "AbortError",
      message: expect.stringContaining("500"),
    });
    expect(await service.getSubscription(SCOPE)).toBeNull();
  });

  it("ignores a reply for another channel; the request times out, rejects and the client reconnects", async () => {
    const { service, connection } = await connected({ requestTimeout: 50, retryBaseInterval: 10 });
    const pending = service.subscribe({ scope: SCOPE });
    await connection.nextOfType("register");
    connection.send({
      messageType: "register",
      channelID: "00000000-0000-4000-8000-000000000000",
      status: 200,
      pushEndpoint: "https://p.example/x",
    });
    await expect(pending).rejects.toMatchObject({
      name: "AbortError",
      message: expect.stringContaining("timed out"),
    });
    await connection.closed;
    const next = await server.nextConnection();
    expect((await next.next()).messageType).toBe("hello");
  });

  it("re-sends a pending register after a reconnect, with the same channelID", async () => {
    const { service, connection } = await connected({ retryBaseInterval: 10 });
    const pending = service.subscribe({ scope: SCOPE });
    const first = await connection.nextOfType("register");
    connection.terminate();
    const next = await server.nextConnection();
    await next.acceptHello();
    const again = await next.acceptRegister();
    expect(again.channelID).toBe(first.channelID);
    expect((await pending).endpoint).toContain(String(first.channelID));
  });

  it("unsubscribes: unregister with code 200, record gone, false when there is nothing", async () => {
    const { service, connection } = await connected();
    const { subscription, register } = await subscribe(service, connection);
    const result = subscription.unsubscribe();
    const unregister = await connection.nextOfType("unregister");
    expect(unregister).toEqual({ channelID: register.channelID, messageType: "unregister", code: 200 });
    connection.send({ messageType: "unregister", channelID: register.channelID, status: 200 });
    expect(await result).toBe(true);
    expect(await service.getSubscription(SCOPE)).toBeNull();
    expect(await service.unsubscribe(SCOPE)).toBe(false);
  });

  it("resolves false when the server answers unregister with an error status", async () => {
    const { service, connection } = await connected();
    const { register } = await subscribe(service, connection);
    const result = service.unsubscribe(SCOPE);
    await connection.nextOfType("unregister");
    connection.send({ messageType: "unregister", channelID: register.channelID, status: 500 });
    expect(await result).toBe(false);
    expect(await service.getSubscription(SCOPE)).toBeNull();
  });
});

describe("delivery", () => {
  it.each(["aes128gcm", "aesgcm"] as const)(
    "decrypts an %s push and acks 100 only after the observer settles",
    async (encoding) => {
      const { service, connection } = await connected();
      const { subscription, register } = await subscribe(service, connection);
      let finish!: () => void;
      const seen: string[] = [];
      service.observe("push-message", async (event) => {
        seen.push(event.data!.text());
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
      });
      connection.send(
        notification(register.channelID, "msg-1", encrypt(subscription, "hello push", encoding)),
      );
      await expect.poll(() => seen).toEqual(["hello push"]);
      expect(connection.received.some((t) => t.includes('"ack"'))).toBe(false);
      finish();
      const ack = await connection.nextOfType("ack");
      expect(ack).toEqual({
        messageType: "ack",
        updates: [{ channelID: register.channelID, version: "msg-1", code: 100 }],
      });
    },
  );

  it("delivers a push without data as data: null", async () => {
    const { service, connection } = await connected();
    const { register } = await subscribe(service, connection);
    const messages = collect(service, "push-message");
    connection.send(notification(register.channelID, "empty"));
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "empty", code: 100 },
    ]);
    expect(messages[0]).toMatchObject({ scope: SCOPE, messageId: "empty", data: null });
  });

  it("acks 102 for an unknown channel and delivers nothing", async () => {
    const { service, connection } = await connected();
    const messages = collect(service, "push-message");
    connection.send(notification("4d1bd1a5-9a6b-4c8e-8f4e-1c2d3e4f5a6b", "m"));
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: "4d1bd1a5-9a6b-4c8e-8f4e-1c2d3e4f5a6b", version: "m", code: 102 },
    ]);
    expect(messages).toEqual([]);
  });

  it("lets the next message reach the app while the previous write is on its way, and acks each only after its write", async () => {
    // A store whose record updates wait until released: the write of m1 is "on the disk".
    const db = openMemoryPushDB();
    const held: (() => void)[] = [];
    let holdWrites = false;
    const update = db.update.bind(db);
    db.update = async (channelID, fn) => {
      if (holdWrites) await new Promise<void>((resolve) => held.push(resolve));
      return update(channelID, fn);
    };
    const { service, connection } = await connected({ db });
    const { register } = await subscribe(service, connection);
    const messages: string[] = [];
    service.observe("push-message", (event) => void messages.push(event.messageId));
    holdWrites = true;
    connection.send(notification(register.channelID, "m1"));
    connection.send(notification(register.channelID, "m2"));
    // Both reach the app, in order, although m1's write has not returned.
    await expect.poll(() => messages).toEqual(["m1", "m2"]);
    await expect.poll(() => held.length).toBe(2);
    // No ack yet: the probe's ack (unknown channel, 102) is the first one out.
    const probe = "0c9a2f4b-8e6d-4c1a-a3b2-f1e0d9c8b7a6";
    connection.send(notification(probe, "probe"));
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: probe, version: "probe", code: 102 },
    ]);
    held.shift()!();
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "m1", code: 100 },
    ]);
    held.shift()!();
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "m2", code: 100 },
    ]);
  });

  it("drops duplicates (ack 102); a copy arriving while the first is handled waits for its ack", async () => {
    const { service, connection, indexedDB } = await connected();
    const { register } = await subscribe(service, connection);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const messages: string[] = [];
    service.observe("push-message", async (event) => {
      messages.push(event.messageId);
      await gate;
    });
    connection.send(notification(register.channelID, "dup"));
    await expect.poll(() => messages.length).toBe(1);
    connection.send(notification(register.channelID, "dup"));
    // Any ack makes the server forget the message, so the copy is not acked while the app holds
    // the first one: the next ack out is the probe's.
    const probe = "0c9a2f4b-8e6d-4c1a-a3b2-f1e0d9c8b7a6";
    connection.send(notification(probe, "probe"));
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: probe, version: "probe", code: 102 },
    ]);
    release();
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "dup", code: 100 },
    ]);
    connection.send(notification(register.channelID, "dup"));
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "dup", code: 102 },
    ]);
    expect(messages).toEqual(["dup"]);

    // The id is in the store, so the dedupe survives a restart.
    await service.stop();
    const second = track(newService(server.url, { indexedDB }));
    second.service.observe("push-message", (event) => void messages.push(event.messageId));
    await second.service.start();
    const next = await server.nextConnection();
    await next.acceptHello();
    next.send(notification(register.channelID, "dup"));
    expect((await next.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "dup", code: 102 },
    ]);
    expect(messages).toEqual(["dup"]);
  });

  it("keeps only maxRecentMessageIDs ids for dedupe", async () => {
    const { service, connection } = await connected({ maxRecentMessageIDs: 2 });
    const { register } = await subscribe(service, connection);
    const messages = collect(service, "push-message");
    for (const id of ["a", "b", "c", "a"]) {
      connection.send(notification(register.channelID, id));
      await connection.nextOfType("ack");
    }
    expect(messages.map((m) => m.messageId)).toEqual(["a", "b", "c", "a"]);
  });

  it("acks 101 and fires decrypt-error when the payload cannot be decrypted", async () => {
    const { service, connection } = await connected();
    const { subscription, register } = await subscribe(service, connection);
    const messages = collect(service, "push-message");
    const errors = collect(service, "decrypt-error");
    const push = encrypt(subscription, "secret", "aes128gcm");
    const tampered = Buffer.from(push.data, "base64url");
    tampered[tampered.length - 1]! ^= 1;
    connection.send(
      notification(register.channelID, "bad", { ...push, data: tampered.toString("base64url") }),
    );
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "bad", code: 101 },
    ]);
    connection.send(
      notification(register.channelID, "bad2", { data: "AAAA", headers: { encoding: "nope" } }),
    );
    expect((await connection.nextOfType("ack")).updates).toEqual([
      { channelID: register.channelID, version: "bad2", code: 101 },
    ]);
    expect(messages).toEqual([]);
    expect(errors.map((e) => [e.scope, e.messageId, e.error.name])).toEqual([
      [SCOPE, "bad", "DecryptError"],
      [SCOPE, "bad2", "DecryptError"],
    ]);
  });

  it("nacks 301 for an observer that throws and 302 for one that rejects, and keeps delivering", async () => {
    const logger = captureLogger();
    const { service, connection } = await connected({ logger });
    const { register } = await subscribe(service, connection);
    const good: string[] = [];
    const disposeThrow = service.observe("push-message", () => {
      throw new Error("boom");
    });
    service.observe("push-message", (event) => void good.push(event.messageId));
    connection.send(notification(register.channelID, "t1"));
    expect(await connection.next()).toEqual({ messageType: "nack", version: "t1", code: 301 });
    expect((await connection.next()).updates).toEqual([
      { channelID: register.channelID, version: "t1", code: 100 },
    ]);
    disposeThrow();
    const disposeReject = service.observe("push-message", async () => {
      throw new Error("async boom");
    });
    connection.send(notification(register.channelID, "t2"));
    expect(await connection.next()).toEqual({ messageType: "nack", version: "t2", code: 302 });
    expect((await connection.next()).updates).toEqual([
      { channelID: register.channelID, version: "t2", code: 100 },
    ]);
    disposeReject();
    connection.send(notification(register.channelID, "t3"));
    expect((await connection.next()).updates).toEqual([
      { channelID: register.channelID, version: "t3", code: 100 },
    ]);
    expect(good).toEqual(["t1", "t2", "t3"]);
    expect(logger.text()).toContain("boom");
  });

  it("holds messages, unacked, until the app observes push-message", async () => {
    const { service, connection } = await connected();
    const { register } = await subscribe(service, connection);
    connection.send(notification(register.channelID, "early"));
    connection.send(notification(register.channelID, "early2"));
    // A round trip proves the client has read both frames without acking them.
    const pending = service.subscribe({ scope: "https://second.example/" });
    await connection.acceptRegister();
    await pending;
    expect(connection.received.some((t) => t.includes('"ack"'))).toBe(false);
    const received = await nextEvent<PushEventMap["push-message"]>((fn) =>
      service.observe("push-message", fn),
    );
    expect(received.messageId).toBe("early");
    expect((await connection.nextOfType("ack")).updates).toMatchObject([{ version: "early", code: 100 }]);
    expect((await connection.nextOfType("ack")).updates).toMatchObject([{ version: "early2", code: 100 }]);
  });

  it("delivers one channel's messages to the app in arrival order", async () => {
    const { service, connection } = await connected();
    const { subscription, register } = await subscribe(service, connection);
    const order: string[] = [];
    service.observe("push-message", (event) => void order.push(event.data?.text() ?? "-"));
    const ids = Array.from({ length: 20 }, (_, i) => String(i));
    for (const id of ids) {
      connection.send(
        notification(register.channelID, id, id === "3" ? {} : encrypt(subscription, id, "aes128gcm")),
      );
    }
    for (const _ of ids) await connection.nextOfType("ack");
    expect(order).toEqual(ids.map((id) => (id === "3" ? "-" : id)));
  });
});

describe("lifecycle", () => {
  it("rejects start() with one sentence naming both store options when no store exists", async () => {
    const { PushService } = await import("../../src/service/push-service.ts");
    vi.stubGlobal("indexedDB", undefined);
    try {
      const service = new PushService({ serverURL: server.url, logger: captureLogger() });
      await expect(service.start()).rejects.toThrow(/`db`.*`indexedDB`/);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("refuses ws:// to a non-loopback host unless allowInsecureServerURL", async () => {
    const { PushService } = await import("../../src/service/push-service.ts");
    expect(() => new PushService({ serverURL: "ws://push.example.com/" })).toThrow(/allowInsecureServerURL/);
    expect(() => new PushService({ serverURL: "http://push.example.com/" })).toThrow(TypeError);
    expect(
      () => new PushService({ serverURL: "ws://push.example.com/", allowInsecureServerURL: true }),
    ).not.toThrow();
    expect(() => new PushService({ serverURL: "ws://127.0.0.1:9/" })).not.toThrow();
    expect(() => new PushService({ serverURL: "ws://[::1]:9/" })).not.toThrow();
  });

  it("requires start() before subscribing", async () => {
    const { service } = track(newService(server.url));
    await expect(service.subscribe({ scope: SCOPE })).rejects.toMatchObject({ name: "InvalidStateError" });
  });

  it("keeps subscriptions and keys across a restart with the same store", async () => {
    const { service, connection, indexedDB } = await connected();
    const { subscription, register } = await subscribe(service, connection);
    await service.stop();
    expect(service.state).toBe("ShutDown");

    const second = track(newService(server.url, { indexedDB }));
    await second.service.start();
    const next = await server.nextConnection();
    await next.acceptHello();
    await second.service.ready();
    const restored = await second.service.getSubscription(SCOPE);
    expect(restored?.toJSON()).toEqual(subscription.toJSON());
    const messages = collect(second.service, "push-message");
    next.send(
      notification(register.channelID, "after-restart", encrypt(subscription, "still here", "aes128gcm")),
    );
    await next.nextOfType("ack");
    expect(messages[0]!.data!.text()).toBe("still here");
  });

  it("keeps uaid, subscriptions, keys and seen message ids across a restart with the durable Level store", async () => {
    const dir = await mkdtemp(join(tmpdir(), "push-agent-level-"));
    try {
      const db = await openLevelPushDB(join(dir, "db"));
      const { service, connection } = await connected({ db });
      const { subscription, register } = await subscribe(service, connection);
      service.observe("push-message", () => {});
      connection.send(notification(register.channelID, "seen-before"));
      await connection.nextOfType("ack");
      await service.stop();
      await db.close();

      const reopened = await openLevelPushDB(join(dir, "db"));
      const second = track(newService(server.url, { db: reopened }));
      const messages = collect(second.service, "push-message");
      await second.service.start();
      const next = await server.nextConnection();
      expect((await next.acceptHello()).uaid).toBe(UAID);
      await second.service.ready();
      expect((await second.service.getSubscription(SCOPE))?.toJSON()).toEqual(subscription.toJSON());
      next.send(notification(register.channelID, "seen-before"));
      expect((await next.nextOfType("ack")).updates).toMatchObject([{ code: 102 }]);
      next.send(notification(register.channelID, "new", encrypt(subscription, "durable", "aesgcm")));
      expect((await next.nextOfType("ack")).updates).toMatchObject([{ code: 100 }]);
      expect(messages.map((m) => m.data?.text())).toEqual(["durable"]);
      await second.service.stop();
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("pushManager(scope) has the W3C shape", async () => {
    const { service, connection } = await connected();
    const manager = service.pushManager(SCOPE);
    expect(await manager.getSubscription()).toBeNull();
    const pending = manager.subscribe({ userVisibleOnly: true });
    await connection.acceptRegister();
    const subscription = await pending;
    expect((await manager.getSubscription())?.endpoint).toBe(subscription.endpoint);
    expect(await manager.permissionState({ userVisibleOnly: true })).toBe("granted");
  });

  it("carries stored broadcast versions in hello and calls listeners with phase hello", async () => {
    const { service, connection, indexedDB } = await connected();
    const calls: unknown[] = [];
    await service.addBroadcastListener("remote-settings/monitor_changes", "v1", (version, id, context) => {
      calls.push([version, id, context.phase]);
    });
    expect(await connection.nextOfType("broadcast_subscribe")).toEqual({
      messageType: "broadcast_subscribe",
      broadcasts: { "remote-settings/monitor_changes": "v1" },
    });
    await service.stop();
    const second = track(newService(server.url, { indexedDB }));
    await second.service.start();
    await second.service.addBroadcastListener(
      "remote-settings/monitor_changes",
      "v0",
      (version, id, context) => {
        calls.push([version, id, context.phase]);
      },
    );
    const next = await server.nextConnection();
    const hello = await next.acceptHello(UAID, { broadcasts: { "remote-settings/monitor_changes": "v2" } });
    expect(hello.broadcasts).toEqual({ "remote-settings/monitor_changes": "v1" });
    await expect.poll(() => calls).toEqual([["v2", "remote-settings/monitor_changes", "hello"]]);
  });

  it("sends listeners added before start() in the first hello, persists them, and hands the reply phase hello", async () => {
    const { service, indexedDB } = track(newService(server.url));
    const calls: unknown[] = [];
    await service.addBroadcastListener("remote-settings/monitor_changes", "v1", (version, id, context) => {
      calls.push([version, id, context.phase]);
    });
    await service.start();
    const connection = await server.nextConnection();
    const hello = await connection.acceptHello(UAID, {
      broadcasts: { "remote-settings/monitor_changes": "v2" },
    });
    expect(hello.broadcasts).toEqual({ "remote-settings/monitor_changes": "v1" });
    await expect.poll(() => calls).toEqual([["v2", "remote-settings/monitor_changes", "hello"]]);
    // No broadcast_subscribe follows: the next frame the client sends is the register we ask for.
    const pending = service.subscribe({ scope: SCOPE });
    const register = await connection.next();
    expect(register.messageType).toBe("register");
    connection.send({
      messageType: "register",
      channelID: register.channelID,
      status: 200,
      pushEndpoint: "https://push.example/wpush/v1/x",
    });
    await pending;
    await service.stop();
    // The delivered version was stored: a later service (no listener re-added) says it has v2.
    const second = track(newService(server.url, { indexedDB }));
    await second.service.start();
    const next = await server.nextConnection();
    expect((await next.acceptHello(UAID)).broadcasts).toEqual({ "remote-settings/monitor_changes": "v2" });
  });

  it("carries listeners added while start() is opening the store, and persists them", async () => {
    const { service, indexedDB } = track(newService(server.url));
    const starting = service.start();
    const added = ["a", "b", "c"].map((id) => service.addBroadcastListener(id, `${id}1`, () => {}));
    await Promise.all([starting, ...added]);
    const connection = await server.nextConnection();
    expect((await connection.acceptHello(UAID)).broadcasts).toEqual({ a: "a1", b: "b1", c: "c1" });
    await service.stop();
    const second = track(newService(server.url, { indexedDB }));
    await second.service.start();
    const next = await server.nextConnection();
    expect((await next.acceptHello(UAID)).broadcasts).toEqual({ a: "a1", b: "b1", c: "c1" });
  });

  it("puts a listener added while connecting into the hello, and one added after the hello in a broadcast_subscribe (phase register)", async () => {
    const { service } = track(newService(server.url));
    const phases: unknown[] = [];
    await service.start();
    expect(service.state).toBe("WaitingForWebSocket");
    await service.addBroadcastListener("early", "e1", (version, _id, { phase }) =>
      phases.push(["early", version, phase]),
    );
    const connection = await server.nextConnection();
    const hello = await connection.next();
    expect(hello).toMatchObject({ messageType: "hello", broadcasts: { early: "e1" } });
    expect(service.state).toBe("WaitingForHello");
    await service.addBroadcastListener("late", "l1", (version, _id, { phase }) =>
      phases.push(["late", version, phase]),
    );
    connection.send({
      messageType: "hello",
      uaid: UAID,
      status: 200,
      use_webpush: true,
      broadcasts: { early: "e2" },
    });
    expect(await connection.next()).toEqual({
      messageType: "broadcast_subscribe",
      broadcasts: { late: "l1" },
    });
    connection.send({ messageType: "broadcast", broadcasts: { late: "l2" } });
    await expect
      .poll(() => phases)
      .toEqual([
        ["early", "e2", "hello"],
        ["late", "l2", "register"],
      ]);
    connection.send({ messageType: "broadcast", broadcasts: { late: "l3" } });
    await expect.poll(() => phases.at(-1)).toEqual(["late", "l3", "broadcast"]);
  });
});
