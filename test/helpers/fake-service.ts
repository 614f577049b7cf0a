/**
 * A PushService on an in-memory store against a FakeAutopush, under vitest's fake timers: start
 * it, wait for Ready, subscribe, all in simulated time. `until()` advances the fake clock in
 * small steps and lets real I/O (key generation) run between them.
 */

import { vi } from "vitest";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import type { PushDB } from "../../src/db/push-db.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import { FakeAutopush } from "./fake-autopush.ts";
import { captureLogger } from "./logger.ts";

export const FAKE_TIMERS = ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] as const;

const realTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Advance fake time `step` ms at a time until `done()` holds; fails after `limitMs` of fake time. */
export async function until(done: () => boolean, limitMs = 60_000, step = 10): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limitMs} ms of fake time`);
    await vi.advanceTimersByTimeAsync(step);
    await realTurn();
  }
}

export interface FakeServiceHarness {
  service: PushService;
  server: FakeAutopush;
  db: PushDB;
  logger: ReturnType<typeof captureLogger>;
}

export function fakeService(
  options: PushServiceOptions = {},
  server = new FakeAutopush(),
  db: PushDB = openMemoryPushDB(createMemoryStorage()),
): FakeServiceHarness {
  const logger = captureLogger();
  const service = new PushService({
    serverURL: "wss://push.example/",
    WebSocket: server.WebSocket,
    db,
    logger,
    wakeCheckInterval: 0,
    ...options,
  });
  return { service, server, db, logger };
}

/** Start, wait for Ready, subscribe `scope`; returns its channelID. */
export async function startAndSubscribe(harness: FakeServiceHarness, scope: string): Promise<string> {
  const { service, server } = harness;
  await service.start();
  await until(() => service.state === "Ready");
  let subscribed = false;
  const pending = service.subscribe({ scope }).then((s) => {
    subscribed = true;
    return s;
  });
  await until(() => subscribed);
  await pending;
  const register = server.framesOf("register").at(-1);
  if (!register) throw new Error("no register frame");
  return String(register.frame.channelID);
}
