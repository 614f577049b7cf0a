/**
 * Fault 5e/5f: the zombie socket behind a proxy. The user agent reaches the local push server
 * through a real HTTP CONNECT proxy (npm `proxy`), which starts black-holing its live tunnels
 * (open, silent both ways) while pushes are sent, which the server holds. Recovered (e) by the
 * embedder's networkChanged() hook, (f) with no hook by the missing server ping frames; the
 * reconnect goes through the proxy again. Every push arrives in each. Counts go to
 * .tmp/reliability/proxy-blackhole.json.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { type ClientOptions } from "ws";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServerOptions } from "../../src/server/index.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { captureLogger } from "../helpers/logger.ts";
import { startHttpProxy } from "../helpers/proxies.ts";
import { Inbox, nextState, send, waitFor } from "./support/local.ts";
import { CrashCounter, ReliabilityLog, SLOW } from "./support/report.ts";

const PUSHES = SLOW ? 50 : 10;
const HOUR = 3_600_000;

const log = new ReliabilityLog("proxy-blackhole");
const crashes = new CrashCounter();
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => void crashes.install());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  crashes.uninstall();
  log.write();
});

/** A Ready agent connected through the proxy, subscribed, with `PUSHES` pushes sent into a black hole. */
async function zombieBehindProxy(serverOptions: PushServerOptions, serviceOptions: PushServiceOptions) {
  const server = await createPushServer({ port: 0, ...serverOptions });
  cleanups.push(() => server.close());
  const proxy = await startHttpProxy();
  cleanups.push(() => proxy.close());
  const logger = captureLogger();
  const service = new PushService({
    serverURL: server.url,
    proxy: proxy.url,
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
  const subscription = await service.subscribe({ scope: "https://proxy-zombie.example/" });
  return { server, proxy, service, inbox, logger, subscription, connections: () => connections };
}

async function blackholeAndSend(run: Awaited<ReturnType<typeof zombieBehindProxy>>): Promise<string[]> {
  run.proxy.blackhole();
  const payloads = Array.from({ length: PUSHES }, (_, i) => `proxied zombie ${i}`);
  // The pushes go to the endpoint directly; only the agent's socket is behind the proxy.
  for (const payload of payloads) await send(run.subscription, payload, { vapid: false });
  await waitFor(() => run.proxy.swallowed > 0, "the pushes to go into the proxy's black hole");
  expect(run.inbox.total).toBe(0);
  return payloads;
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

const target = (url: string) => new URL(url).host;

describe("fault 5e/5f: an HTTP proxy that starts black-holing", () => {
  it("(e) the embedder's networkChanged() finds it, and the reconnect goes through the proxy again", async () => {
    const run = await zombieBehindProxy(
      { autoPingInterval: HOUR },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0 },
    );
    const payloads = await blackholeAndSend(run);
    const back = nextState(run.service, "Ready");
    const started = Date.now();
    run.service.networkChanged();
    await back;
    await run.inbox.all(payloads);
    expect(run.connections()).toBe(2);
    const tunnels = run.proxy.tunnels.filter((t) => t === target(run.server.url)).length;
    expect(tunnels).toBe(2);
    row(
      "F5e",
      "HTTP CONNECT proxy black-holes the live tunnel (open, silent) while pushes are sent; the app calls networkChanged()",
      run.inbox,
      payloads.length,
      `${run.proxy.swallowed} bytes swallowed by the proxy; the probe went unanswered for requestTimeout (300 ms), then a reconnect through a new tunnel (${tunnels} CONNECTs in all); all ${payloads.length} held pushes arrived ${Date.now() - started} ms after the hook`,
    );
  });

  it("(f) no hook: the server's ping frames stop coming through the proxy, and the agent notices", async () => {
    // `ws`, counting the server's ping frames; it passes on the options the proxy layer adds.
    let serverPings = 0;
    const Counting = class extends WebSocket {
      constructor(url: string, protocols?: string | string[], options?: ClientOptions) {
        super(url, protocols, options);
        this.on("ping", () => serverPings++);
      }
    } as unknown as WebSocketConstructor;
    const run = await zombieBehindProxy(
      { autoPingInterval: 200 },
      { requestTimeout: 300, pingInterval: HOUR, wakeCheckInterval: 0, WebSocket: Counting },
    );
    await waitFor(
      () => serverPings >= 3,
      "three server pings through the proxy, so the agent knows their period",
    );
    const blackholedAt = Date.now();
    const payloads = await blackholeAndSend(run);
    await run.inbox.all(payloads);
    expect(run.connections()).toBe(2);
    expect(run.logger.text()).toMatch(/no server ping for \d+ ms; checking the connection/);
    const tunnels = run.proxy.tunnels.filter((t) => t === target(run.server.url)).length;
    row(
      "F5f",
      "HTTP CONNECT proxy black-holes the live tunnel while pushes are sent; no hook, the server's WebSocket pings stop arriving",
      run.inbox,
      payloads.length,
      `server pings every 200 ms learned through the proxy; missing → a ping frame, unanswered within requestTimeout (300 ms) → reconnect through a new tunnel (${tunnels} CONNECTs in all); all ${payloads.length} held pushes arrived ${Date.now() - blackholedAt} ms after the black hole began`,
    );
  });
});
