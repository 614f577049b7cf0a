/**
 * The HTTP side (autoendpoint behaviour): status codes, errnos, error bodies and response
 * headers; VAPID in its three forms and the v2 key binding; token tampering; DELETE /m; CORS,
 * health routes and the split-port layout.
 */

import { createECDH, createPrivateKey, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connectHello, messageIdOf, push, startServer, vapidKeys, webPush } from "./helpers.ts";

const MORE_INFO = "http://autopush.readthedocs.io/en/latest/http.html#error-codes";

async function expectError(response: Response, code: number, errno: number | null): Promise<void> {
  expect(response.status).toBe(code);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(await response.json()).toEqual({
    code,
    errno,
    error: expect.any(String),
    message: expect.any(String),
    more_info: MORE_INFO,
  });
}

async function expectEmpty404(response: Response): Promise<void> {
  expect(response.status).toBe(404);
  expect(await response.text()).toBe("");
}

/** A subscribed, connected client. */
async function subscribed(options: Parameters<typeof startServer>[0] = {}, key?: string) {
  const server = await startServer(options);
  const { client, uaid } = await connectHello(server);
  const { channelID, endpoint } = await client.subscribe(key);
  return { server, client, uaid, channelID, endpoint };
}

/**
 * Sign a VAPID JWT by hand, for claims web-push would refuse to produce. The JWK's x/y are derived
 * from `d` (Node 22+ refuses a JWK whose public half does not match its private key); the public
 * key the server checks against is whatever the caller puts in `k=`.
 */
function signJwt(privateKey: string, claims: Record<string, unknown>): string {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(privateKey, "base64url"));
  const pub = ecdh.getPublicKey();
  const key = createPrivateKey({
    key: {
      kty: "EC",
      crv: "P-256",
      d: privateKey,
      x: pub.subarray(1, 33).toString("base64url"),
      y: pub.subarray(33, 65).toString("base64url"),
    },
    format: "jwk",
  });
  const head = Buffer.from(JSON.stringify({ typ: "JWT", alg: "ES256" })).toString("base64url");
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = sign("sha256", Buffer.from(`${head}.${body}`), { key, dsaEncoding: "ieee-p1363" });
  return `${head}.${body}.${signature.toString("base64url")}`;
}

describe("POST /wpush", () => {
  it("answers 201 with an empty body, Location /m/{version} and TTL, and delivers the body", async () => {
    const { server, client, channelID, endpoint } = await subscribed();
    const body = Buffer.from([0, 1, 2, 250, 251, 252, 253]);
    const response = await push(endpoint, { body, ttl: 120 });
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("");
    expect(response.headers.get("ttl")).toBe("120");
    expect(response.headers.get("location")).toMatch(new RegExp(`^${server.endpointURL}/m/[A-Za-z0-9_-]+$`));
    const frame = await client.nextOfType("notification");
    expect(frame).toEqual({
      messageType: "notification",
      channelID,
      version: messageIdOf(response),
      data: body.toString("base64url"),
      headers: { encoding: "aes128gcm" },
    });
    expect(frame.data).not.toContain("=");
  });

  it("accepts the legacy /wpush/{token} route as v1", async () => {
    const { client, endpoint } = await subscribed();
    const legacy = endpoint.replace("/wpush/v1/", "/wpush/");
    expect((await push(legacy)).status).toBe(201);
    expect((await client.next()).messageType).toBe("notification");
  });

  it("omits data and headers for an empty body and ignores its encryption headers", async () => {
    const { client, channelID, endpoint } = await subscribed();
    const response = await push(endpoint, { headers: { "Content-Encoding": "bogus", Encryption: "x" } });
    expect(response.status).toBe(201);
    expect(await client.next()).toEqual({
      messageType: "notification",
      channelID,
      version: messageIdOf(response),
    });
  });

  it("strips quotes and base64 padding from aesgcm Encryption and Crypto-Key", async () => {
    const { client, endpoint } = await subscribed();
    const response = await push(endpoint, {
      body: "x",
      headers: {
        "Content-Encoding": "aesgcm",
        Encryption: 'keyid="a";salt="XZwpw6o37R-6qoZjw6KwAw=="',
        "Crypto-Key":
          'keyid="a";dh="BNoRDbb84JGm8g5Z5CFxurSqsXWJ11ItfXEWYVLE85Y7CYkDjXsIEc4aqxYaQ1G8BqkXCJ6DPpDrWtdWj_mugHU="',
      },
    });
    expect(response.status).toBe(201);
    expect((await client.next()).headers).toEqual({
      encoding: "aesgcm",
      encryption: "keyid=a;salt=XZwpw6o37R-6qoZjw6KwAw",
      crypto_key:
        "keyid=a;dh=BNoRDbb84JGm8g5Z5CFxurSqsXWJ11ItfXEWYVLE85Y7CYkDjXsIEc4aqxYaQ1G8BqkXCJ6DPpDrWtdWj_mugHU",
    });
  });

  describe("TTL", () => {
    it.each([
      ["missing", null, 111],
      ["not an integer", "soon", 111],
      ["fractional", "1.5", 111],
      ["negative", "-1", 114],
    ])("%s gives 400", async (_label, ttl, errno) => {
      const { endpoint } = await subscribed();
      const response = await push(endpoint, { ttl: null, headers: ttl === null ? {} : { TTL: ttl } });
      await expectError(response, 400, errno);
    });

    it("is capped at 30 days and the capped value is echoed", async () => {
      const { endpoint } = await subscribed();
      const response = await push(endpoint, { ttl: 99_999_999 });
      expect(response.status).toBe(201);
      expect(response.headers.get("ttl")).toBe("2592000");
    });
  });

  it.each([
    ["too long", "a".repeat(33)],
    ["outside the base64url alphabet", "bad topic!"],
    ["empty", ""],
  ])("rejects a Topic that is %s with 400 errno 113", async (_label, topic) => {
    const { endpoint } = await subscribed();
    await expectError(await push(endpoint, { headers: { Topic: topic } }), 400, 113);
  });

  it("accepts a 32-character padded Topic", async () => {
    const { endpoint } = await subscribed();
    expect((await push(endpoint, { headers: { Topic: `${"a".repeat(30)}==` } })).status).toBe(201);
  });

  describe("encryption headers (errno 110)", () => {
    const cases: [string, Record<string, string>][] = [
      ["a body without Content-Encoding", {}],
      ["an unknown Content-Encoding", { "Content-Encoding": "aesgcm128" }],
      ["aesgcm without Encryption", { "Content-Encoding": "aesgcm" }],
      ["aesgcm without salt", { "Content-Encoding": "aesgcm", Encryption: "keyid=p256dh" }],
      ["aesgcm with a bad salt", { "Content-Encoding": "aesgcm", Encryption: "salt=a+b" }],
      [
        "aesgcm Crypto-Key without dh",
        { "Content-Encoding": "aesgcm", Encryption: "salt=abc", "Crypto-Key": "keyid=x" },
      ],
      ["aes128gcm with salt", { "Content-Encoding": "aes128gcm", Encryption: "salt=abc" }],
      ["aes128gcm with dh", { "Content-Encoding": "aes128gcm", "Crypto-Key": "dh=abc" }],
    ];
    it.each(cases)("%s", async (_label, headers) => {
      const { endpoint } = await subscribed();
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { TTL: "60", ...headers },
        body: "x",
      });
      await expectError(response, 400, 110);
    });
  });

  it("answers 413 errno 104 above maxDataBytes and accepts exactly the limit", async () => {
    const { client, endpoint } = await subscribed({ maxDataBytes: 100 });
    await expectError(await push(endpoint, { body: new Uint8Array(101) }), 413, 104);
    expect((await push(endpoint, { body: new Uint8Array(100) })).status).toBe(201);
    expect((await client.next()).messageType).toBe("notification");
  });

  it("answers 404 with an empty body for a tampered token, a bad version or an unknown route", async () => {
    const { server, endpoint } = await subscribed();
    const token = endpoint.split("/").at(-1)!;
    const flipped = token.slice(0, 20) + (token[20] === "A" ? "B" : "A") + token.slice(21);
    await expectEmpty404(await push(endpoint.replace(token, flipped)));
    await expectEmpty404(await push(endpoint.slice(0, -4)));
    await expectEmpty404(await push(endpoint.replace("/v1/", "/v3/")));
    await expectEmpty404(await push(endpoint.replace("/v1/", "/v2/")));
    await expectEmpty404(await push(`${server.endpointURL}/wpush/v1/`));
    await expectEmpty404(await fetch(`${server.endpointURL}/nothing/here`));
    await expectEmpty404(await fetch(endpoint, { method: "PUT" }));
  });

  it("answers 410 errno 106 with Cache-Control after unregister", async () => {
    const { client, channelID, endpoint } = await subscribed();
    client.send({ messageType: "unregister", channelID });
    await client.nextOfType("unregister");
    const response = await push(endpoint);
    expect(response.headers.get("cache-control")).toBe("max-age=86400");
    await expectError(response, 410, 106);
  });
});

describe("VAPID", () => {
  it("accepts web-push's aes128gcm push with vapid t=,k= and delivers the ciphertext", async () => {
    const { client, endpoint } = await subscribed();
    const { response, body } = await webPush(endpoint, { payload: "hello", vapid: vapidKeys() });
    expect(response.status).toBe(201);
    const frame = await client.next();
    expect(frame.data).toBe(body!.toString("base64url"));
    expect(frame.headers).toEqual({ encoding: "aes128gcm" });
  });

  it("accepts web-push's aesgcm push with WebPush + Crypto-Key p256ecdsa", async () => {
    const vapid = vapidKeys();
    const { client, endpoint } = await subscribed();
    const { response } = await webPush(endpoint, { payload: "hello", contentEncoding: "aesgcm", vapid });
    expect(response.status).toBe(201);
    const headers = (await client.next()).headers as Record<string, string>;
    expect(headers.encoding).toBe("aesgcm");
    expect(headers.encryption).toMatch(/^salt=[A-Za-z0-9_-]+$/);
    expect(headers.crypto_key).toBe(
      `${headers.crypto_key!.split(";")[0]};p256ecdsa=${vapid.publicKey.replace(/=+$/, "")}`,
    );
  });

  it("binds a v2 endpoint to its key: other keys and unsigned pushes get 401 errno 109", async () => {
    const vapid = vapidKeys();
    const { client, endpoint } = await subscribed({}, vapid.publicKey);
    expect(endpoint).toMatch(/\/wpush\/v2\//);
    await expectError((await webPush(endpoint, { payload: "x" })).response, 401, 109);
    await expectError((await webPush(endpoint, { payload: "x", vapid: vapidKeys() })).response, 401, 109);
    expect((await webPush(endpoint, { payload: "x", vapid })).response.status).toBe(201);
    expect((await client.next()).messageType).toBe("notification");
    // A v2 token is not accepted on the v1 route.
    await expectEmpty404(await push(endpoint.replace("/v2/", "/v1/")));
  });

  describe("JWT checks", () => {
    const vapid = vapidKeys();
    const hour = () => Math.floor(Date.now() / 1000) + 3600;
    const cases: [string, (aud: string) => string][] = [
      [
        "an audience that is not the endpoint origin",
        () => signJwt(vapid.privateKey, { aud: "https://example.com", exp: hour() }),
      ],
      [
        "an expiry more than 24 h ahead",
        (aud) => signJwt(vapid.privateKey, { aud, exp: hour() + 24 * 3600 }),
      ],
      ["an expired token", (aud) => signJwt(vapid.privateKey, { aud, exp: hour() - 7200 })],
      ["no exp", (aud) => signJwt(vapid.privateKey, { aud })],
      ["no aud", () => signJwt(vapid.privateKey, { exp: hour() })],
      ["a signature by another key", (aud) => signJwt(vapidKeys().privateKey, { aud, exp: hour() })],
      ["a token that is not a JWT", () => "not.a.jwt"],
    ];
    it.each(cases)("rejects %s with 401 errno 109", async (_label, jwt) => {
      const { server, endpoint } = await subscribed();
      const token = jwt(new URL(server.endpointURL).origin);
      await expectError(
        await push(endpoint, { headers: { Authorization: `vapid t=${token}, k=${vapid.publicKey}` } }),
        401,
        109,
      );
    });

    it("accepts a hand-made token with the endpoint origin as aud, without sub", async () => {
      const { server, endpoint } = await subscribed();
      const token = signJwt(vapid.privateKey, {
        aud: new URL(server.endpointURL).origin,
        exp: hour(),
      });
      const response = await push(endpoint, {
        headers: { Authorization: `Bearer ${token}`, "Crypto-Key": `p256ecdsa=${vapid.publicKey}` },
      });
      expect(response.status).toBe(201);
    });

    it.each([
      ["an unknown scheme", "Basic dXNlcjpwYXNz"],
      ["vapid without k=", "vapid t=a.b.c"],
      ["WebPush without Crypto-Key", "WebPush a.b.c"],
    ])("rejects %s with 401 errno 109", async (_label, authorization) => {
      const { endpoint } = await subscribed();
      await expectError(await push(endpoint, { headers: { Authorization: authorization } }), 401, 109);
    });
  });
});

describe("DELETE /m/{message_id}", () => {
  it("cancels a stored message (204) so it is never delivered", async () => {
    const server = await startServer();
    const { client, uaid } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await client.close();
    const cancelled = await push(endpoint, { body: "gone" });
    const kept = await push(endpoint, { body: "kept" });
    const deleted = await fetch(cancelled.headers.get("location")!, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    const { client: again } = await connectHello(server, uaid);
    expect((await again.next()).version).toBe(messageIdOf(kept));
    await again.barrier();
  });

  it("cancels a stored topic message", async () => {
    const server = await startServer();
    const { client, uaid } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await client.close();
    const topical = await push(endpoint, { headers: { Topic: "news" } });
    expect((await fetch(topical.headers.get("location")!, { method: "DELETE" })).status).toBe(204);
    expect(server.stats().storedMessages).toBe(0);
    const { client: again } = await connectHello(server, uaid);
    await again.barrier();
  });

  it("answers 400 with errno null for an id it did not issue", async () => {
    const server = await startServer();
    await expectError(
      await fetch(`${server.endpointURL}/m/not-a-message-id`, { method: "DELETE" }),
      400,
      null,
    );
  });
});

describe("HTTP extras", () => {
  it("serves the health routes", async () => {
    const server = await startServer();
    for (const path of ["/health", "/status", "/__heartbeat__", "/__lbheartbeat__", "/__version__"]) {
      const response = await fetch(`${server.endpointURL}${path}`);
      expect(response.status, path).toBe(200);
      await response.json();
    }
  });

  it("allows any origin, with a preflight for POST", async () => {
    const { endpoint } = await subscribed();
    const preflight = await fetch(endpoint, {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "ttl, topic",
      },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toBe("ttl, topic");
    const response = await push(endpoint, { headers: { Origin: "https://app.example" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("serves WebSocket and HTTP on separate ports when endpointPort is given", async () => {
    const server = await startServer({ endpointPort: 0, endpointURL: undefined });
    expect(server.endpointPort).not.toBe(server.port);
    expect(server.endpointURL).toBe(`http://127.0.0.1:${server.endpointPort}`);
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    expect(endpoint.startsWith(server.endpointURL)).toBe(true);
    expect((await push(endpoint)).status).toBe(201);
    expect((await client.next()).messageType).toBe("notification");
    // The WebSocket port has no push routes, and the endpoint port takes no WebSocket.
    await expectEmpty404(await push(endpoint.replace(`:${server.endpointPort}/`, `:${server.port}/`)));
    const refused = new WebSocket(`ws://127.0.0.1:${server.endpointPort}/`);
    await expect(new Promise((_resolve, reject) => refused.on("error", reject))).rejects.toThrow(/404/);
  });

  it("writes a configured public endpointURL into pushEndpoint and checks VAPID aud against it", async () => {
    const vapid = vapidKeys();
    const server = await startServer({ endpointURL: "https://push.example.net/" });
    expect(server.endpointURL).toBe("https://push.example.net");
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    expect(endpoint).toMatch(/^https:\/\/push\.example\.net\/wpush\/v1\//);
    // Reach the server directly, as a reverse proxy would.
    const direct = endpoint.replace("https://push.example.net", `http://127.0.0.1:${server.endpointPort}`);
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const publicAud = signJwt(vapid.privateKey, { aud: "https://push.example.net", exp });
    const authorization = (jwt: string) => ({ Authorization: `vapid t=${jwt},k=${vapid.publicKey}` });
    expect((await push(direct, { headers: authorization(publicAud) })).status).toBe(201);
    const localAud = signJwt(vapid.privateKey, {
      aud: `http://127.0.0.1:${server.endpointPort}`,
      exp,
    });
    await expectError(await push(direct, { headers: authorization(localAud) }), 401, 109);
  });

  it("logs one line per push and per connection, without endpoint tokens", async () => {
    const lines: string[] = [];
    const record = (message: string) => lines.push(message);
    const logger = { debug: () => {}, info: record, warn: record, error: record };
    const server = await startServer({ logger });
    const { client } = await connectHello(server);
    const { endpoint } = await client.subscribe();
    await push(endpoint, { body: "x" });
    await push(endpoint, { ttl: null });
    await client.close();
    await server.close();
    const token = endpoint.split("/").at(-1)!;
    expect(lines.filter((line) => line.includes("push "))).toHaveLength(2);
    expect(lines.filter((line) => line.includes("connection closed"))).toHaveLength(1);
    expect(lines.some((line) => line.includes(token.slice(0, 12)))).toBe(false);
  });
});
