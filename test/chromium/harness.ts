/**
 * What the Chromium bridge suites share: Debian's Chromium launched with a DevTools port and a
 * profile directory, a "site" written the way sites are written (a page, a service worker, and an
 * application server that sends with `web-push`; it knows nothing of push-agent), and a driver
 * that plays the user: opens pages, grants permissions, stops workers, over its own CDP connection.
 *
 * The site's service worker reports what it received by POSTing to its own server (/received,
 * /changed), which the test waits on: that works with no page of the site open.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import webpush from "web-push";
import { type CdpConnection, connectCdp } from "../../src/chromium/cdp.ts";
import { sendPush } from "../../src/server/index.ts";
import { CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from "../helpers/chromium.ts";

export { CHROMIUM, HAS_CHROMIUM };

export function suiteName(name: string): string {
  if (HAS_CHROMIUM) return name;
  const skipped = `${name} (SKIPPED: no browser at ${CHROMIUM}; apt-get install chromium or set CHROMIUM_PATH)`;
  console.warn(skipped);
  return skipped;
}

/** Launching and the first page take a few seconds on a busy 2-core machine. */
export const SETUP_TIMEOUT = 60_000;
export const WAIT = 20_000;

// ---------------------------------------------------------------------------------------------
// Chromium

export interface LaunchedChromium {
  wsURL: string;
  /** http://127.0.0.1:port, what /json/version answers on. */
  httpURL: string;
  process: ChildProcess;
  close(): Promise<void>;
}

export async function launchChromium(
  userDataDir: string,
  extraArgs: string[] = [],
): Promise<LaunchedChromium> {
  const child = spawn(
    CHROMIUM,
    [
      ...CHROMIUM_ARGS,
      "--remote-debugging-port=0",
      `--user-data-dir=${userDataDir}`,
      ...extraArgs,
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const wsURL = await new Promise<string>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(
      () => reject(new Error(`Chromium did not start: ${text.slice(-500)}`)),
      SETUP_TIMEOUT,
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}): ${text.slice(-500)}`));
    });
  });
  child.stderr?.resume();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    wsURL,
    httpURL: `http://${new URL(wsURL).host}`,
    process: child,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The site

export interface Received {
  isPushEvent: boolean;
  isTrusted: boolean;
  /** base64 of event.data.arrayBuffer(), null when event.data was null. */
  bytes: string | null;
  text: string | null;
  json: unknown;
  dataIsPushMessageData: boolean;
}

export interface Changed {
  oldSubscription: { endpoint: string; keys: { p256dh: string; auth: string } } | null;
  newSubscription: unknown;
  oldIsPushSubscription: boolean;
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>a site</title></head>
<body><script>
  // What a site does: register its worker, subscribe, hand the subscription to its server.
  window.register = async () => {
    await navigator.serviceWorker.register("/sw.js");
    const registration = await navigator.serviceWorker.ready;
    return registration.scope;
  };
  window.subscribe = async (applicationServerKey, userVisibleOnly = true) => {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly, applicationServerKey });
    await fetch("/subscription", { method: "POST", body: JSON.stringify(subscription) });
    return subscription.toJSON();
  };
</script></body></html>`;

const WORKER = `
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
const base64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));
self.addEventListener("push", (event) => {
  const data = event.data;
  let json = null;
  try { json = data ? data.json() : null; } catch {}
  const report = {
    isPushEvent: event instanceof PushEvent,
    isTrusted: event.isTrusted,
    dataIsPushMessageData: data instanceof PushMessageData,
    bytes: data ? base64(data.arrayBuffer()) : null,
    text: data ? data.text() : null,
    json,
  };
  event.waitUntil(fetch("/received", { method: "POST", body: JSON.stringify(report) }));
});
self.addEventListener("pushsubscriptionchange", (event) => {
  const report = {
    oldSubscription: event.oldSubscription ? event.oldSubscription.toJSON() : null,
    oldIsPushSubscription: event.oldSubscription instanceof PushSubscription,
    newSubscription: event.newSubscription,
  };
  event.waitUntil(fetch("/changed", { method: "POST", body: JSON.stringify(report) }));
});
`;

/** A site on its own 127.0.0.1 origin, with its application server's state. */
export class Site {
  readonly origin: string;
  readonly received: Received[] = [];
  readonly changed: Changed[] = [];
  readonly subscriptions: webpush.PushSubscription[] = [];
  readonly vapid = webpush.generateVAPIDKeys();
  readonly #server: Server;
  readonly #waiters = new Set<() => void>();

  private constructor(server: Server) {
    this.#server = server;
    this.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<Site> {
    let site: Site | undefined;
    const server = createServer((request, response) => site?.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    site = new Site(server);
    return site;
  }

  get url(): string {
    return `${this.origin}/`;
  }

  async handle(request: IncomingMessage, response: import("node:http").ServerResponse): Promise<void> {
    if (request.method === "GET") {
      const worker = request.url === "/sw.js";
      if (request.url !== "/" && !worker) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, {
        "content-type": worker ? "text/javascript" : "text/html",
        "cache-control": "no-store",
      });
      response.end(worker ? WORKER : PAGE);
      return;
    }
    let body = "";
    for await (const chunk of request) body += chunk;
    if (request.url === "/received") this.received.push(JSON.parse(body) as Received);
    else if (request.url === "/changed") this.changed.push(JSON.parse(body) as Changed);
    else if (request.url === "/subscription")
      this.subscriptions.push(JSON.parse(body) as webpush.PushSubscription);
    response.writeHead(204).end();
    for (const check of [...this.#waiters]) check();
  }

  /** Resolves when the condition holds; fails after `ms`. */
  until<T>(condition: () => T | undefined | false, what: string, ms = WAIT): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = condition();
        if (!value) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }

  /** The application server sends a push the usual way: web-push's request, VAPID-signed. */
  async send(
    subscription: webpush.PushSubscription,
    payload: string | Uint8Array | null,
    contentEncoding: "aes128gcm" | "aesgcm" = "aes128gcm",
  ): Promise<number> {
    const result = await sendPush(subscription, payload, {
      contentEncoding,
      vapidDetails: { subject: "mailto:site@example.com", ...this.vapid },
    });
    return result.statusCode;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// The user, over the test's own CDP connection

export interface EvalResult<T = unknown> {
  ok: boolean;
  value?: T;
  name?: string;
  message?: string;
}

export class DriverPage {
  constructor(
    readonly cdp: CdpConnection,
    readonly targetId: string,
    readonly sessionId: string,
  ) {}

  /** Run an async expression in the page; rejections come back as {ok: false, name, message}. */
  async run<T = unknown>(expression: string): Promise<EvalResult<T>> {
    const wrapped = `(async () => { try { return { ok: true, value: await (${expression}) }; } catch (e) { return { ok: false, name: e && e.name, message: e && e.message }; } })()`;
    const result = await this.cdp.send(
      "Runtime.evaluate",
      { expression: wrapped, awaitPromise: true, returnByValue: true },
      this.sessionId,
    );
    const remote = result.result as { value?: EvalResult<T> };
    if (!remote?.value)
      throw new Error(`evaluate failed: ${JSON.stringify(result.exceptionDetails ?? result)}`);
    return remote.value;
  }

  /** Like run(), but the expression must succeed. */
  async value<T = unknown>(expression: string): Promise<T> {
    const result = await this.run<T>(expression);
    if (!result.ok) throw new Error(`${expression} failed: ${result.name}: ${result.message}`);
    return result.value as T;
  }

  async close(): Promise<void> {
    await this.cdp.send("Target.closeTarget", { targetId: this.targetId }).catch(() => {});
  }
}

export class Driver {
  constructor(readonly cdp: CdpConnection) {}

  static async connect(wsURL: string): Promise<Driver> {
    return new Driver(await connectCdp(wsURL));
  }

  /**
   * Open a tab on `url` the way a user does (the browser creates it with the URL, so the bridge's
   * auto-attach holds it before the first document runs) and wait until that document loaded.
   */
  async open(url: string, browserContextId?: string): Promise<DriverPage> {
    const created = await this.cdp.send(
      "Target.createTarget",
      browserContextId ? { url, browserContextId } : { url },
    );
    const targetId = String(created.targetId);
    const attached = await this.cdp.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new DriverPage(this.cdp, targetId, String(attached.sessionId));
    await this.cdp.send("Page.enable", {}, page.sessionId);
    const deadline = Date.now() + WAIT;
    for (;;) {
      const loaded = this.#event("Page.loadEventFired", page.sessionId);
      loaded.catch(() => {});
      const state = await page
        .run<{ href: string; ready: string }>("({ href: location.href, ready: document.readyState })")
        .catch(() => null);
      if (state?.ok && state.value?.href === url && state.value.ready === "complete") {
        if (url.startsWith("http")) await this.#bridged(page, deadline);
        return page;
      }
      if (Date.now() > deadline) throw new Error(`${url} did not load`);
      await loaded;
    }
  }

  /**
   * The bridge's shim is in the page. A tab the browser opens straight on a URL may commit its
   * first document while the bridge is still setting the tab up; the shim then follows a moment
   * later. Each check is one round trip; the deadline turns a missing bridge into a failure.
   */
  async #bridged(page: DriverPage, deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      const native = await page.value<boolean>(
        "PushManager.prototype.getSubscription.toString().includes('[native code]')",
      );
      if (!native) return;
    }
    throw new Error("the bridge never instrumented the page");
  }

  async grant(
    origin: string,
    setting: "granted" | "denied" | "prompt",
    browserContextId?: string,
  ): Promise<void> {
    await this.cdp.send("Browser.setPermission", {
      origin,
      permission: { name: "notifications" },
      setting,
      ...(browserContextId ? { browserContextId } : {}),
    });
  }

  /** Stop every service worker (needs a page session: the ServiceWorker domain lives there). */
  async stopAllWorkers(page: DriverPage): Promise<void> {
    await this.cdp.send("ServiceWorker.enable", {}, page.sessionId);
    await this.cdp.send("ServiceWorker.stopAllWorkers", {}, page.sessionId);
  }

  #event(method: string, sessionId: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`timed out waiting for ${method}`));
      }, WAIT);
      const stop = this.cdp.onEvent((event) => {
        if (event.method !== method || event.sessionId !== sessionId) return;
        clearTimeout(timer);
        stop();
        resolve(event.params);
      });
    });
  }

  async close(): Promise<void> {
    await this.cdp.close();
  }
}

/** base64 (as the site's worker reports bytes) of a payload. */
export function base64(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString("base64");
}
