/**
 * `push-agent/chromium/testing`: Web Push in a web developer's end-to-end test, in a few lines.
 * webPushForPlaywright / webPushForPuppeteer / webPushForCdp start a local push server on
 * 127.0.0.1 (or use the autopush server given), a PushService with an in-memory store, and attach
 * the Chromium bridge to the test's browser; the page then subscribes for real, the site's own
 * application server sends to the endpoint, and the site's service worker gets real push events.
 *
 * Built only on public entries (PushService, createPushServer, attachPushBridge and the
 * adapters), so everything here can be composed by hand too, for example to give the service
 * Firefox's quota rules. It imports neither playwright-core nor puppeteer-core: the structural
 * types below are what it needs of them.
 */

import {
  attachPushBridge,
  type CdpConnection,
  connectCdp,
  fromPuppeteer,
  type PuppeteerBrowser,
  type PushBridge,
  type PushBridgeOptions,
} from "../chromium/index.ts";
import { type Logger, openMemoryPushDB, PushService, type PushSubscriptionJSON } from "../index.ts";
import { createPushServer, type PushServer, type PushServerOptions } from "../server/index.ts";

/**
 * A Playwright `Browser` or `BrowserContext` (also a persistent one). Only its DevTools port is
 * used: Playwright's own CDP session (`newBrowserCDPSession()`) cannot carry the bridge, because a
 * page the bridge holds paused never finishes Playwright's navigation (see push-agent/chromium).
 */
export type PlaywrightTarget = object;

export interface WebPushForTestsOptions {
  /**
   * The autopush server the PushService connects to, e.g. Mozilla's `wss://push.services.mozilla.com/`
   * (its endpoints are https, so web-push's sendNotification reaches them as is). Default: a local
   * `push-agent serve` started on 127.0.0.1 for the test and closed with it.
   */
  serverURL?: string;
  /** Options for the local push server (ignored with `serverURL` or `service`). */
  pushServer?: PushServerOptions;
  /**
   * Your own PushService (started or not), e.g. with `quota` for Firefox's rules or a durable store.
   * It is started if needed and left running on close(). Default: one with an in-memory store.
   */
  service?: PushService;
  /**
   * Give off-the-record browser contexts push. Default true here: Playwright's
   * `browser.newContext()` and puppeteer's `browser.createBrowserContext()` make such contexts.
   * false gives them NotAllowedError, as a real browser's private mode does.
   */
  allowOffTheRecord?: boolean;
  /** Everything else the bridge takes (allowSilentPush, permission, prompt, timeouts). */
  bridge?: Omit<PushBridgeOptions, "service" | "allowOffTheRecord" | "logger">;
  /** ms the PushService may take to reach the push server. Default 15 000. */
  readyTimeout?: number;
  logger?: Logger;
}

export interface WebPushForTests {
  /** The `ws://` or `wss://` URL the helper's PushService connects to (null with your own `service`). */
  readonly serverURL: string | null;
  /** The local server (null with `serverURL` or `service`): `endpointURL`, `stats()`, `setBroadcast()`. */
  readonly pushServer: PushServer | null;
  readonly service: PushService;
  readonly bridge: PushBridge;
  /** The subscriptions the browser's sites hold, optionally of one origin, as `toJSON()` gives them. */
  subscriptions(origin?: string): Promise<PushSubscriptionJSON[]>;
  /**
   * Resolves with the first subscription of `origin` (e.g. "http://127.0.0.1:5173") once a page or
   * worker of it subscribed; rejects after `timeout` ms (default 15 000).
   */
  waitForSubscription(origin: string, options?: { timeout?: number }): Promise<PushSubscriptionJSON>;
  /** Detach the bridge; stop the service and close the local server when the helper made them. */
  close(): Promise<void>;
}

/**
 * What the helper needs of puppeteer's `Browser`: its DevTools URL. (Typed this loosely because
 * the bridge's PuppeteerBrowser type does not yet accept puppeteer-core 24's Browser as is.)
 */
export interface PuppeteerBrowserLike {
  wsEndpoint(): string;
}

/**
 * Web Push for a Playwright `Browser` or `BrowserContext` (also one from `launchPersistentContext`).
 * Launch the browser with `--remote-debugging-port=PORT` and pass `cdpURL: "http://127.0.0.1:PORT"`
 * (or the URL given to `chromium.connectOverCDP`): the bridge uses a DevTools connection of its own.
 */
export async function webPushForPlaywright(
  _target: PlaywrightTarget,
  options: WebPushForTestsOptions & { cdpURL: string },
): Promise<WebPushForTests> {
  if (typeof options?.cdpURL !== "string" || options.cdpURL === "") {
    throw new TypeError(
      "webPushForPlaywright: cdpURL is required (launch Chromium with --remote-debugging-port=PORT and pass http://127.0.0.1:PORT)",
    );
  }
  return webPushForCdp(await connectCdp(options.cdpURL), options);
}

/**
 * Web Push for a puppeteer `Browser` (every context of it, the default and incognito ones). When
 * the browser has a DevTools WebSocket (`browser.wsEndpoint()`, puppeteer's default) the bridge
 * opens a connection of its own there, so nothing it pauses ever waits on puppeteer's session;
 * a browser launched with `pipe: true` is reached through a session of puppeteer's.
 */
export async function webPushForPuppeteer(
  browser: PuppeteerBrowserLike,
  options: WebPushForTestsOptions = {},
): Promise<WebPushForTests> {
  const wsURL = browser.wsEndpoint();
  const connection = wsURL.startsWith("ws")
    ? await connectCdp(wsURL)
    : await fromPuppeteer(browser as unknown as PuppeteerBrowser);
  return webPushForCdp(connection, options);
}

/**
 * Web Push over any browser-level CdpConnection (`connectCdp(url)`, an adapter). The helper owns
 * the connection from here: close() closes it, and a failed set-up closes it too.
 */
export async function webPushForCdp(
  connection: CdpConnection,
  options: WebPushForTestsOptions = {},
): Promise<WebPushForTests> {
  const undo: (() => Promise<unknown>)[] = [() => connection.close()];
  const rollback = async () => {
    for (const step of undo.reverse()) await step().catch(() => {});
  };
  try {
    let pushServer: PushServer | null = null;
    let service = options.service;
    let serverURL: string | null = null;
    if (!service) {
      serverURL = options.serverURL ?? null;
      if (!serverURL) {
        pushServer = await createPushServer({ host: "127.0.0.1", port: 0, ...options.pushServer });
        const server = pushServer;
        undo.push(() => server.close());
        serverURL = pushServer.url;
      }
      const logger = options.logger;
      service = new PushService({ serverURL, db: openMemoryPushDB(), ...(logger ? { logger } : {}) });
      const owned = service;
      undo.push(() => owned.stop());
    }
    if (service.state === "ShutDown") await service.start();
    await deadline(service.ready(), options.readyTimeout ?? 15_000, "the push server");
    const bridge = await attachPushBridge(connection, {
      ...options.bridge,
      service,
      allowOffTheRecord: options.allowOffTheRecord ?? true,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    undo.push(() => bridge.detach());
    return new TestPush({ service, bridge, pushServer, serverURL }, rollback);
  } catch (error) {
    await rollback();
    throw error;
  }
}

type Parts = Pick<WebPushForTests, "service" | "bridge" | "pushServer" | "serverURL">;

class TestPush implements WebPushForTests {
  readonly service: PushService;
  readonly bridge: PushBridge;
  readonly pushServer: PushServer | null;
  readonly serverURL: string | null;
  readonly #close: () => Promise<void>;
  #closing: Promise<void> | null = null;

  constructor(parts: Parts, close: () => Promise<void>) {
    this.service = parts.service;
    this.bridge = parts.bridge;
    this.pushServer = parts.pushServer;
    this.serverURL = parts.serverURL;
    this.#close = close;
  }

  async subscriptions(origin?: string): Promise<PushSubscriptionJSON[]> {
    const all = await this.service.subscriptions();
    return all.filter((s) => origin === undefined || ownedBy(s.scope, origin)).map((s) => s.toJSON());
  }

  async waitForSubscription(
    origin: string,
    options: { timeout?: number } = {},
  ): Promise<PushSubscriptionJSON> {
    const ms = options.timeout ?? 15_000;
    let stop = () => {};
    const found = new Promise<PushSubscriptionJSON>((resolve, reject) => {
      const check = () => this.subscriptions(origin).then((list) => list[0] && resolve(list[0]), reject);
      stop = this.service.observe("push-subscription-modified", (event) => {
        if (ownedBy(event.scope, origin)) void check();
      });
      void check();
    });
    try {
      return await deadline(found, ms, `a push subscription of ${origin}`);
    } finally {
      stop();
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }
}

/** A PushService scope the bridge stored for a registration of `origin` (any browser context). */
function ownedBy(scope: string, origin: string): boolean {
  return scope.startsWith(`${new URL(origin).origin}/`);
}

function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
