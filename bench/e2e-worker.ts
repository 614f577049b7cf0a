/**
 * One end-to-end variant in a fresh process: `e2e-worker.ts <store> <subscriptions> <runs>
 * <messages>`. The local push server (in its own process) stores `messages` 3 KB aes128gcm
 * pushes for an offline PushService, then streams them to it when it connects. Per run: messages
 * per second from the first notification frame to the last ack, latency from frame arrival to
 * the observer call, and how busy this process's CPU was meanwhile.
 *
 * Nothing in the library is changed for this: a `ws` subclass passed as the `WebSocket` option
 * timestamps each frame as it arrives and each ack as it leaves.
 */

import "fake-indexeddb/auto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { IDBFactory } from "fake-indexeddb";
import { createMemoryStorage, openMemoryPushDB } from "../src/db/memory.ts";
import type { PushDB } from "../src/db/push-db.ts";
import { silentLogger } from "../src/log.ts";
import { PushService, type PushServiceOptions } from "../src/service/push-service.ts";
import { fill, Probe, type Target } from "./delivery-probe.ts";
import { type ChildServer, finish, percentile, startServerProcess } from "./support.ts";

/** A first, smaller run that is not counted: JIT, the store's first writes, the server's first connection. */
const WARM_UP_MESSAGES = 2_000;

export type StoreKind = "memory" | "indexeddb" | "level";

interface Store {
  options(): Pick<PushServiceOptions, "db" | "indexedDB">;
  close(): Promise<void>;
}

async function openStore(kind: StoreKind): Promise<Store> {
  if (kind === "memory") {
    const storage = createMemoryStorage();
    return { options: () => ({ db: openMemoryPushDB(storage) }), close: async () => {} };
  }
  if (kind === "indexeddb") {
    const indexedDB = new IDBFactory();
    return { options: () => ({ indexedDB }), close: async () => {} };
  }
  const dir = await mkdtemp(path.join(tmpdir(), "push-agent-bench-"));
  const { openLevelPushDB } = await import("../src/db/level.ts");
  const db: PushDB = await openLevelPushDB(dir);
  return {
    options: () => ({ db }),
    close: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Subscribe while online, then go offline: what the server is then sent, it stores. */
async function subscribeOffline(server: ChildServer, store: Store, count: number): Promise<Target[]> {
  const service = new PushService({ serverURL: server.url, logger: silentLogger, ...store.options() });
  await service.start();
  await service.ready();
  const targets: Target[] = [];
  for (let i = 0; i < count; i++) {
    const subscription = await service.subscribe({ scope: `https://bench.example/${i}/` });
    const json = subscription.toJSON();
    targets.push({ endpoint: json.endpoint, keys: json.keys as Target["keys"] });
  }
  await service.stop();
  return targets;
}

export interface RunResult {
  rate: number;
  /** Share of the window this process's CPU was busy (1 = one core all the time). */
  busy: number;
  p50: number;
  p99: number;
}

async function run(
  server: ChildServer,
  kind: StoreKind,
  subscriptions: number,
  messages: number,
): Promise<RunResult> {
  const store = await openStore(kind);
  try {
    const targets = await subscribeOffline(server, store, subscriptions);
    await fill(targets, messages);
    const { storedMessages } = await server.stats();
    if (storedMessages < messages) throw new Error(`the server stored ${storedMessages} of ${messages}`);
    const probe = new Probe(messages);
    const service = new PushService({
      serverURL: server.url,
      logger: silentLogger,
      WebSocket: probe.socket(),
      ...store.options(),
    });
    service.observe("push-message", ({ messageId }) => {
      probe.observed.set(messageId, performance.now());
    });
    const profile = await startProfile();
    await service.start();
    await probe.done;
    await profile?.stop(`${kind}_${subscriptions}sub`);
    await service.stop();
    const latencies: number[] = [];
    for (const [id, at] of probe.observed) latencies.push(at - probe.arrived.get(id)!);
    return {
      rate: (messages * 1000) / (probe.lastAck - probe.firstFrame),
      busy: (probe.cpu!.user + probe.cpu!.system) / 1000 / (probe.lastAck - probe.firstFrame),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  } finally {
    await store.close();
  }
}

/** BENCH_PROFILE=dir: a CPU profile of each delivery window (set-up and filling left out). */
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | null> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return null;
  const { Session } = await import("node:inspector/promises");
  const { writeFile } = await import("node:fs/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return {
    async stop(name) {
      const { profile } = await session.post("Profiler.stop");
      await writeFile(path.join(dir, `${name}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

const [kind, subscriptions, runs, messages] = process.argv.slice(2);
if (kind !== "memory" && kind !== "indexeddb" && kind !== "level")
  throw new Error("usage: e2e-worker.ts memory|indexeddb|level SUBSCRIPTIONS RUNS MESSAGES");
const server = await startServerProcess({ maxStoredPerUser: Number(messages) + 1000, msgLimit: 1e9 });
const results: RunResult[] = [];
try {
  await run(server, kind, Number(subscriptions), Math.min(WARM_UP_MESSAGES, Number(messages)));
  for (let i = 0; i < Number(runs); i++) {
    results.push(await run(server, kind, Number(subscriptions), Number(messages)));
  }
} finally {
  await server.close();
}
finish(results);
