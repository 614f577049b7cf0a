import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PushEventMap } from "../../src/observers.ts";
import type { PushService } from "../../src/service/push-service.ts";
import { type ScriptedConnection, ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const SCOPE = "https://chat.example/";

let server: ScriptedServer;
const services: PushService[] = [];

beforeEach(async () => {
  server = await ScriptedServer.start();
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
  await server.close();
});

/** A service connected to a server whose hello reply has no use_webpush: SimplePush mode. */
async function simplePush(options: Parameters<typeof newService>[1] = {}) {
  const created = newService(server.url, options);
  services.push(created.service);
  await created.service.start();
  const connection = await server.nextConnection();
  await connection.acceptHello(UAID, { use_webpush: undefined });
  await created.service.ready();
  const pending = created.service.subscribe({ scope: SCOPE });
  const register = await connection.acceptRegister();
  const subscription = await pending;
  return { ...created, connection, channelID: String(register.channelID), subscription };
}

function collect(service: PushService): PushEventMap["push-message"][] {
  const events: PushEventMap["push-message"][] = [];
  service.observe("push-message", (event) => void events.push(event));
  return events;
}

async function nextAck(connection: ScriptedConnection) {
  return (await connection.nextOfType("ack")).updates;
}

describe("SimplePush mode", () => {
  it("registers without keys and delivers version bumps as data-less pushes, each acked on its own", async () => {
    const { service, connection, channelID, subscription } = await simplePush();
    expect(subscription.getKey("p256dh")).toBeNull();
    const messages = collect(service);
    connection.send({ messageType: "notification", updates: [{ channelID, version: 5 }] });
    expect(await nextAck(connection)).toEqual([{ channelID, version: 5, code: 100 }]);
    expect(messages[0]).toMatchObject({ scope: SCOPE, data: null, version: 5, messageId: "5" });
    expect((await service.getSubscription(SCOPE))?.version).toBe(5);

    connection.send({
      messageType: "notification",
      updates: [
        { channelID, version: "7" },
        { channelID, version: 6 },
      ],
    });
    const acks = [await nextAck(connection), await nextAck(connection)];
    expect(acks).toEqual([[{ channelID, version: 7, code: 100 }], [{ channelID, version: 6, code: 102 }]]);
    expect(messages.map((m) => m.version)).toEqual([5, 7]);
  });

  it("acks 102 for a version that is not newer, and skips bad entries without an ack", async () => {
    const { service, connection, channelID } = await simplePush();
    const messages = collect(service);
    connection.send({ messageType: "notification", updates: [{ channelID, version: 3 }] });
    await nextAck(connection);
    connection.send({
      messageType: "notification",
      updates: [
        { channelID, version: -1 },
        { channelID, version: "abc" },
        { channelID },
        { channelID: 42, version: 9 },
        { channelID, version: 3 },
      ],
    });
    expect(await nextAck(connection)).toEqual([{ channelID, version: 3, code: 102 }]);
    connection.send({ messageType: "notification", updates: [{ channelID, version: 4 }] });
    expect(await nextAck(connection)).toEqual([{ channelID, version: 4, code: 100 }]);
    expect(connection.received.filter((t) => t.includes('"ack"'))).toHaveLength(3);
    expect(messages.map((m) => m.version)).toEqual([3, 4]);
  });

  it("ignores Web Push notifications while in SimplePush mode", async () => {
    const { service, connection, channelID } = await simplePush();
    const messages = collect(service);
    connection.send({ messageType: "notification", channelID, version: "opaque" });
    connection.send({ messageType: "notification", updates: [{ channelID, version: 1 }] });
    expect(await nextAck(connection)).toEqual([{ channelID, version: 1, code: 100 }]);
    expect(messages).toHaveLength(1);
  });

  it("back-fills keys with push-subscription-change when the server switches to Web Push", async () => {
    const { service, indexedDB, channelID } = await simplePush();
    await service.stop();
    const next = newService(server.url, { indexedDB });
    services.push(next.service);
    const changes: PushEventMap["push-subscription-change"][] = [];
    next.service.observe("push-subscription-change", (event) => void changes.push(event));
    await next.service.start();
    const connection = await server.nextConnection();
    await connection.acceptHello(UAID);
    await next.service.ready();
    expect(changes.map((c) => c.scope)).toEqual([SCOPE]);
    const upgraded = await next.service.getSubscription(SCOPE);
    expect(upgraded?.getKey("p256dh")?.byteLength).toBe(65);
    expect(upgraded?.getKey("auth")?.byteLength).toBe(16);
    expect(upgraded?.endpoint).toContain(channelID);
  });
});
