/**
 * One start-up measurement in a fresh process: `startup-worker.ts <store> <subscriptions> <runs>`.
 * A PushService registers `subscriptions` channels with the local push server (in its own
 * process) and stops; then, `runs` times, a new PushService on the same stored data goes from
 * `start()` to Ready: the store opened, every record read for the hello, the hello answered
 * with the same uaid, the records checked for keys. For the durable store the timed window
 * includes opening the database.
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
import type { StoreKind } from "./e2e-worker.ts";
import { finish, pool, startServerProcess } from "./support.ts";

const SUBSCRIBE_CONCURRENCY = 50;

export interface StartupResult {
  /** Milliseconds from start() to Ready, one per run. */
  runs: number[];
  /** How long registering the subscriptions took, for the record. */
  subscribeMs: number;
}

/** Opens the stored data afresh each time, as a restarted host would. */
interface Reopenable {
  open(): Promise<{ options: Pick<PushServiceOptions, "db" | "indexedDB">; close(): Promise<void> }>;
  destroy(): Promise<void>;
}

async function reopenable(kind: StoreKind): Promise<Reopenable> {
  const none = async () => {};
  if (kind === "memory") {
    const storage = createMemoryStorage();
    return { open: async () => ({ options: { db: openMemoryPushDB(storage) }, close: none }), destroy: none };
  }
  if (kind === "indexeddb") {
    const indexedDB = new IDBFactory();
    return { open: async () => ({ options: { indexedDB }, close: none }), destroy: none };
  }
  const dir = await mkdtemp(path.join(tmpdir(), "push-agent-startup-"));
  const { openLevelPushDB } = await import("../src/db/level.ts");
  return {
    open: async () => {
      const db: PushDB = await openLevelPushDB(dir);
      return { options: { db }, close: () => db.close() };
    },
    destroy: () => rm(dir, { recursive: true, force: true }),
  };
}

async function populate(serverURL: string, store: Reopenable, count: number): Promise<number> {
  const started = performance.now();
  const opened = await store.open();
  const service = new PushService({ serverURL, logger: silentLogger, ...opened.options });
  await service.start();
  await service.ready();
  const scopes = Array.from({ length: count }, (_, i) => `https://app${i}.example/`);
  await pool(scopes, SUBSCRIBE_CONCURRENCY, async (scope) => {
    await service.subscribe({ scope });
  });
  await service.stop();
  await opened.close();
  return performance.now() - started;
}

async function timeStart(serverURL: string, store: Reopenable, count: number): Promise<number> {
  const started = performance.now();
  const opened = await store.open();
  const service = new PushService({ serverURL, logger: silentLogger, ...opened.options });
  await service.start();
  await service.ready();
  const elapsed = performance.now() - started;
  // The same uaid came back, so nothing was dropped: the figure is for a real warm restart.
  const kept = (await service.subscriptions()).length;
  await service.stop();
  await opened.close();
  if (kept !== count) throw new Error(`${kept} of ${count} subscriptions survived the restart`);
  return elapsed;
}

const [kind, subscriptions, runs] = process.argv.slice(2);
if (kind !== "memory" && kind !== "indexeddb" && kind !== "level")
  throw new Error("usage: startup-worker.ts memory|indexeddb|level SUBSCRIPTIONS RUNS");
const count = Number(subscriptions);
const server = await startServerProcess({ handshakeTimeout: 600_000 });
const store = await reopenable(kind);
const result: StartupResult = { runs: [], subscribeMs: 0 };
try {
  result.subscribeMs = await populate(server.url, store, count);
  // One start that is not counted: JIT and the server's first look-up of this uaid.
  await timeStart(server.url, store, count);
  for (let i = 0; i < Number(runs); i++) result.runs.push(await timeStart(server.url, store, count));
} finally {
  await store.destroy();
  await server.close();
}
finish(result);
