/**
 * The bridge through what embedders and test frameworks hold: puppeteer-core's Browser,
 * Playwright (a persistent context, reached through DevToolsActivePort), and an
 * Electron `webContents.debugger` stand-in (attach, sendCommand with a sessionId, the 'message'
 * and 'detach' events) backed by a real page session of Chromium. Each uses Debian's Chromium as
 * its executable; nothing downloads a browser.
 */

import { EventEmitter } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium as playwright } from "playwright-core";
import puppeteer from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ElectronDebugger, fromElectron, fromPuppeteer } from "../../src/chromium/adapters.ts";
import { attachPushBridge } from "../../src/chromium/bridge.ts";
import { type CdpConnection, connectCdp, devToolsURL } from "../../src/chromium/cdp.ts";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { CHROMIUM_ARGS } from "../helpers/chromium.ts";
import { CHROMIUM, Driver, HAS_CHROMIUM, launchChromium, SETUP_TIMEOUT, Site, suiteName } from "./harness.ts";

let workdir: string;
let pushServer: PushServer;
const sites: Site[] = [];

async function newSite(): Promise<Site> {
  const site = await Site.start();
  sites.push(site);
  return site;
}

async function startService(): Promise<PushService> {
  const service = new PushService({ serverURL: pushServer.url, db: openMemoryPushDB() });
  await service.start();
  await service.ready();
  return service;
}

const SUBSCRIBE = (key: string) => `(async () => {
  await navigator.serviceWorker.register("/sw.js");
  await navigator.serviceWorker.ready;
  try { return { ok: true, value: await subscribe(${JSON.stringify(key)}) }; }
  catch (e) { return { ok: false, name: e.name, message: e.message }; }
})()`;

describe.skipIf(!HAS_CHROMIUM)(
  suiteName("the Chromium bridge through puppeteer, Playwright and Electron"),
  () => {
    beforeAll(async () => {
      workdir = await mkdtemp(path.join(tmpdir(), "push-agent-frameworks-"));
      pushServer = await createPushServer({ port: 0, host: "127.0.0.1" });
    }, SETUP_TIMEOUT);

    afterAll(async () => {
      await Promise.all(sites.map((site) => site.close()));
      await pushServer?.close();
      await rm(workdir, { recursive: true, force: true });
    });

    it(
      "puppeteer-core: a page subscribes and its worker gets the push",
      async () => {
        const browser = await puppeteer.launch({
          executablePath: CHROMIUM,
          headless: true,
          args: CHROMIUM_ARGS.filter((arg) => arg !== "--headless"),
          userDataDir: path.join(workdir, "puppeteer"),
        });
        const service = await startService();
        try {
          const bridge = await attachPushBridge(await fromPuppeteer(browser), { service });
          const site = await newSite();
          await browser.defaultBrowserContext().overridePermissions(site.origin, ["notifications"]);
          const page = await browser.newPage();
          await page.goto(site.url);
          const result = await page.evaluate(SUBSCRIBE(site.vapid.publicKey));
          expect(result).toMatchObject({ ok: true });
          expect(await site.send(site.subscriptions[0]!, "via puppeteer")).toBe(201);
          await site.until(() => site.received[0], "the push event");
          expect(site.received[0]).toMatchObject({
            isPushEvent: true,
            isTrusted: true,
            text: "via puppeteer",
          });
          await bridge.detach();
        } finally {
          await service.stop();
          await browser.close();
        }
      },
      SETUP_TIMEOUT,
    );

    it(
      "playwright-core (a persistent context, reached through DevToolsActivePort): the default profile gets push; an off-the-record context only when allowed",
      async () => {
        const userDataDir = path.join(workdir, "playwright");
        const context = await playwright.launchPersistentContext(userDataDir, {
          executablePath: CHROMIUM,
          args: [...CHROMIUM_ARGS, "--remote-debugging-port=0"],
        });
        const service = await startService();
        const cdp = await connectCdp(await devToolsURL(userDataDir));
        const driver = await Driver.connect(await devToolsURL(userDataDir));
        try {
          const bridge = await attachPushBridge(cdp, { service, allowOffTheRecord: true });
          const site = await newSite();
          await context.grantPermissions(["notifications"], { origin: site.origin });
          const page = await context.newPage();
          await page.goto(site.url);
          expect(await page.evaluate(SUBSCRIBE(site.vapid.publicKey))).toMatchObject({ ok: true });
          expect(await site.send(site.subscriptions[0]!, "via playwright")).toBe(201);
          await site.until(() => site.received[0], "the push event");
          expect(site.received[0]).toMatchObject({
            isPushEvent: true,
            isTrusted: true,
            text: "via playwright",
          });

          // An incognito context (what Playwright's browser.newContext() makes), allowed here: its
          // own subscription, under its own scope key, dropped when the bridge detaches.
          const { browserContextId } = await driver.cdp.send("Target.createBrowserContext");
          const other = await newSite();
          await driver.grant(other.origin, "granted", String(browserContextId));
          const incognito = await driver.open(other.url, String(browserContextId));
          expect(await incognito.run(SUBSCRIBE(other.vapid.publicKey))).toMatchObject({
            ok: true,
            value: { ok: true },
          });
          expect(await other.send(other.subscriptions[0]!, "incognito")).toBe(201);
          await other.until(() => other.received[0], "the incognito push event");
          const scopes = (await service.subscriptions()).map((s) => s.scope);
          expect(scopes).toContain(site.url);
          expect(scopes).toContainEqual(
            expect.stringMatching(new RegExp(`^${other.url}#push-agent-context=`)),
          );
          await bridge.detach();
          expect((await service.subscriptions()).map((s) => s.scope)).toEqual([site.url]);
          expect(await page.evaluate("PushManager.prototype.subscribe.toString()")).toContain(
            "[native code]",
          );
        } finally {
          await driver.close();
          await cdp.close();
          await service.stop();
          await context.close();
        }
      },
      SETUP_TIMEOUT,
    );

    it(
      "Electron's webContents.debugger (a stand-in over a real page session): the window's site gets its push",
      async () => {
        const chromium = await launchChromium(path.join(workdir, "electron"));
        const driver = await Driver.connect(chromium.wsURL);
        const service = await startService();
        const transport = await connectCdp(chromium.wsURL);
        try {
          const site = await newSite();
          await driver.grant(site.origin, "granted");
          // The app's window: a page whose own debugger the bridge gets.
          const created = await transport.send("Target.createTarget", { url: "about:blank" });
          const webContentsDebugger = await ElectronDebuggerStandIn.attachTo(
            transport,
            String(created.targetId),
          );
          const bridge = await attachPushBridge(fromElectron(webContentsDebugger), { service });
          await transport.send("Page.navigate", { url: site.url }, webContentsDebugger.pageSession);
          const page = await driver.attach(String(created.targetId));
          await driver.loaded(page, site.url);
          expect(await page.value(SUBSCRIBE(site.vapid.publicKey))).toMatchObject({ ok: true });
          expect(await site.send(site.subscriptions[0]!, "via electron")).toBe(201);
          await site.until(() => site.received[0], "the push event");
          expect(site.received[0]).toMatchObject({ isPushEvent: true, text: "via electron" });
          await bridge.detach();
          expect(await page.value("PushManager.prototype.subscribe.toString()")).toContain("[native code]");
        } finally {
          await service.stop();
          await transport.close();
          await driver.close();
          await chromium.close();
        }
      },
      SETUP_TIMEOUT,
    );
  },
);

/**
 * Electron's Debugger API shape (attach, isAttached, detach, sendCommand(method, params,
 * sessionId), 'message' (event, method, params, sessionId), 'detach' (event, reason)) over one
 * real page session: the root is the page, child sessions are flat, as in Electron.
 */
class ElectronDebuggerStandIn extends EventEmitter implements ElectronDebugger {
  readonly #cdp: CdpConnection;
  readonly pageSession: string;
  readonly #children = new Set<string>();
  #attached = false;

  private constructor(cdp: CdpConnection, pageSession: string) {
    super();
    this.#cdp = cdp;
    this.pageSession = pageSession;
    cdp.onEvent(({ method, params, sessionId }) => {
      if (!this.#attached) return;
      if (sessionId === pageSession) {
        if (method === "Target.attachedToTarget") this.#children.add(String(params.sessionId));
        if (method === "Target.detachedFromTarget") this.#children.delete(String(params.sessionId));
        this.emit("message", {}, method, params);
      } else if (sessionId && this.#children.has(sessionId))
        this.emit("message", {}, method, params, sessionId);
    });
    cdp.onClose((reason) => this.emit("detach", {}, reason));
  }

  static async attachTo(cdp: CdpConnection, targetId: string): Promise<ElectronDebuggerStandIn> {
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    return new ElectronDebuggerStandIn(cdp, String(sessionId));
  }

  isAttached(): boolean {
    return this.#attached;
  }

  attach(): void {
    if (this.#attached) throw new Error("Debugger is already attached to the target");
    this.#attached = true;
  }

  detach(): void {
    this.#attached = false;
  }

  sendCommand(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<unknown> {
    if (!this.#attached) return Promise.reject(new Error("Debugger is not attached to the target"));
    return this.#cdp.send(method, params, sessionId ?? this.pageSession);
  }
}
