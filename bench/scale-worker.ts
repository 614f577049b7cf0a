/**
 * One scale measurement in a fresh process (run with --expose-gc): N idle connections to the
 * local push server (in another process), and the heap and RSS they add, per connection.
 *
 *   scale-worker.ts service N   PushServices, each with its own in-memory store, 2 subscriptions,
 *                               Ready and idle with their ping timers armed
 *   scale-worker.ts ws N        bare `ws` clients, opened and nothing else: the floor
 *
 * The result goes back to the parent over IPC. With BENCH_HEAP_SNAPSHOT=file it also writes a
 * heap snapshot of the idle connections there (for scripts/heap-summary.ts).
 */

import { writeHeapSnapshot } from "node:v8";
import WebSocket from "ws";
import { openMemoryPushDB } from "../src/db/memory.ts";
import { silentLogger } from "../src/log.ts";
import { PushService } from "../src/service/push-service.ts";
import { type ChildServer, collectGarbage, finish, pool, startServerProcess } from "./support.ts";

const CONNECT_CONCURRENCY = 100;
const SUBSCRIPTIONS = 2;

export interface ScaleSample {
  kind: "service" | "ws";
  connections: number;
  heapPerConnectionKB: number;
  rssPerConnectionKB: number;
  /** Connections (with their subscriptions) made per second while ramping up. */
  connectPerSecond: number;
}

async function openServices(server: ChildServer, n: number): Promise<() => Promise<void>> {
  const services: PushService[] = [];
  await pool(
    Array.from({ length: n }, (_, i) => i),
    CONNECT_CONCURRENCY,
    async (i) => {
      const service = new PushService({
        serverURL: server.url,
        db: openMemoryPushDB(),
        logger: silentLogger,
      });
      services.push(service);
      await service.start();
      await service.ready();
      for (let s = 0; s < SUBSCRIPTIONS; s++)
        await service.subscribe({ scope: `https://app${i}.example/${s}` });
    },
  );
  const ready = services.filter((service) => service.state === "Ready").length;
  if (ready !== n) throw new Error(`${ready} of ${n} services are Ready`);
  return async () => {
    await Promise.all(services.map((service) => service.stop()));
  };
}

async function openBareSockets(server: ChildServer, n: number): Promise<() => Promise<void>> {
  const sockets: WebSocket[] = [];
  await pool(
    Array.from({ length: n }, (_, i) => i),
    CONNECT_CONCURRENCY,
    async () => {
      // No subprotocol, like push-agent and every autoconnect client.
      const ws = new WebSocket(server.url);
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
    },
  );
  return async () => {
    for (const ws of sockets) ws.terminate();
  };
}

async function measure(kind: ScaleSample["kind"], n: number): Promise<ScaleSample> {
  // The server's handshake timeout would cut bare sockets that never say hello.
  const server = await startServerProcess({ handshakeTimeout: 600_000 });
  try {
    await collectGarbage();
    const before = process.memoryUsage();
    const start = performance.now();
    const close = kind === "service" ? await openServices(server, n) : await openBareSockets(server, n);
    const seconds = (performance.now() - start) / 1000;
    // Idle for a moment: buffers from the ramp-up are released, timers stay armed.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await collectGarbage();
    const after = process.memoryUsage();
    if (process.env.BENCH_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.BENCH_HEAP_SNAPSHOT);
    const { connections } = await server.stats();
    if (connections < n) throw new Error(`the server sees ${connections} of ${n} connections`);
    await close();
    return {
      kind,
      connections: n,
      heapPerConnectionKB: (after.heapUsed - before.heapUsed) / n / 1024,
      rssPerConnectionKB: (after.rss - before.rss) / n / 1024,
      connectPerSecond: n / seconds,
    };
  } finally {
    await server.close();
  }
}

const [kind, count] = process.argv.slice(2);
if (kind !== "service" && kind !== "ws") throw new Error("usage: scale-worker.ts service|ws N");
finish(await measure(kind, Number(count)));
