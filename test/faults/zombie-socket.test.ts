/**
 * Fault 5: sleep and network changes leave a zombie socket. The local push server sits behind a
 * TCP proxy that starts black-holing the live connection (open, silent both ways) while pushes
 * are sent, which the server holds for the user agent. Recovered (a) by the embedder's
 * networkChanged() hook, (b) with no hook by the wall-clock jump of a sleep under fake timers,
 * (c) with neither by the `{}` ping timer (45 s floor), and (d) in Node by the missing server
 * ping frames. Every push arrives in each. Counts go to .tmp/reliability/zombie-socket.json.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServerOptions } from "../../src/server/index.ts";
import { MIN_PING_INTERVAL } from "../../src/service/connection.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { captureLogger } from "../helpers/logger.ts";
import { Inbox, nextState, send, waitFor } from "./support/local.ts";
import { TcpProxy } from "./support/proxy.ts";
import { CrashCounter, ReliabilityLog, SLOW } from "./support/report.ts";

const PUSHES = SLOW ? 50 : 10;
const HOUR = 3_600_000;

const log = new ReliabilityLog("zombie-socket");
const crashes = new CrashCounter();
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => void crashes.install());
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  crashes.uninstall();
  log.write();
});

/** A Ready agent behind a proxy, subscribed, with `PUSHES` pushes sent into a black-holed socket. */
async function zombie(
  serverOptions: PushServerOptions,
  serviceOptions: PushServiceOptions,
  beforeBlackhole: () => Promise<void> = async () => {},
) {
  const server = await createPushServer({ port: 0, ...serverOptions });
  cleanups.push(() => server.close());
  const proxy = await TcpProxy.start(server.port);
  cleanups.push(() => proxy.close());
  const logger = captureLogger();
  const service = new PushService({
    serverURL: proxy.url,
    db: openMemoryPushDB(createMemoryStorage()),
    logger,
    ...serviceOptions,
  });
  cleanups.push(() => service.stop());
  const inbox = new Inbox(service);
  let connections = 0;
  service.observe("state-change", ({ state }) => {
    if (state === "Ready") connections++;
  });
  await service.start();
  await service.ready();
  const subscription = await service.subscribe({ scope: "https://zombie.example/" });
  await beforeBlackhole();
  proxy.blackhole();
  const blackholedAt = Date.now();
  const payloads = Array.from({ length: PUSHES }, (_, i) => `zombie ${i}`);
  for (const payload of payloads) await send(subscription, payload, { vapid: false });
  // The server took them all; none can reach the agent over the dead path.
  await waitFor(() => proxy.swallowed > 0, "the pushes to go into the black hole");
  expect(inbox.total).toBe(0);
  return { server, proxy, service, inbox, payloads, logger, blackholedAt, connections: () => connections };
}

function row(id: string, title: string, inbox: Inbox, sent: number, notes: string) {
  expect(inbox.distinct).toBe(sent);
  expect(crashes.total).toBe(0);
  log.add({
    id,
    category: "fault",
    title,
    runs: 1,
    sent,
    delivered: inbox.distinct,
    duplicated: inbox.duplicates,
    lost: sent - inbox.distinct,
    crashes: crashes.total,
    notes,
  });
}

describe("fault 5: a zombie socket after sleep or a network change", () => {
  it("(a) the embedder's networkChanged() finds it at once and every held push arrives", async () => {
    const { service, inbox, payloads, logger, connections } = await zombie(
      { autoPingInterval: HOUR },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0 },
    );
    const back = nextState(service, "Ready");
    const started = Date.now();
    service.networkChanged();
    await back;
    await inbox.all(payloads);
    expect(connections()).toBe(2);
    expect(logger.text()).toMatch(/no answer within 300 ms after the network changed; reconnecting/);
    row(
      "F5a",
      "connection black-holed (open, silent) while pushes are sent; the app calls networkChanged()",
      inbox,
      payloads.length,
      `a WebSocket ping went unanswered for requestTimeout (300 ms), then an immediate reconnect; all ${payloads.length} pushes the server held arrived ${Date.now() - started} ms after the hook; pingInterval 1 h, no wake check`,
    );
  });

  it("(b) no hook: a sleep shows as a wall-clock jump under fake timers, and the same recovery follows", async () => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
      shouldAdvanceTime: true,
    });
    const { service, inbox, payloads, logger, connections } = await zombie(
      { autoPingInterval: HOUR },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 10_000 },
    );
    const back = nextState(service, "Ready");
    // The machine sleeps for two hours: timers do not run, the wall clock does.
    vi.setSystemTime(Date.now() + 2 * HOUR);
    await vi.advanceTimersByTimeAsync(10_000);
    await back;
    await inbox.all(payloads);
    expect(connections()).toBe(2);
    expect(logger.text()).toMatch(/the clock jumped 7\d{3} s \(woke up\?\)/);
    row(
      "F5b",
      "connection black-holed while pushes are sent; no hook, the machine sleeps 2 h (clock jump, fake timers)",
      inbox,
      payloads.length,
      `the 10 s wake check saw the clock jump, probed, and reconnected after requestTimeout; all ${payloads.length} held pushes arrived; pingInterval 1 h`,
    );
  });

  it("(c) no hook, no jump: the {} ping after pingInterval (45 s floor) finds it", async () => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
      shouldAdvanceTime: true,
    });
    const { service, inbox, payloads, connections } = await zombie(
      { autoPingInterval: HOUR },
      { requestTimeout: 1_000, pingInterval: MIN_PING_INTERVAL, wakeCheckInterval: 10_000 },
    );
    const back = nextState(service, "Ready");
    await vi.advanceTimersByTimeAsync(MIN_PING_INTERVAL);
    await vi.advanceTimersByTimeAsync(2_000);
    await back;
    await inbox.all(payloads);
    expect(connections()).toBe(2);
    row(
      "F5c",
      "connection black-holed while pushes are sent; no hook and no clock jump (fake timers)",
      inbox,
      payloads.length,
      `the {} ping after 45 s of silence went unanswered within requestTimeout (1 s, checked every 1 s); an immediate reconnect; all ${payloads.length} held pushes arrived`,
    );
  });

  it("(d) in Node, server ping frames that stop coming find it long before pingInterval", async () => {
    // `ws`, counting the server's ping frames the agent sees.
    let serverPings = 0;
    const Counting = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        this.on("ping", () => serverPings++);
      }
    } as unknown as WebSocketConstructor;
    const { inbox, payloads, logger, blackholedAt, connections } = await zombie(
      { autoPingInterval: 200 },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0, WebSocket: Counting },
      () => waitFor(() => serverPings >= 3, "three server pings, so the agent knows their period"),
    );
    // No call: the agent notices by itself, maybe while the pushes are still being sent.
    await inbox.all(payloads);
    expect(connections()).toBe(2);
    expect(logger.text()).toMatch(/no server ping for \d+ ms; checking the connection/);
    row(
      "F5d",
      "connection black-holed while pushes are sent; no hook, the server's WebSocket pings stop arriving",
      inbox,
      payloads.length,
      `server pings every 200 ms learned; missing for 1.5 periods + requestTimeout (300 ms) → a ping frame, unanswered → reconnect; all in ${Date.now() - blackholedAt} ms after the black hole began; all ${payloads.length} held pushes arrived; pingInterval 1 h`,
    );
  });
});
