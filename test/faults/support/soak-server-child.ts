/**
 * The server side of the soak (soak.ts): the local push server and the application server that
 * pushes to it, in a process of their own. Between them and the network sits a small TCP front
 * on a fixed port, so the soak can "restart" the server: the front closes its listener and
 * destroys every connection (WebSockets and HTTP alike, the port refuses connections) and then
 * listens again on the same port, while the hub and its in-memory store live on in this process,
 * as autopush's storage survives a restart of its connection nodes. A push counts as accepted
 * only once the endpoint answered 201.
 *
 * IPC in:  { type: "push", batch: [{ id, subscription }] } → { type: "pushed", accepted, refused }
 *          { type: "restart" } → { type: "restarted", dropped }
 *          { type: "stats" } → { type: "stats", stats }   { type: "close" } (exits)
 * IPC out: { type: "ready", url } first.
 *
 * Run: node --import tsx --conditions=push-agent-source soak-server-child.ts
 */

import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { createPushServer, type PushServer } from "../../../src/server/index.ts";
import { sendPush } from "../../../src/server/send.ts";

export interface SoakPush {
  id: number;
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
}

export type SoakServerCommand =
  | { type: "push"; batch: SoakPush[] }
  | { type: "restart" }
  | { type: "stats" }
  | { type: "close" };

export type SoakServerRequest = SoakServerCommand & { seq: number };

export type SoakServerStats = ReturnType<PushServer["stats"]> & {
  frontConnections: number;
  /** Uncaught exceptions and unhandled rejections in this process (counted, then carried on). */
  crashes: number;
};

export type SoakServerReply =
  | { type: "ready"; url: string }
  | { type: "pushed"; seq: number; accepted: number[]; refused: number[] }
  | { type: "restarted"; seq: number; dropped: number }
  | { type: "stats"; seq: number; stats: SoakServerStats };

const PUSH_CONCURRENCY = 32;

/** The TCP front: forwards every connection to the server's real port. */
class Front {
  #server: Server | null = null;
  #port = 0;
  target = 0;
  readonly #sockets = new Set<Socket>();

  get port(): number {
    return this.#port;
  }

  get live(): number {
    return this.#sockets.size;
  }

  async listen(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stop listening and drop every connection; returns how many sockets were dropped. */
  async close(): Promise<number> {
    const server = this.#server;
    this.#server = null;
    const dropped = this.#sockets.size;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    return dropped;
  }

  #accept(client: Socket): void {
    const upstream = connect(this.target, "127.0.0.1");
    const drop = () => {
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("error", drop);
      socket.on("close", drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

const send = (message: SoakServerReply) => process.send?.(message);

// Counted for the soak's crash figure; the process carries on so the count reaches the report.
let crashes = 0;
const countCrash = (error: unknown) => {
  crashes++;
  process.stderr.write(`soak server: ${error instanceof Error ? error.stack : String(error)}\n`);
};
process.on("uncaughtException", countCrash);
process.on("unhandledRejection", countCrash);

const front = new Front();
await front.listen();
const base = `http://127.0.0.1:${front.port}`;
const server = await createPushServer({ port: 0, endpointURL: base });
front.target = server.port;

async function pushAll(seq: number, batch: SoakPush[]): Promise<void> {
  const accepted: number[] = [];
  const refused: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < batch.length) {
      const push = batch[next++]!;
      try {
        const result = await sendPush(push.subscription, `soak ${push.id}`, {
          TTL: 86_400,
          contentEncoding: "aes128gcm",
        });
        (result.statusCode === 201 ? accepted : refused).push(push.id);
      } catch {
        refused.push(push.id);
      }
    }
  };
  await Promise.all(Array.from({ length: PUSH_CONCURRENCY }, worker));
  send({ type: "pushed", seq, accepted, refused });
}

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  await front.close();
  await server.close();
  process.disconnect?.();
  process.exit(0);
}

process.on("message", (message: SoakServerRequest) => {
  const { seq } = message;
  if (message.type === "push") void pushAll(seq, message.batch);
  if (message.type === "restart") {
    void (async () => {
      const dropped = await front.close();
      await front.listen();
      send({ type: "restarted", seq, dropped });
    })();
  }
  if (message.type === "stats") {
    send({ type: "stats", seq, stats: { ...server.stats(), frontConnections: front.live, crashes } });
  }
  if (message.type === "close") void close();
});
process.on("disconnect", () => void close());
send({ type: "ready", url: `ws://127.0.0.1:${front.port}/` });
