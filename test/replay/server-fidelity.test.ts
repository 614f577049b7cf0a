/**
 * `push-agent serve` against the autoconnect 1.83.1 recordings: the recorded client frames are
 * driven at the local server (pushes sent through its HTTP side the way the recording's app
 * server sent them), and every server frame must have the recorded frame's shape — messageType
 * and key set, headers included (a notification has no `ttl` key). Also the raw 101 reply
 * (no subprotocol, asked or not) and the excessive-ping close 1011 `SM`.
 */

import { request } from "node:http";
import { describe, expect, it, vi } from "vitest";
import webpush from "web-push";
import { sendPush } from "../../src/sender/send.ts";
import { startServer, subscriptionKeys, TestClient } from "../server/helpers.ts";
import { type Frame, framesOf, loadSession, readFixture, shape } from "./recordings.ts";

const vapid = webpush.generateVAPIDKeys();
const vapidDetails = { subject: "mailto:fidelity@example.com", ...vapid };

function shapes(frames: Frame[]): unknown[] {
  return frames.map(shape);
}

async function frames(client: TestClient, count: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let i = 0; i < count; i++) out.push(await client.next());
  return out;
}

function ackEach(client: TestClient, notifications: Frame[]): void {
  for (const n of notifications) client.ack([n]);
}

/** The 101 reply's status line and header names, for an upgrade asking for `protocol` (or none). */
function upgradeReply(url: string, protocol?: string): Promise<{ status: string; headers: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request(url.replace(/^ws/, "http"), {
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...(protocol ? { "Sec-WebSocket-Protocol": protocol } : {}),
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({
        status: `HTTP/1.1 ${res.statusCode} ${res.statusMessage}`,
        headers: Object.keys(res.headers).sort(),
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** handshake.txt, as the same status line and header-name lists. */
function recordedReplies(): { requested: string; status: string; headers: string[] }[] {
  return readFixture("handshake.txt")
    .split("--- requested subprotocol: ")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const [requested, status, ...lines] = block.trim().split("\n");
      const headers = lines.map((line) => line.split(":")[0]!.toLowerCase()).sort();
      return { requested: requested!, status: status!, headers };
    });
}

describe("push-agent serve, frame for frame against autoconnect 1.83.1", () => {
  it("answers the upgrade like the recording: 101, no Sec-WebSocket-Protocol, asked or not", async () => {
    const server = await startServer();
    const recorded = recordedReplies();
    expect(recorded.map((r) => r.requested)).toEqual(["(none)", "push-notification"]);
    for (const reply of recorded) {
      const ours = await upgradeReply(server.url, reply.requested === "(none)" ? undefined : reply.requested);
      expect(ours.status).toBe(reply.status);
      expect(ours.headers).not.toContain("sec-websocket-protocol");
      expect(ours.headers).toEqual(reply.headers);
    }
  });

  it("core session: hello, register, notifications of each encoding, stored delivery, unregister", async () => {
    const [first, second] = loadSession("session-core.jsonl");
    const server = await startServer();
    const recorded1 = framesOf(first!, "s2c");
    const sent1 = framesOf(first!, "c2s");

    const c1 = await TestClient.connect(server.url);
    c1.send(sent1[0]!);
    const hello = await c1.next();
    // Register once with our own VAPID key (the recorded one's private half was not kept).
    c1.send({ ...sent1[1]!, key: vapid.publicKey });
    const signed = await c1.next();
    c1.send(sent1[2]!);
    const plain = await c1.next();
    expect(shapes([hello, signed, plain])).toEqual(shapes(recorded1.slice(0, 3)));
    expect(String(signed.pushEndpoint)).toContain("/wpush/v2/");
    expect(String(plain.pushEndpoint)).toContain("/wpush/v1/");

    // The three recorded pushes: aes128gcm (VAPID), aesgcm (no VAPID), aesgcm (VAPID).
    const signedTarget = { endpoint: String(signed.pushEndpoint), keys: subscriptionKeys() };
    const plainTarget = { endpoint: String(plain.pushEndpoint), keys: subscriptionKeys() };
    const pushes = [
      () => sendPush(signedTarget, "one", { TTL: 60, contentEncoding: "aes128gcm", vapidDetails }),
      () => sendPush(plainTarget, "two", { TTL: 60, contentEncoding: "aesgcm" }),
      () => sendPush(signedTarget, "three", { TTL: 60, contentEncoding: "aesgcm", vapidDetails }),
    ];
    const notifications: Frame[] = [];
    for (const send of pushes) {
      expect((await send()).statusCode).toBe(201);
      const [n] = await frames(c1, 1);
      notifications.push(n!);
      c1.send({ messageType: "ack", updates: [{ channelID: n!.channelID, version: n!.version, code: 100 }] });
    }
    expect(shapes(notifications)).toEqual(shapes(recorded1.slice(3)));
    for (const n of notifications) expect(n).not.toHaveProperty("ttl");
    // A VAPID aesgcm push's crypto_key carries the dh and the p256ecdsa key, as recorded.
    expect(String((notifications[2]!.headers as Frame).crypto_key)).toMatch(/^dh=[\w-]+;p256ecdsa=[\w-]+$/);
    expect(String((recorded1[5]!.headers as Frame).crypto_key)).toMatch(/^dh=[\w-]+;p256ecdsa=[\w-]+$/);
    c1.ws.close(1000);
    await c1.closed;

    // While away: the recording's six stored pushes (the first one, then five more).
    const recorded2 = framesOf(second!, "s2c");
    const storedCount = recorded2.filter((f) => f.messageType === "notification").length;
    for (let i = 0; i < storedCount; i++) {
      expect((await sendPush(plainTarget, `stored ${i}`, { TTL: 60 })).statusCode).toBe(201);
    }
    const c2 = await TestClient.connect(server.url);
    const sent2 = framesOf(second!, "c2s");
    expect(sent2[0]).toEqual({ ...sent1[0], uaid: expect.any(String) });
    c2.send({ ...sent2[0]!, uaid: hello.uaid });
    const replies = await frames(c2, 1 + storedCount);
    expect(replies[0]!.uaid).toBe(hello.uaid);
    ackEach(c2, replies.slice(1));
    c2.send({ ...sent2.at(-1)!, channelID: plain.channelID });
    replies.push(await c2.next());
    expect(shapes(replies)).toEqual(shapes(recorded2));
  });

  it("uaid reset: over msgLimit the batch is acked, then close 1000 SM, then a new uaid", async () => {
    const [first, second, third] = loadSession("session-uaid-reset.jsonl");
    const server = await startServer({ msgLimit: 10 });
    const c1 = await TestClient.connect(server.url);
    const hello = await c1.hello();
    const register = await c1.register(String(framesOf(first!, "c2s")[1]!.channelID));
    expect(shapes([hello, register])).toEqual(shapes(framesOf(first!, "s2c")));
    c1.ws.close(1000);
    await c1.closed;
    const target = { endpoint: String(register.pushEndpoint), keys: subscriptionKeys() };
    for (let i = 0; i < 30; i++) expect((await sendPush(target, `m${i}`, { TTL: 600 })).statusCode).toBe(201);

    const c2 = await TestClient.connect(server.url);
    const recorded2 = framesOf(second!, "s2c");
    c2.send({ messageType: "hello", broadcasts: {}, use_webpush: true, uaid: hello.uaid });
    const batch = await frames(c2, recorded2.length);
    expect(shapes(batch)).toEqual(shapes(recorded2));
    ackEach(c2, batch.slice(1));
    expect(await c2.closed).toEqual(second!.close);

    const c3 = await TestClient.connect(server.url);
    const again = await c3.hello(String(hello.uaid));
    expect(shape(again)).toEqual(shape(framesOf(third!, "s2c")[0]));
    expect(again.uaid).not.toBe(hello.uaid);
  });

  it("broadcasts: the current version on broadcast_subscribe, a new one pushed", async () => {
    const [only] = loadSession("session-broadcast.jsonl");
    const recorded = framesOf(only!, "s2c");
    const server = await startServer({ broadcasts: { "check/bc": "v1" } });
    const client = await TestClient.connect(server.url);
    const sent = framesOf(only!, "c2s");
    client.send(sent[0]!);
    const hello = await client.next();
    client.send(sent[1]!);
    const current = await client.next();
    server.setBroadcast("check/bc", "v2");
    const changed = await client.next();
    // Byte for byte but the uaid (autoconnect's was its own).
    expect([hello, current, changed]).toEqual(
      recorded.map((frame) => (frame.messageType === "hello" ? { ...frame, uaid: hello.uaid } : frame)),
    );
  });

  it("WebSocket pings like autoconnect's PingManager: the next one auto_ping_interval after the pong", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    try {
      const server = await startServer({ autoPingInterval: 1_000, autoPingTimeout: 4_000 });
      const client = await TestClient.connect(server.url, { autoPong: false });
      await client.hello();
      let pings = 0;
      client.ws.on("ping", () => pings++);
      /** Let the real sockets carry what is in flight. */
      const settle = async () => {
        for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      };
      await vi.advanceTimersByTimeAsync(1_000);
      await vi.waitFor(() => expect(pings).toBe(1));
      // Answer late, 800 ms after the ping: a fixed cadence would ping again at 2 000 ms.
      await vi.advanceTimersByTimeAsync(800);
      client.ws.pong();
      await settle();
      await vi.advanceTimersByTimeAsync(999);
      await settle();
      expect(pings).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      await vi.waitFor(() => expect(pings).toBe(2));
      // No pong at all: closed 1011 PongTimeout after auto_ping_timeout.
      await vi.advanceTimersByTimeAsync(4_000);
      expect(await client.closed).toEqual({ code: 1011, reason: "PongTimeout" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("excessive ping: {} answered {}, a second {} at once closes 1011 SM", async () => {
    const recorded = readFixture("excessive-ping.txt").trim().split("\n");
    expect(recorded.at(-1)).toMatch(/close 1011 SM$/);
    const server = await startServer();
    const client = await TestClient.connect(server.url);
    await client.hello();
    client.send("{}");
    expect(await client.next()).toEqual({});
    client.send("{}");
    expect(await client.closed).toEqual({ code: 1011, reason: "SM" });
  });
});
