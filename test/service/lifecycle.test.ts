import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { PushRecord } from "../../src/db/push-db.ts";
import type { PushEventMap } from "../../src/observers.ts";
import { clearMatcher, quotaAfterVisit } from "../../src/service/lifecycle.ts";
import type { PushService, PushServiceOptions } from "../../src/service/push-service.ts";
import { type Frame, type ScriptedConnection, ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";

const DAY = 86_400_000;
const SCOPE = "https://app.example/";

let server: ScriptedServer;
const services: PushService[] = [];

beforeEach(async () => {
  server = await ScriptedServer.start();
});

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(services.splice(0).map((s) => s.stop()));
  await server.close();
});

async function connected(options: PushServiceOptions = {}) {
  const created = newService(server.url, options);
  services.push(created.service);
  await created.service.start();
  const connection = await server.nextConnection();
  await connection.acceptHello();
  await created.service.ready();
  return { ...created, connection };
}

async function subscribe(service: PushService, connection: ScriptedConnection, scope = SCOPE) {
  const pending = service.subscribe({ scope });
  const register = await connection.acceptRegister();
  await pending;
  return String(register.channelID);
}

function collect<T extends keyof PushEventMap>(service: PushService, topic: T): PushEventMap[T][] {
  const events: PushEventMap[T][] = [];
  service.observe(topic, (event) => void events.push(event));
  return events;
}

const push = (channelID: string, version: string): Frame => ({
  messageType: "notification",
  channelID,
  version,
});

async function ackCode(connection: ScriptedConnection): Promise<unknown> {
  const ack = await connection.nextOfType("ack");
  return (ack.updates as { code: number }[])[0]!.code;
}

describe("quota math", () => {
  it("follows min(round(8 × days^-0.8), 16)", () => {
    const now = 100 * DAY;
    expect(quotaAfterVisit(now, now)).toBe(16);
    expect(quotaAfterVisit(now - 0.4 * DAY, now)).toBe(16);
    expect(quotaAfterVisit(now - DAY, now)).toBe(8);
    expect(quotaAfterVisit(now - 2 * DAY, now)).toBe(5);
    expect(quotaAfterVisit(now - 3 * DAY, now)).toBe(3);
    expect(quotaAfterVisit(now - 7 * DAY, now)).toBe(2);
    expect(quotaAfterVisit(now - 14 * DAY, now)).toBe(1);
    expect(quotaAfterVisit(now - 40 * DAY, now)).toBe(0);
    expect(quotaAfterVisit(now + DAY, now)).toBe(16);
  });
});

describe("clear patterns", () => {
  const record = (scope: string) => ({ scope }) as PushRecord;
  it("matches a scope prefix, an exact origin, or a site with its subdomains", () => {
    const scopes = [
      "https://example.com/app/",
      "https://a.example.com/",
      "http://example.com:8080/",
      "https://notexample.com/",
      "https://example.org/",
      "app:local",
    ];
    const matching = (pattern: Parameters<typeof clearMatcher>[0]) =>
      scopes.filter((scope) => clearMatcher(pattern)(record(scope)));
    expect(matching({ scope: "https://example.com/" })).toEqual(["https://example.com/app/"]);
    expect(matching({ origin: "https://example.com" })).toEqual(["https://example.com/app/"]);
    expect(matching({ site: "example.com" })).toEqual([
      "https://example.com/app/",
      "https://a.example.com/",
      "http://example.com:8080/",
    ]);
    expect(matching({})).toEqual(scopes);
  });
});

describe("permissions", () => {
  it("does not deliver without permission and acks 102", async () => {
    const allowed = new Set<string>();
    const { service, connection } = await connected({ hasPermission: (scope) => allowed.has(scope) });
    const channelID = await subscribe(service, connection);
    const messages = collect(service, "push-message");
    connection.send(push(channelID, "m1"));
    expect(await ackCode(connection)).toBe(102);
    expect(await service.pushManager(SCOPE).permissionState()).toBe("denied");
    allowed.add(SCOPE);
    connection.send(push(channelID, "m2"));
    expect(await ackCode(connection)).toBe(100);
    expect(messages.map((m) => m.messageId)).toEqual(["m2"]);
    expect(await service.pushManager(SCOPE).permissionState()).toBe("granted");
  });

  it("revoking unregisters with 202 and expires; granting drops the expired with a change event", async () => {
    let permission = true;
    const { service, connection } = await connected({ hasPermission: () => permission });
    const channelID = await subscribe(service, connection);
    const other = await subscribe(service, connection, "https://other.example/");
    const changes = collect(service, "push-subscription-change");
    const messages = collect(service, "push-message");

    permission = false;
    await service.permissionChanged("https://app.example", "denied");
    expect(await connection.nextOfType("unregister")).toEqual({
      channelID,
      messageType: "unregister",
      code: 202,
    });
    connection.send({ messageType: "unregister", channelID, status: 200 });
    expect(await service.getSubscription(SCOPE)).toBeNull();
    expect((await service.subscriptions()).map((s) => s.scope)).toEqual(["https://other.example/"]);
    connection.send(push(channelID, "after-revoke"));
    expect(await ackCode(connection)).toBe(102);

    permission = true;
    await service.permissionChanged("https://app.example", "granted");
    expect(changes.map((c) => c.scope)).toEqual([SCOPE]);
    const pending = service.subscribe({ scope: SCOPE });
    const again = await connection.acceptRegister();
    await pending;
    expect(again.channelID).not.toBe(channelID);
    expect((await service.subscriptions()).map((s) => s.scope).sort()).toEqual([
      "https://app.example/",
      "https://other.example/",
    ]);
    expect(other).not.toBe(channelID);
    expect(messages).toEqual([]);
  });

  it("rejects an unknown permission state with a TypeError", async () => {
    const { service } = await connected();
    await expect(service.permissionChanged(SCOPE, "maybe" as "granted")).rejects.toThrow(TypeError);
  });
});

describe("quota", () => {
  it("acks 102 for a never-visited scope", async () => {
    const { service, connection } = await connected({ quota: { lastVisit: () => Number.NEGATIVE_INFINITY } });
    const channelID = await subscribe(service, connection);
    const messages = collect(service, "push-message");
    connection.send(push(channelID, "m"));
    expect(await ackCode(connection)).toBe(102);
    expect(messages).toEqual([]);
  });

  it("charges a push after quotaUpdateDelay, expires at 0 with unregister 201, and no visible notification is spared", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const lastVisit = Date.now() - 20 * DAY; // quota after the first push: round(8 × 20^-0.8) = 1
    const { service, connection } = await connected({ quota: { lastVisit: () => lastVisit } });
    const channelID = await subscribe(service, connection);
    const messages = collect(service, "push-message");

    service.notificationShown("https://app.example/some/page");
    connection.send(push(channelID, "shown"));
    expect(await ackCode(connection)).toBe(100);
    await vi.advanceTimersByTimeAsync(3_000);
    service.notificationClosed(SCOPE);

    connection.send(push(channelID, "charged"));
    expect(await ackCode(connection)).toBe(100);
    await vi.advanceTimersByTimeAsync(2_999);
    expect(connection.received.some((t) => t.includes('"unregister"'))).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await connection.nextOfType("unregister")).toEqual({
      channelID,
      messageType: "unregister",
      code: 201,
    });

    connection.send(push(channelID, "over-quota"));
    expect(await ackCode(connection)).toBe(102);
    expect(messages.map((m) => m.messageId)).toEqual(["shown", "charged"]);
    expect(await service.getSubscription(SCOPE)).toBeNull();
  });

  it("drops an expired subscription once the site is visited again", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let lastVisit = Date.now() - 20 * DAY;
    const { service, connection } = await connected({ quota: { lastVisit: () => lastVisit } });
    const channelID = await subscribe(service, connection);
    collect(service, "push-message");
    const changes = collect(service, "push-subscription-change");
    connection.send(push(channelID, "m"));
    await ackCode(connection);
    await vi.advanceTimersByTimeAsync(3_000);
    await connection.nextOfType("unregister");

    await service.dropExpired();
    expect(changes).toEqual([]);
    lastVisit = Date.now() + 1;
    await service.dropExpired();
    expect(changes.map((c) => c.scope)).toEqual([SCOPE]);
    expect(await service.subscriptions()).toEqual([]);
  });
});

describe("clearing site data", () => {
  it("forgets matching subscriptions, unregisters active ones with 200, and tells the app", async () => {
    const { service, connection } = await connected();
    const a = await subscribe(service, connection, "https://example.com/");
    const b = await subscribe(service, connection, "https://news.example.com/feed/");
    await subscribe(service, connection, "https://example.org/");
    const changes = collect(service, "push-subscription-change");
    const modified = collect(service, "push-subscription-modified");

    await service.clear({ site: "example.com" });
    const unregisters = [
      await connection.nextOfType("unregister"),
      await connection.nextOfType("unregister"),
    ];
    expect(unregisters.map((f) => [f.channelID, f.code]).sort()).toEqual(
      [
        [a, 200],
        [b, 200],
      ].sort(),
    );
    expect(changes.map((c) => c.scope).sort()).toEqual([
      "https://example.com/",
      "https://news.example.com/feed/",
    ]);
    expect(modified).toHaveLength(2);
    expect((await service.subscriptions()).map((s) => s.scope)).toEqual(["https://example.org/"]);

    await service.clear();
    expect(await service.subscriptions()).toEqual([]);
  });

  it("fires no change event for a scope without permission", async () => {
    const { service, connection } = await connected({ hasPermission: (scope) => scope !== SCOPE });
    await subscribe(service, connection);
    const changes = collect(service, "push-subscription-change");
    await service.clear({ origin: "https://app.example" });
    expect(changes).toEqual([]);
    expect(await service.getSubscription(SCOPE)).toBeNull();
  });
});

describe("broadcasts", () => {
  it("subscribes while Ready, then calls the listener with phase register, then broadcast", async () => {
    const { service, connection, logger } = await connected();
    const calls: unknown[] = [];
    await service.addBroadcastListener(
      "kinto:123",
      "v1",
      (version, id, { phase }) => void calls.push([version, id, phase]),
    );
    expect(await connection.nextOfType("broadcast_subscribe")).toEqual({
      messageType: "broadcast_subscribe",
      broadcasts: { "kinto:123": "v1" },
    });
    connection.send({
      messageType: "broadcast",
      broadcasts: { "kinto:123": "v2", errors: { "kinto:999": "Broadcast not found" } },
    });
    connection.send({
      messageType: "broadcast",
      broadcasts: { "kinto:123": "____NOP____", "unknown:id": "1" },
    });
    connection.send({ messageType: "broadcast", broadcasts: { "kinto:123": "v3" } });
    await expect
      .poll(() => calls)
      .toEqual([
        ["v2", "kinto:123", "register"],
        ["v3", "kinto:123", "broadcast"],
      ]);
    expect(logger.text()).toContain("Broadcast not found");
    expect(logger.text()).toContain("unknown id unknown:id");
  });

  it("rejects bad arguments with a clear TypeError", async () => {
    const { service } = await connected();
    await expect(service.addBroadcastListener("id", "", () => {})).rejects.toThrow(/empty string/);
    await expect(service.addBroadcastListener(42 as unknown as string, "v", () => {})).rejects.toThrow(
      TypeError,
    );
    await expect(service.addBroadcastListener("id", 1 as unknown as string, () => {})).rejects.toThrow(
      TypeError,
    );
  });
});
