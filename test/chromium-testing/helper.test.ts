/**
 * push-agent/chromium/testing against Debian's headless Chromium, driven by playwright-core and
 * puppeteer-core (executablePath, nothing downloaded). The site (examples/chromium-e2e: a page, a
 * service worker and an application server sending with web-push) knows nothing of push-agent;
 * each test asserts what the site's service worker did, as the page saw it.
 */

import { chromium, type Browser as PlaywrightBrowser } from "playwright-core";
import puppeteer, { type Browser as PuppeteerBrowser, type Page as PuppeteerPage } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AppServer, startAppServer } from "../../examples/chromium-e2e/app-server.ts";
import { freePort } from "../../examples/chromium-e2e/shared.ts";
import {
  type PuppeteerBrowser as AdapterBrowser,
  type CdpConnection,
  connectCdp,
} from "../../src/chromium/index.ts";
import {
  webPushForCdp,
  webPushForPlaywright,
  webPushForPuppeteer,
} from "../../src/chromium-testing/index.ts";
import { createPushServer, type PushServer, sendPush } from "../../src/server/index.ts";
import { CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from "../helpers/chromium.ts";
import { captureLogger } from "../helpers/logger.ts";

const SETUP = 60_000;
const WAIT = 15_000;
const ARGS = CHROMIUM_ARGS.filter((arg) => arg !== "--headless");
const skipped = HAS_CHROMIUM ? "" : ` (SKIPPED: no browser at ${CHROMIUM})`;

interface Shown {
  title: string;
  body: string;
  trusted: boolean;
}

describe.skipIf(!HAS_CHROMIUM)(`webPushForPlaywright${skipped}`, () => {
  let browser: PlaywrightBrowser;
  let cdpURL: string;
  const sites: AppServer[] = [];
  const newSite = async () => {
    const site = await startAppServer();
    sites.push(site);
    return site;
  };

  beforeAll(async () => {
    const port = await freePort();
    cdpURL = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...ARGS, `--remote-debugging-port=${port}`],
    });
  }, SETUP);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(sites.map((site) => site.close()));
  }, SETUP);

  it(
    "an off-the-record context subscribes for real; web-push's request reaches its worker; close() ends it all",
    async () => {
      const site = await newSite();
      const push = await webPushForPlaywright(browser, { cdpURL, logger: captureLogger() });
      const server = push.pushServer;
      expect(server?.url).toBe(push.serverURL);
      const context = await browser.newContext();
      try {
        await context.grantPermissions(["notifications"], { origin: site.origin });
        const page = await context.newPage();
        await page.goto(site.origin);
        await page.click("#subscribe:not([disabled])");
        const seen = await push.waitForSubscription(site.origin);
        const [posted] = await site.waitForSubscriptions(1);
        expect(posted).toEqual(seen);
        expect(seen.endpoint.startsWith(`${server?.endpointURL}`)).toBe(true);
        expect(await push.subscriptions(site.origin)).toEqual([seen]);
        expect(await push.subscriptions("http://127.0.0.1:1")).toEqual([]);

        // The app server's own sender: web-push's request (generateRequestDetails), over http.
        expect(await site.notifyAll({ title: "One", body: "via web-push", tag: "t1" })).toEqual([201]);
        // push-agent's sendPush, the same request, in the older aesgcm encoding.
        const sent = await sendPush(seen, JSON.stringify({ title: "Two", body: "via sendPush" }), {
          contentEncoding: "aesgcm",
          vapidDetails: site.vapidDetails,
        });
        expect(sent.statusCode).toBe(201);
        await page.waitForFunction(
          () => (window as unknown as { received: unknown[] }).received.length >= 2,
          null,
          {
            timeout: WAIT,
          },
        );
        const received = await page.evaluate(() => (window as unknown as { received: Shown[] }).received);
        expect(received).toEqual([
          { title: "One", body: "via web-push", trusted: true },
          { title: "Two", body: "via sendPush", trusted: true },
        ]);
        const notifications = await page.evaluate(async () =>
          (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => `${n.title}/${n.body}`),
        );
        expect(notifications.sort()).toEqual(["One/via web-push", "Two/via sendPush"]);
      } finally {
        await context.close();
        await push.close();
      }
      // The local server went with the helper: its endpoint no longer answers.
      await expect(sendPush({ endpoint: `${server?.endpointURL}/wpush/v2/gone` }, null)).rejects.toThrow();
      await push.close(); // twice is fine
    },
    SETUP,
  );

  it("waitForSubscription fails after its deadline with one line naming the origin", async () => {
    const push = await webPushForPlaywright(browser, { cdpURL });
    try {
      await expect(push.waitForSubscription("http://127.0.0.1:9/", { timeout: 200 })).rejects.toThrow(
        "timed out after 200 ms waiting for a push subscription of http://127.0.0.1:9/",
      );
    } finally {
      await push.close();
    }
  });

  it("fails set-up with the push server's name when the given server is not there, and closes the connection", async () => {
    const gone = await createPushServer({ host: "127.0.0.1", port: 0 });
    await gone.close();
    const inner = await connectCdp(cdpURL);
    let closes = 0;
    const connection: CdpConnection = {
      root: inner.root,
      send: (method, params, sessionId) => inner.send(method, params, sessionId),
      onEvent: (listener) => inner.onEvent(listener),
      onClose: (listener) => inner.onClose(listener),
      close: () => {
        closes++;
        return inner.close();
      },
    };
    await expect(
      webPushForCdp(connection, { serverURL: gone.url, readyTimeout: 1_000, logger: captureLogger() }),
    ).rejects.toThrow("timed out after 1000 ms waiting for the push server");
    expect(closes).toBe(1);
  });

  it("without cdpURL, says in one line what it needs", async () => {
    await expect(
      webPushForPlaywright(browser, {} as Parameters<typeof webPushForPlaywright>[1]),
    ).rejects.toThrow(/cdpURL is required/);
  });
});

describe.skipIf(!HAS_CHROMIUM)(`webPushForPuppeteer${skipped}`, () => {
  let browser: PuppeteerBrowser;
  let pushServer: PushServer;
  const sites: AppServer[] = [];

  beforeAll(async () => {
    [browser, pushServer] = await Promise.all([
      puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ARGS }),
      createPushServer({ host: "127.0.0.1", port: 0 }),
    ]);
  }, SETUP);

  afterAll(async () => {
    await browser?.close();
    await pushServer?.close();
    await Promise.all(sites.map((site) => site.close()));
  }, SETUP);

  async function openSite(page: PuppeteerPage, site: AppServer): Promise<string> {
    await page.goto(site.origin);
    await page.waitForSelector("#subscribe:not([disabled])", { timeout: WAIT });
    await page.click("#subscribe");
    await page.waitForFunction(() => document.getElementById("status")?.textContent !== "ready", {
      timeout: WAIT,
    });
    return page.$eval("#status", (element) => element.textContent ?? "");
  }

  it(
    "uses the given server; the default context gets push, an incognito one NotAllowedError when not allowed",
    async () => {
      const [site, other] = await Promise.all([startAppServer(), startAppServer()]);
      sites.push(site, other);
      const push = await webPushForPuppeteer(browser, {
        serverURL: pushServer.url,
        allowOffTheRecord: false,
        logger: captureLogger(),
      });
      const incognito = await browser.createBrowserContext();
      try {
        expect(push.pushServer).toBeNull();
        // puppeteer-core's Browser fits the adapter's type as is.
        const adapterView: AdapterBrowser = browser;
        expect(adapterView).toBe(browser);
        await browser.setPermission(site.origin, { permission: { name: "notifications" }, state: "granted" });
        const page = await browser.newPage();
        expect(await openSite(page, site)).toBe("subscribed");
        const subscription = await push.waitForSubscription(site.origin);
        expect(subscription.endpoint.startsWith(pushServer.endpointURL)).toBe(true);
        expect(await site.notifyAll({ title: "Hi", body: "from puppeteer" })).toEqual([201]);
        await page.waitForFunction(
          () => (window as unknown as { received: unknown[] }).received.length === 1,
          {
            timeout: WAIT,
          },
        );
        expect(await page.evaluate(() => (window as unknown as { received: Shown[] }).received)).toEqual([
          { title: "Hi", body: "from puppeteer", trusted: true },
        ]);

        // Like a real browser's private mode: no push in an off-the-record context.
        await incognito.setPermission(other.origin, {
          permission: { name: "notifications" },
          state: "granted",
        });
        const privatePage = await incognito.newPage();
        expect(await openSite(privatePage, other)).toBe(
          "NotAllowedError: Registration failed - permission denied",
        );
        expect(await push.subscriptions(other.origin)).toEqual([]);
      } finally {
        await incognito.close();
        await push.close();
      }
      // A server the test gave is the test's: still up after close().
      await expect.poll(() => pushServer.stats().connections, { timeout: WAIT }).toBe(0);
      expect(
        (await sendPush({ endpoint: `${pushServer.endpointURL}/wpush/v2/nothing` }, null)).statusCode,
      ).toBe(404);
    },
    SETUP,
  );

  // The stop watch raced against each delivery step is cancelled when the step wins: a script
  // that pushed once can exit at once (it used to wait a deliveryTimeout).
  it(
    "after a delivery, close() leaves no deliveryTimeout timer armed",
    async () => {
      const site = await startAppServer();
      sites.push(site);
      // A deliveryTimeout no other timer uses, so the bridge's own timers can be told apart.
      const MARK = 45_678;
      const armed = new Set<unknown>();
      const realSet = globalThis.setTimeout;
      const realClear = globalThis.clearTimeout;
      const created: unknown[] = [];
      vi.spyOn(globalThis, "setTimeout").mockImplementation(((
        callback: (...args: unknown[]) => void,
        ms?: number,
        ...args: unknown[]
      ) => {
        const timer = realSet(
          (...a: unknown[]) => {
            armed.delete(timer);
            callback(...a);
          },
          ms,
          ...args,
        );
        if (ms === MARK) {
          created.push(timer);
          armed.add(timer);
        }
        return timer;
      }) as typeof setTimeout);
      vi.spyOn(globalThis, "clearTimeout").mockImplementation((timer) => {
        armed.delete(timer);
        realClear(timer);
      });
      const push = await webPushForPuppeteer(browser, {
        serverURL: pushServer.url,
        bridge: { deliveryTimeout: MARK },
        logger: captureLogger(),
      });
      const page = await browser.newPage();
      try {
        await browser.setPermission(site.origin, { permission: { name: "notifications" }, state: "granted" });
        expect(await openSite(page, site)).toBe("subscribed");
        expect(await site.notifyAll({ title: "T", body: "timers" })).toEqual([201]);
        await page.waitForFunction(
          () => (window as unknown as { received: unknown[] }).received.length === 1,
          {
            timeout: WAIT,
          },
        );
      } finally {
        await page.close();
        await push.close();
        vi.restoreAllMocks();
      }
      expect(created.length).toBeGreaterThan(0);
      expect(armed.size).toBe(0);
    },
    SETUP,
  );
});
