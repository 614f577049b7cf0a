/**
 * The decryptWorkers option: decryption on worker threads keeps every delivery rule
 * of the main-thread path. Against the local push server, 300 stored pushes over 3 subscriptions
 * reach the app in send order per subscription, each acked only after its observer returned, and
 * nothing twice; the pool's threads end once the last service using them stopped. The crypto
 * suites run every vector on the pool backend as well (test/crypto/helpers.ts).
 */

import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { runningDecryptWorkers } from "../../src/crypto/worker-pool.ts";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { silentLogger } from "../../src/log.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { sendPush } from "../../src/server/send.ts";
import { PushService } from "../../src/service/push-service.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { waitFor } from "../faults/support/local.ts";

let server: PushServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A `ws` client that records every ack frame's version as it is handed to the socket. */
function recordingSocket(acked: string[]): WebSocketConstructor {
  return class extends WebSocket {
    override send(data: unknown, ...rest: unknown[]): void {
      const text = String(data);
      if (text.startsWith('{"messageType":"ack"')) acked.push(JSON.parse(text).updates[0].version);
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  } as unknown as WebSocketConstructor;
}

describe("decryptWorkers", () => {
  it("keeps order per subscription, acks after the observer, delivers once; threads end on stop", async () => {
    server = await createPushServer({ port: 0, maxStoredPerUser: 1000, msgLimit: 10_000 });
    const storage = createMemoryStorage();
    const options = { serverURL: server.url, logger: silentLogger, decryptWorkers: 2 };
    const first = new PushService({ ...options, db: openMemoryPushDB(storage) });
    await first.start();
    await first.ready();
    const scopes = ["https://a.example/", "https://b.example/", "https://c.example/"];
    const subscriptions = await Promise.all(scopes.map((scope) => first.subscribe({ scope })));
    await first.stop();
    expect(runningDecryptWorkers()).toBe(0);

    const perScope = 100;
    for (let i = 0; i < perScope; i++) {
      for (const subscription of subscriptions) {
        const result = await sendPush(subscription.toJSON(), `${subscription.scope} ${i}`, { TTL: 600 });
        expect(result.statusCode).toBe(201);
      }
    }

    const acked: string[] = [];
    const received = new Map<string, number[]>(scopes.map((scope) => [scope, []]));
    const ackedBeforeObserver: string[] = [];
    const second = new PushService({
      ...options,
      db: openMemoryPushDB(storage),
      WebSocket: recordingSocket(acked),
    });
    let done!: () => void;
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    let count = 0;
    second.observe("push-message", async ({ scope, messageId, data }) => {
      received.get(scope)!.push(Number(data!.text().split(" ")[1]));
      // An observer that takes a moment: its ack must still wait for it.
      await new Promise((resolve) => setImmediate(resolve));
      if (acked.includes(messageId)) ackedBeforeObserver.push(messageId);
      if (++count === perScope * scopes.length) done();
    });
    await second.start();
    await all;
    while (acked.length < perScope * scopes.length) await new Promise((resolve) => setImmediate(resolve));
    expect(runningDecryptWorkers()).toBe(2);
    // The server drops a batch once all of it is acked: everything acked means nothing stored.
    await waitFor(() => server!.stats().storedMessages === 0, "the server to drop every acked message");
    await second.stop();

    const inOrder = Array.from({ length: perScope }, (_, i) => i);
    for (const scope of scopes) expect(received.get(scope)).toEqual(inOrder);
    expect(ackedBeforeObserver).toEqual([]);
    expect(new Set(acked).size).toBe(acked.length);
    expect(runningDecryptWorkers()).toBe(0);
  });

  it("rejects a thread count that is not an integer from 0 to 16", () => {
    for (const bad of [-1, 1.5, 17, Number.NaN]) {
      expect(() => new PushService({ db: openMemoryPushDB(), decryptWorkers: bad })).toThrow(
        /decryptWorkers must be an integer from 0 to 16/,
      );
    }
  });
});
