/**
 * Fault 5: sleep and network changes leave a zombie socket. The local push server sits behind a
 * TCP proxy that starts black-holing the live connection (open, silent both ways) while pushes
 * are sent, which the server holds for the user agent. Recovered (a) by the embedder's
 * networkChanged() hook, (b) with no hook by the wall-clock jump of a sleep under fake timers,
 * (c) with neither by the `{}` ping timer (45 s floor), and (d) in Node by the missing server
 * ping frames; (e) and (f) repeat (a) and (d) behind a real HTTP CONNECT proxy (npm `proxy`) that
 * starts black-holing its live tunnel, and the reconnect takes a new tunnel. Every push arrives
 * in each. Counts go to .tmp/reliability/zombie-socket.json.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket, { type ClientOptions } from "ws";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServer, type PushServerOptions } from "../../src/server/index.ts";
import { MIN_PING_INTERVAL } from "../../src/service/connection.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { captureLogger } from "../helpers/logger.ts";
import { startHttpProxy } from "../helpers/proxies.ts";
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

/** What sits between the agent and the server and can black-hole the live connection. */
interface Middlebox {
  blackhole(): void;
  readonly swallowed: number;
  close(): Promise<void>;
}

/**
 * The path to the server: a TCP relay the agent takes for the server ("tcp"), or a real HTTP
 * CONNECT proxy the agent is told to use (`proxy` option), whose tunnels are counted.
 */
async function pathTo(server: PushServer, via: "tcp" | "http-proxy") {
  if (via === "tcp") {
    const relay = await TcpProxy.start(server.port);
    return { box: relay as Middlebox, options: { serverURL: relay.url }, tunnels: () => 0 };
  }
  const proxy = await startHttpProxy();
  const host = new URL(server.url).host;
  return {
    box: proxy as Middlebox,
    options: { serverURL: server.url, proxy: proxy.url },
    tunnels: () => proxy.tunnels.filter((t) => t === host).length,
  };
}

/** A Ready agent behind a proxy, subscribed, with `PUSHES` pushes sent into a black-holed socket. */
async function zombie(
  serverOptions: PushServerOptions,
  serviceOptions: PushServiceOptions,
  beforeBlackhole: () => Promise<void> = async () => {},
  via: "tcp" | "http-proxy" = "tcp",
) {
  const server = await createPushServer({ port: 0, ...serverOptions });
  cleanups.push(() => server.close());
  const { box: proxy, options, tunnels } = await pathTo(server, via);
  cleanups.push(() => proxy.close());
  const logger = captureLogger();
  const service = new PushService({
    ...options,
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
  return {
    server,
    proxy,
    service,
    inbox,
    payloads,
    logger,
    blackholedAt,
    tunnels,
    connections: () => connections,
  };
}

/** networkChanged(), then every held push arrives over a second connection; ms from the hook. */
async function recoverWithHook(run: Awaited<ReturnType<typeof zombie>>): Promise<number> {
  const back = nextState(run.service, "Ready");
  const started = Date.now();
  run.service.networkChanged();
  await back;
  await run.inbox.all(run.payloads);
  expect(run.connections()).toBe(2);
  return Date.now() - started;
}

/** No hook: the agent learns the server's ping period, then notices the pings stop coming. */
async function recoverByMissingPings(via: "tcp" | "http-proxy") {
  // `ws`, counting the server's ping frames the agent sees; it passes on what the proxy layer adds.
  let serverPings = 0;
  const Counting = class extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: ClientOptions) {
      super(url, protocols, options);
      this.on("ping", () => serverPings++);
    }
  } as unknown as WebSocketConstructor;
  const run = await zombie(
    { autoPingInterval: 200 },
    { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0, WebSocket: Counting },
    () => waitFor(() => serverPings >= 3, "three server pings, so the agent knows their period"),
    via,
  );
  // No call: the agent notices by itself, maybe while the pushes are still being sent.
  await run.inbox.all(run.payloads);
  expect(run.connections()).toBe(2);
  expect(run.logger.text()).toMatch(/no server ping for \d+ ms; checking the connection/);
  return run;
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
    const run = await zombie(
      { autoPingInterval: HOUR },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0 },
    );
    const { inbox, payloads, logger } = run;
    const ms = await recoverWithHook(run);
    expect(logger.text()).toMatch(/no answer within 300 ms after the network changed; reconnecting/);
    row(
      "F5a",
      "connection black-holed (open, silent) while pushes are sent; the app calls networkChanged()",
      inbox,
      payloads.length,
      `a WebSocket ping went unanswered for requestTimeout (300 ms), then an immediate reconnect; all ${payloads.length} pushes the server held arrived ${ms} ms after the hook; pingInterval 1 h, no wake check`,
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
    const { inbox, payloads, blackholedAt } = await recoverByMissingPings("tcp");
    row(
      "F5d",
      "connection black-holed while pushes are sent; no hook, the server's WebSocket pings stop arriving",
      inbox,
      payloads.length,
      `server pings every 200 ms learned; missing for 1.5 periods + requestTimeout (300 ms) → a ping frame, unanswered → reconnect; all in ${Date.now() - blackholedAt} ms after the black hole began; all ${payloads.length} held pushes arrived; pingInterval 1 h`,
    );
  });

  it("(e) behind an HTTP proxy that black-holes its tunnel: networkChanged() finds it, the reconnect takes a new tunnel", async () => {
    const run = await zombie(
      { autoPingInterval: HOUR },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0 },
      async () => {},
      "http-proxy",
    );
    const { inbox, payloads, proxy, tunnels } = run;
    const ms = await recoverWithHook(run);
    expect(tunnels()).toBe(2);
    row(
      "F5e",
      "HTTP CONNECT proxy black-holes the live tunnel (open, silent) while pushes are sent; the app calls networkChanged()",
      inbox,
      payloads.length,
      `${proxy.swallowed} bytes swallowed by the proxy; the probe went unanswered for requestTimeout (300 ms), then a reconnect through a new tunnel (${tunnels()} CONNECTs in all); all ${payloads.length} held pushes arrived ${ms} ms after the hook`,
    );
  });

  it("(f) behind an HTTP proxy that black-holes its tunnel, no hook: the missing server pings find it", async () => {
    const { inbox, payloads, blackholedAt, tunnels } = await recoverByMissingPings("http-proxy");
    expect(tunnels()).toBe(2);
    row(
      "F5f",
      "HTTP CONNECT proxy black-holes the live tunnel while pushes are sent; no hook, the server's WebSocket pings stop arriving",
      inbox,
      payloads.length,
      `server pings every 200 ms learned through the proxy; missing → a ping frame, unanswered within requestTimeout (300 ms) → reconnect through a new tunnel (${tunnels()} CONNECTs in all); all ${payloads.length} held pushes arrived ${Date.now() - blackholedAt} ms after the black hole began`,
    );
  });
});
