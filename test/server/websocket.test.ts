/**
 * The WebSocket side (autoconnect behaviour): hello / register / unregister replies, uaid rules,
 * every protocol error's close code and reason, timers (handshake, pong, client ping rate),
 * ghost connections and broadcasts.
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { connectHello, push, startServer, TestClient } from "./helpers.ts";

const CHID = "5c1e9a3e-6d3b-4c2e-9a57-3c1f0f3e8b2a";

describe("hello", () => {
  it("issues a 32-hex uaid with status 200, use_webpush and an empty broadcasts map", async () => {
    const server = await startServer();
    const client = await TestClient.connect(server.url);
    expect(client.ws.protocol).toBe("");
    const reply = await client.hello();
    expect(reply).toEqual({
      messageType: "hello",
      uaid: expect.stringMatching(/^[0-9a-f]{32}$/),
      status: 200,
      use_webpush: true,
      broadcasts: {},
    });
  });

  it("replaces a malformed or unknown uaid with a new one", async () => {
    const server = await startServer();
    for (const uaid of ["", "not-a-uuid", "0123456789abcdef0123456789abcdef"]) {
      const client = await TestClient.connect(server.url);
      const reply = await client.hello(uaid);
      expect(reply.uaid).toMatch(/^[0-9a-f]{32}$/);
      expect(reply.uaid).not.toBe(uaid);
      await client.close();
    }
  });

  it("only persists a new uaid once it registers (deferred add_user)", async () => {
    const server = await startServer();
    const first = await connectHello(server);
    await first.client.close();
    const again = await connectHello(server, first.uaid);
    expect(again.uaid).not.toBe(first.uaid);

    await again.client.subscribe();
    await again.client.close();
    const back = await connectHello(server, again.uaid);
    expect(back.uaid).toBe(again.uaid);
    expect(server.stats().users).toBe(1);
  });

  it("accepts a known uaid in any UUID form and answers in the simple form", async () => {
    const server = await startServer();
    const { client, uaid } = await connectHello(server);
    await client.subscribe();
    await client.close();
    const dashed = `${uaid.slice(0, 8)}-${uaid.slice(8, 12)}-${uaid.slice(12, 16)}-${uaid.slice(16, 20)}-${uaid.slice(20)}`;
    const back = await connectHello(server, `{${dashed.toUpperCase()}}`);
    expect(back.uaid).toBe(uaid);
  });
});

describe("register and unregister", () => {
  it("returns a v1 pushEndpoint, or v2 when a VAPID key (padded or not) is given", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    const plain = await client.register(CHID);
    expect(plain).toEqual({
      messageType: "register",
      channelID: CHID,
      status: 200,
      pushEndpoint: expect.any(String),
    });
    expect(plain.pushEndpoint).toMatch(new RegExp(`^${server.endpointURL}/wpush/v1/[A-Za-z0-9_-]+$`));
    const key = Buffer.alloc(65, 4).toString("base64");
    const padded = await client.register(CHID, key.replaceAll("+", "-").replaceAll("/", "_"));
    expect(padded.pushEndpoint).toMatch(/\/wpush\/v2\//);
    const unpadded = await client.register(CHID, Buffer.alloc(65, 4).toString("base64url"));
    expect(unpadded.status).toBe(200);
    // Registering the same channel again gives a new endpoint string each time.
    expect(unpadded.pushEndpoint).not.toBe(padded.pushEndpoint);
  });

  it("answers 400 'Failed to generate endpoint' for an undecodable key and keeps the socket open", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    const reply = await client.register(CHID, "not base64url!");
    expect(reply).toEqual({
      messageType: "register",
      channelID: CHID,
      status: 400,
      pushEndpoint: "Failed to generate endpoint",
    });
    expect((await client.register(CHID)).status).toBe(200);
  });

  it.each([
    ["upper case", CHID.toUpperCase()],
    ["no dashes", CHID.replaceAll("-", "")],
    ["not a UUID", "channel-1"],
  ])("closes 1011 SM for a channelID with %s", async (_label, channelID) => {
    const server = await startServer();
    const { client } = await connectHello(server);
    client.send({ messageType: "register", channelID });
    expect(await client.closed).toEqual({ code: 1011, reason: "SM" });
  });

  it("answers 200 to unregister, for unknown channels and any UUID form", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    const { channelID } = await client.subscribe();
    client.send({ messageType: "unregister", channelID: channelID.replaceAll("-", ""), code: 200 });
    expect(await client.next()).toEqual({ messageType: "unregister", channelID, status: 200 });
    client.send({ messageType: "unregister", channelID: CHID });
    expect(await client.next()).toEqual({ messageType: "unregister", channelID: CHID, status: 200 });
    expect(server.stats().channels).toBe(0);
  });
});

describe("protocol errors close the socket", () => {
  const afterHello: [string, string, number, string][] = [
    ["invalid JSON", "bad-data", 1011, "Json"],
    ["an unknown messageType", JSON.stringify({ messageType: "foo" }), 1011, "Json"],
    ["a register without channelID", JSON.stringify({ messageType: "register" }), 1011, "Json"],
    [
      "an unregister with a non-UUID",
      JSON.stringify({ messageType: "unregister", channelID: "x" }),
      1011,
      "Json",
    ],
    ["an ack with ill-typed updates", JSON.stringify({ messageType: "ack", updates: "x" }), 1011, "Json"],
    ["a second hello", JSON.stringify({ messageType: "hello", use_webpush: true }), 1011, "SM"],
    ["an object without messageType", JSON.stringify({ uaid: "x" }), 1011, "Json"],
  ];
  it.each(afterHello)("%s", async (_label, text, code, reason) => {
    const server = await startServer();
    const { client } = await connectHello(server);
    client.send(text);
    expect(await client.closed).toEqual({ code, reason });
  });

  it.each([
    ["{}", "SM"],
    [JSON.stringify({ messageType: "register", channelID: CHID }), "SM"],
    ["bad-data", "Json"],
    [JSON.stringify({ messageType: "hello", channelIDs: ["nope"] }), "Json"],
  ])("before hello: %s closes 1011 %s", async (text, reason) => {
    const server = await startServer();
    const client = await TestClient.connect(server.url);
    client.send(text);
    expect(await client.closed).toEqual({ code: 1011, reason });
  });

  it("closes 1003 UnsupportedMessage on a binary frame", async () => {
    const server = await startServer();
    const { client } = await connectHello(server);
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await client.closed).toEqual({ code: 1003, reason: "UnsupportedMessage" });
  });

  it("ignores unknown fields", async () => {
    const server = await startServer();
    const client = await TestClient.connect(server.url);
    const reply = await client.hello(undefined, { extra: { anything: 1 }, channelIDs: [CHID] });
    expect(reply.status).toBe(200);
  });
});

describe("timers", () => {
  it("closes 1011 HandshakeTimeout when no hello comes in time", async () => {
    const server = await startServer({ handshakeTimeout: 30 });
    const client = await TestClient.connect(server.url);
    expect(await client.closed).toEqual({ code: 1011, reason: "HandshakeTimeout" });
  });

  it("closes 1011 PongTimeout when a ping frame is not answered", async () => {
    const server = await startServer({ autoPingInterval: 20, autoPingTimeout: 20 });
    const client = await TestClient.connect(server.url, { autoPong: false });
    await client.hello();
    expect(await client.closed).toEqual({ code: 1011, reason: "PongTimeout" });
  });

  it("keeps a connection that answers ping frames", async () => {
    const server = await startServer({ autoPingInterval: 10, autoPingTimeout: 50 });
    const { client } = await connectHello(server);
    await new Promise<void>((resolve) => {
      let pings = 0;
      client.ws.on("ping", () => {
        if (++pings === 3) resolve();
      });
    });
    await client.barrier();
  });

  it("answers {} pings and closes 1011 SM on a second ping within minPingInterval", async () => {
    let clock = Date.now();
    const server = await startServer({ minPingInterval: 45_000, now: () => clock });
    const { client } = await connectHello(server);
    client.send("{}");
    expect(await client.next()).toEqual({});
    clock += 45_000;
    client.send({ messageType: "ping" });
    expect(await client.next()).toEqual({});
    clock += 44_999;
    client.send("{}");
    expect(await client.closed).toEqual({ code: 1011, reason: "SM" });
  });
});

describe("ghost connections", () => {
  it("closes the older connection 1011 SM when the same uaid connects again; the newest receives", async () => {
    const server = await startServer();
    const { client: older, uaid } = await connectHello(server);
    const { endpoint } = await older.subscribe();
    const { client: newer } = await connectHello(server, uaid);
    expect(await older.closed).toEqual({ code: 1011, reason: "SM" });
    expect((await push(endpoint)).status).toBe(201);
    expect((await newer.next()).messageType).toBe("notification");
    expect(server.stats().sessions).toBe(1);
  });
});

describe("broadcasts", () => {
  it("sends deltas and errors in the hello reply and on broadcast_subscribe", async () => {
    const server = await startServer({
      broadcasts: { "kinto:123": "v2", "remote-settings/monitor_changes": '"42"' },
    });
    const client = await TestClient.connect(server.url);
    const reply = await client.hello(undefined, {
      broadcasts: { "kinto:123": "v1", "remote-settings/monitor_changes": '"42"', "missing:1": "x" },
    });
    expect(reply.broadcasts).toEqual({ "kinto:123": "v2", errors: { "missing:1": "Broadcast not found" } });

    // Nothing to report: no reply at all.
    client.send({ messageType: "broadcast_subscribe", broadcasts: { "kinto:123": "v2" } });
    await client.barrier();
    client.send({ messageType: "broadcast_subscribe", broadcasts: { "kinto:123": "old", nope: "1" } });
    expect(await client.next()).toEqual({
      messageType: "broadcast",
      broadcasts: { "kinto:123": "v2", errors: { nope: "Broadcast not found" } },
    });
  });

  it("pushes setBroadcast changes to subscribed connections only", async () => {
    const server = await startServer({ broadcasts: { "kinto:123": "v1", other: "a" } });
    const subscribed = await TestClient.connect(server.url);
    await subscribed.hello(undefined, { broadcasts: { "kinto:123": "v1" } });
    const bystander = await TestClient.connect(server.url);
    await bystander.hello(undefined, { broadcasts: { other: "a" } });
    server.setBroadcast("kinto:123", "v2");
    expect(await subscribed.next()).toEqual({ messageType: "broadcast", broadcasts: { "kinto:123": "v2" } });
    await bystander.barrier();
    expect(server.stats().broadcasts).toEqual({ "kinto:123": "v2", other: "a" });
  });

  it("polls Megaphone for versions", async () => {
    let versions: Record<string, string> = { "kinto:123": "v1" };
    let polled: () => void = () => {};
    const megaphone = createServer((_req, res) => {
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ broadcasts: versions }));
      polled();
    });
    await new Promise<void>((resolve) => megaphone.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = megaphone.address() as AddressInfo;
      const server = await startServer({
        megaphoneURL: `http://127.0.0.1:${port}/v1/broadcasts`,
        megaphonePollInterval: 10,
      });
      const client = await TestClient.connect(server.url);
      const reply = await client.hello(undefined, { broadcasts: { "kinto:123": "v0" } });
      expect(reply.broadcasts).toEqual({ "kinto:123": "v1" });
      versions = { "kinto:123": "v2" };
      expect(await client.next()).toEqual({ messageType: "broadcast", broadcasts: { "kinto:123": "v2" } });
      await server.close();
      // A poll may still be in flight when close() starts; it must not outlive the server.
      polled = () => {};
    } finally {
      megaphone.closeAllConnections();
      await new Promise((resolve) => megaphone.close(resolve));
    }
  });
});
