/**
 * Delivery and storage semantics: direct vs stored, TTL 0 and expiry, topic replacement and
 * priority, batches of 10 gated on acks, whole-batch redelivery, unacked direct messages saved
 * on disconnect, the check-storage nudge and the msgLimit uaid reset.
 */

import { createECDH } from "node:crypto";
import * as ece from "http_ece";
import { describe, expect, it } from "vitest";
import {
  connectHello,
  type Frame,
  messageIdOf,
  push,
  startServer,
  subscriptionKeys,
  TestClient,
  vapidKeys,
  webPush,
} from "./helpers.ts";

/** A registered uaid with one channel, disconnected so pushes are stored. */
async function offlineSubscription(options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  const { client, uaid } = await connectHello(server);
  const { channelID, endpoint } = await client.subscribe();
  await client.close();
  return { server, uaid, channelID, endpoint };
}

async function pushMany(endpoint: string, count: number, prefix = "m"): Promise<string[]> {
  const versions: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await push(endpoint, { body: `${prefix}${i}` });
    expect(response.status).toBe(201);
    versions.push(messageIdOf(response));
  }
  return versions;
}

const bodyOf = (frame: Frame) => Buffer.from(frame.data as string, "base64url").toString();

describe("direct delivery", () => {
  it("hands web-push's encrypted payload to the connected UA byte for byte", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    const keys = subscriptionKeys();
    const { response } = await webPush(endpoint, { payload: "secret message", keys, vapid: vapidKeys() });
    expect(response.status).toBe(201);
    const frame = await client.next();
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(keys.ecdh.getPrivateKey());
    const plain = ece.decrypt(Buffer.from(frame.data as string, "base64url"), {
      version: "aes128gcm",
      privateKey: ecdh,
      authSecret: keys.auth,
    });
    expect(plain.toString()).toBe("secret message");
    expect(server.stats()).toMatchObject({ pushes: 1, direct: 1, stored: 0 });
  });

  it("delivers TTL 0 to a connected UA, and drops it (still 201) when offline", async () => {
    const { server, uaid, endpoint } = await offlineSubscription();
    const offline = await push(endpoint, { ttl: 0 });
    expect(offline.status).toBe(201);
    expect(offline.headers.get("ttl")).toBe("0");
    expect(server.stats()).toMatchObject({ dropped: 1, storedMessages: 0 });
    const { client } = await connectHello(server, uaid);
    await client.barrier();
    expect((await push(endpoint, { ttl: 0 })).status).toBe(201);
    expect((await client.next()).messageType).toBe("notification");
    // TTL 0 is not tracked, so it is not saved when the UA leaves without acking.
    await client.close();
    expect(server.stats().storedMessages).toBe(0);
  });

  it("stores unacked direct messages when the connection drops and redelivers them", async () => {
    const server = await startServer();
    const { client, uaid } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await push(endpoint, { body: "acked" });
    await push(endpoint, { body: "unacked" });
    const [acked, unacked] = await client.notifications(2);
    client.ack([acked!]);
    await client.barrier();
    await client.close();
    expect(server.stats().storedMessages).toBe(1);
    const { client: again } = await connectHello(server, uaid);
    const frame = await again.next();
    expect(frame.version).toBe(unacked!.version);
    expect(bodyOf(frame)).toBe("unacked");
    await again.barrier();
  });

  it("does not gate direct delivery on unacked messages", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await pushMany(endpoint, 3);
    expect((await client.notifications(3)).map(bodyOf)).toEqual(["m0", "m1", "m2"]);
  });
});

describe("storage", () => {
  it("delivers stored messages right after the hello reply, oldest first", async () => {
    const { server, uaid, channelID, endpoint } = await offlineSubscription();
    const versions = await pushMany(endpoint, 3);
    expect(server.stats().storedMessages).toBe(3);
    const { client } = await connectHello(server, uaid);
    const frames = await client.notifications(3);
    expect(frames.map((f) => f.version)).toEqual(versions);
    expect(frames.map(bodyOf)).toEqual(["m0", "m1", "m2"]);
    expect(frames.every((f) => f.channelID === channelID)).toBe(true);
  });

  it("replaces an unread topic message with the newer one and sends topic messages first", async () => {
    const { server, uaid, endpoint } = await offlineSubscription();
    await push(endpoint, { body: "plain" });
    await push(endpoint, { body: "old", headers: { Topic: "scores" } });
    const newer = await push(endpoint, { body: "new", headers: { Topic: "scores" } });
    expect(server.stats().storedMessages).toBe(2);
    const { client } = await connectHello(server, uaid);
    const topical = await client.next();
    expect(bodyOf(topical)).toBe("new");
    expect(topical.version).toBe(messageIdOf(newer));
    // The timestamp batch waits for the topic ack.
    await client.barrier();
    client.ack([topical]);
    expect(bodyOf(await client.next())).toBe("plain");
    expect(server.stats().storedMessages).toBe(1);
  });

  it("does not let a topic affect direct delivery", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await push(endpoint, { body: "a", headers: { Topic: "t" } });
    await push(endpoint, { body: "b", headers: { Topic: "t" } });
    expect((await client.notifications(2)).map(bodyOf)).toEqual(["a", "b"]);
  });

  it("skips expired messages", async () => {
    let clock = Date.now();
    const { server, uaid, endpoint } = await offlineSubscription({ now: () => clock });
    await push(endpoint, { body: "short", ttl: 10 });
    await push(endpoint, { body: "short topic", ttl: 10, headers: { Topic: "t" } });
    await push(endpoint, { body: "long", ttl: 100 });
    clock += 11_000;
    const { client } = await connectHello(server, uaid);
    const frame = await client.next();
    expect(bodyOf(frame)).toBe("long");
    await client.barrier();
    client.ack([frame]);
    await client.barrier();
    expect(server.stats().storedMessages).toBe(0);
  });

  it("sends batches of 10 and the next one only after every outstanding message is acked", async () => {
    const { server, uaid, endpoint } = await offlineSubscription();
    const versions = await pushMany(endpoint, 25);
    const { client } = await connectHello(server, uaid);
    const first = await client.notifications(10);
    expect(first.map((f) => f.version)).toEqual(versions.slice(0, 10));
    await client.barrier();

    // A direct message arrives while the batch is out; it must be acked too.
    await push(endpoint, { body: "direct" });
    const direct = await client.next();
    expect(bodyOf(direct)).toBe("direct");
    // TTL 0 messages are not tracked, so this one never needs an ack.
    await push(endpoint, { body: "volatile", ttl: 0 });
    expect(bodyOf(await client.next())).toBe("volatile");
    client.ack(first.slice(0, 9));
    await client.barrier();
    client.ack([first[9]!]);
    await client.barrier();
    client.ack([direct]);
    const second = await client.notifications(10);
    expect(second.map((f) => f.version)).toEqual(versions.slice(10, 20));
    client.ack(second);
    const third = await client.notifications(5);
    expect(third.map((f) => f.version)).toEqual(versions.slice(20));
    client.ack(third);
    await client.barrier();
    expect(server.stats().storedMessages).toBe(0);
  });

  it("redelivers a partly acked batch whole on reconnect, and nothing once all is acked", async () => {
    const { server, uaid, endpoint } = await offlineSubscription();
    const versions = await pushMany(endpoint, 3);
    const { client } = await connectHello(server, uaid);
    const frames = await client.notifications(3);
    client.ack([frames[0]!]);
    await client.barrier();
    await client.close();

    const { client: again } = await connectHello(server, uaid);
    const redelivered = await again.notifications(3);
    expect(redelivered.map((f) => f.version)).toEqual(versions);
    again.ack(redelivered);
    await again.barrier();
    await again.close();

    const { client: last } = await connectHello(server, uaid);
    await last.barrier();
  });

  it("ignores acks for unknown versions", async () => {
    const { server, uaid, channelID, endpoint } = await offlineSubscription();
    await pushMany(endpoint, 1);
    const { client } = await connectHello(server, uaid);
    const [frame] = await client.notifications(1);
    client.send({ messageType: "ack", updates: [{ channelID, version: "unknown" }] });
    client.send({ messageType: "nack", version: frame!.version, code: 301 });
    await client.barrier();
    client.ack([frame!]);
    await client.barrier();
  });

  it("delivers a message stored for a connected, idle UA at once (check storage nudge)", async () => {
    const server = await startServer();
    const { client: older, uaid } = await connectHello(server);
    const { endpoint } = await older.subscribe();
    await push(endpoint, { body: "pending" });
    const pending = await older.next();
    // The newer connection is idle when the older one's unacked message reaches storage.
    const { client: newer } = await connectHello(server, uaid);
    expect(await older.closed).toEqual({ code: 1011, reason: "SM" });
    const frame = await newer.next();
    expect(frame.version).toBe(pending.version);
  });

  it("stores pushes beyond maxUnackedDirect and delivers them once the UA catches up", async () => {
    const server = await startServer({ maxUnackedDirect: 2 });
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await pushMany(endpoint, 3);
    const direct = await client.notifications(2);
    await client.barrier();
    expect(server.stats()).toMatchObject({ direct: 2, stored: 1 });
    client.ack(direct);
    expect(bodyOf(await client.next())).toBe("m2");
  });

  it("drops what is stored for a channel when it is unregistered", async () => {
    const { server, uaid, channelID, endpoint } = await offlineSubscription();
    await pushMany(endpoint, 2);
    const client = await TestClient.connect(server.url);
    client.send({ messageType: "hello", uaid, use_webpush: true });
    await client.nextOfType("hello");
    await client.notifications(2);
    client.send({ messageType: "unregister", channelID });
    await client.nextOfType("unregister");
    expect(server.stats().storedMessages).toBe(0);
  });
});

describe("msgLimit", () => {
  it("resets the uaid (close 1000 SM) when more than msgLimit stored messages are read in one session", async () => {
    const { server, uaid, endpoint } = await offlineSubscription({ msgLimit: 20 });
    await pushMany(endpoint, 25);
    const { client } = await connectHello(server, uaid);
    client.ack(await client.notifications(10));
    client.ack(await client.notifications(10));
    // The third batch would cross the limit: it is not sent, the user is deleted.
    expect(await client.closed).toEqual({ code: 1000, reason: "SM" });
    expect(server.stats()).toMatchObject({ users: 0, storedMessages: 0 });

    const { uaid: fresh } = await connectHello(server, uaid);
    expect(fresh).not.toBe(uaid);
    const gone = await push(endpoint);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { errno: number }).errno).toBe(106);
  });

  it("counts per session and restarts the count once storage is drained", async () => {
    const { server, uaid, endpoint } = await offlineSubscription({ msgLimit: 20 });
    await pushMany(endpoint, 15);
    const { client } = await connectHello(server, uaid);
    client.ack(await client.notifications(10));
    client.ack(await client.notifications(5));
    await client.barrier();
    // Storage was drained, so 15 more stored messages do not cross the limit.
    await client.close();
    await pushMany(endpoint, 15);
    const { client: again, uaid: same } = await connectHello(server, uaid);
    expect(same).toBe(uaid);
    again.ack(await again.notifications(10));
    again.ack(await again.notifications(5));
    await again.barrier();
  });
});
