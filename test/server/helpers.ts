/**
 * Test helpers for the push server: start servers that are closed after each test, a raw `ws`
 * client with an awaitable message queue, and HTTP push helpers (plain fetch, and web-push's
 * request builder for signed / encrypted pushes — web-push itself only speaks https).
 */

import { createECDH, randomBytes, randomUUID } from "node:crypto";
import { afterEach } from "vitest";
import webpush from "web-push";
import WebSocket from "ws";
import { createPushServer, type PushServer, type PushServerOptions } from "../../src/server/index.ts";

const servers = new Set<PushServer>();
const clients = new Set<TestClient>();

afterEach(async () => {
  for (const client of clients) client.ws.terminate();
  clients.clear();
  await Promise.all([...servers].map((server) => server.close()));
  servers.clear();
});

export async function startServer(options: PushServerOptions = {}): Promise<PushServer> {
  const server = await createPushServer({ host: "127.0.0.1", port: 0, ...options });
  servers.add(server);
  return server;
}

export type Frame = Record<string, unknown>;

/** How long a test waits for a frame before failing with a readable message. */
const WAIT_MS = 5000;

export class TestClient {
  readonly #queue: Frame[] = [];
  readonly #waiters: { resolve: (frame: Frame) => void; reject: (err: Error) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(frame);
      else this.#queue.push(frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        for (const waiter of this.#waiters.splice(0))
          waiter.reject(new Error(`socket closed ${code} ${reason}`));
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  /** Opens a socket asking for no subprotocol, as push-agent does (pass `protocols` to ask). */
  static async connect(
    url: string,
    options: WebSocket.ClientOptions = {},
    protocols: string[] = [],
  ): Promise<TestClient> {
    const ws = new WebSocket(url, protocols, options);
    const client = new TestClient(ws);
    clients.add(client);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return client;
  }

  send(message: Frame | string): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  next(): Promise<Frame> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (frame: Frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject,
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error("no frame within the wait limit"));
      }, WAIT_MS);
      this.#waiters.push(waiter);
    });
  }

  async nextOfType(messageType: string): Promise<Frame> {
    const frame = await this.next();
    if (frame.messageType !== messageType) {
      throw new Error(`expected ${messageType}, got ${JSON.stringify(frame).slice(0, 200)}`);
    }
    return frame;
  }

  /** Collect `count` notification frames. */
  async notifications(count: number): Promise<Frame[]> {
    const frames: Frame[] = [];
    for (let i = 0; i < count; i++) frames.push(await this.nextOfType("notification"));
    return frames;
  }

  async hello(uaid?: string, extra: Frame = {}): Promise<Frame> {
    this.send({ messageType: "hello", use_webpush: true, ...(uaid === undefined ? {} : { uaid }), ...extra });
    return this.nextOfType("hello");
  }

  async register(channelID: string = randomUUID(), key?: string): Promise<Frame> {
    this.send({ messageType: "register", channelID, ...(key === undefined ? {} : { key }) });
    return this.nextOfType("register");
  }

  /** Subscribe a fresh channel; returns its channelID and pushEndpoint. */
  async subscribe(key?: string): Promise<{ channelID: string; endpoint: string }> {
    const reply = await this.register(randomUUID(), key);
    if (reply.status !== 200) throw new Error(`register failed: ${JSON.stringify(reply)}`);
    return { channelID: reply.channelID as string, endpoint: reply.pushEndpoint as string };
  }

  ack(frames: Frame[]): void {
    this.send({
      messageType: "ack",
      updates: frames.map((f) => ({ channelID: f.channelID, version: f.version, code: 100 })),
    });
  }

  /**
   * Proves nothing else was queued before this point: the server answers an unregister of an
   * unknown channel in order, so any frame it sent earlier arrives first and fails the check.
   */
  async barrier(): Promise<void> {
    const channelID = randomUUID();
    this.send({ messageType: "unregister", channelID });
    const frame = await this.next();
    if (frame.messageType !== "unregister" || frame.channelID !== channelID) {
      throw new Error(`expected nothing before the barrier, got ${JSON.stringify(frame).slice(0, 200)}`);
    }
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}

/** Connect, say hello (optionally as `uaid`) and return the client and the hello reply. */
export async function connectHello(
  server: PushServer,
  uaid?: string,
): Promise<{ client: TestClient; uaid: string }> {
  const client = await TestClient.connect(server.url);
  const reply = await client.hello(uaid);
  return { client, uaid: reply.uaid as string };
}

export interface PushInit {
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  ttl?: number | null;
}

/** POST to an endpoint. TTL defaults to 60, and a body gets Content-Encoding aes128gcm unless told. */
export function push(endpoint: string, init: PushInit = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.ttl !== null) headers.TTL = String(init.ttl ?? 60);
  if (init.body !== undefined && init.body.length > 0) headers["Content-Encoding"] = "aes128gcm";
  Object.assign(headers, init.headers);
  return fetch(endpoint, { method: "POST", headers, body: init.body as BodyInit | undefined });
}

/** The message id a 201 names in its Location header. */
export function messageIdOf(response: Response): string {
  return response.headers.get("location")!.split("/m/")[1]!;
}

/** A user agent's subscription keys, as web-push needs them. */
export function subscriptionKeys(): { p256dh: string; auth: string; ecdh: ReturnType<typeof createECDH> } {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return {
    p256dh: ecdh.getPublicKey().toString("base64url"),
    auth: randomBytes(16).toString("base64url"),
    ecdh,
  };
}

export interface WebPushInit {
  payload?: string;
  contentEncoding?: "aes128gcm" | "aesgcm";
  vapid?: { publicKey: string; privateKey: string };
  ttl?: number;
  topic?: string;
  keys?: { p256dh: string; auth: string };
}

/** Build a push with web-push (encryption + VAPID) and send it with fetch. */
export async function webPush(
  endpoint: string,
  init: WebPushInit = {},
): Promise<{ response: Response; body: Buffer | null }> {
  const keys = init.keys ?? subscriptionKeys();
  const details = webpush.generateRequestDetails(
    { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } },
    init.payload,
    {
      contentEncoding: init.contentEncoding ?? "aes128gcm",
      TTL: init.ttl ?? 60,
      ...(init.topic === undefined ? {} : { topic: init.topic }),
      ...(init.vapid ? { vapidDetails: { subject: "mailto:test@example.com", ...init.vapid } } : {}),
    },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(details.headers)) {
    if (name.toLowerCase() !== "content-length") headers[name] = String(value);
  }
  const body = (details.body as Buffer | null) ?? null;
  const response = await fetch(endpoint, { method: "POST", headers, body: body && new Uint8Array(body) });
  return { response, body };
}

export function vapidKeys(): { publicKey: string; privateKey: string } {
  return webpush.generateVAPIDKeys();
}
