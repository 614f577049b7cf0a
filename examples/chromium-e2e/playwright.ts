/**
 * An end-to-end test of a site's Web Push with Playwright, written as a plain script:
 *
 *   npx tsx --conditions=push-agent-source examples/chromium-e2e/playwright.ts
 *
 * (in your own project: `import { webPushForPlaywright } from "push-agent/chromium/testing"` and
 * plain `tsx`, or the same lines inside a @playwright/test test). It launches Chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium; nothing is downloaded), gives it Web Push through a
 * local push server, clicks the site's "Get notified" button, has the site's application server
 * send a notification with web-push, and checks what the site's service worker did: it showed a
 * notification and told the open page. Exits 0 when every check held.
 */

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { webPushForPlaywright } from "push-agent/chromium/testing";
import { startAppServer } from "./app-server.ts";
import { CHROMIUM, freePort, HEADLESS_ARGS, runAsScript } from "./shared.ts";

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const site = await startAppServer();
  // A DevTools port lets the bridge use a connection of its own beside Playwright's pipe.
  const port = await freePort();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...HEADLESS_ARGS, `--remote-debugging-port=${port}`],
  });
  try {
    // The line this example is about: a local push server and the bridge, for this browser.
    const push = await webPushForPlaywright(browser, { cdpURL: `http://127.0.0.1:${port}` });
    log(`push server ${push.serverURL}, bridge attached`);

    // browser.newContext() is an off-the-record context; the helper allows push there.
    const context = await browser.newContext();
    await context.grantPermissions(["notifications"], { origin: site.origin });
    const page = await context.newPage();
    await page.goto(site.origin);
    await page.click("#subscribe:not([disabled])");
    await page.locator("#status", { hasText: "subscribed" }).waitFor({ timeout: 15_000 });
    const [subscription] = await site.waitForSubscriptions(1);
    assert.ok(subscription, "the page posted its subscription");
    assert.ok(
      subscription.endpoint.startsWith(push.pushServer?.endpointURL ?? "?"),
      "the endpoint is the push server's",
    );
    log(`subscribed: ${subscription.endpoint}`);

    const status = await site.notifyAll({ title: "Breaking", body: "push works in Chromium", tag: "news-1" });
    assert.deepEqual(status, [201]);

    // What the service worker did: a message to the page, and a notification.
    await page
      .locator("#messages li", { hasText: "Breaking: push works in Chromium" })
      .waitFor({ timeout: 15_000 });
    const notifications = await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      return (await registration.getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        tag: n.tag,
      }));
    });
    assert.deepEqual(notifications, [{ title: "Breaking", body: "push works in Chromium", tag: "news-1" }]);
    log("the service worker showed the notification and told the page");

    await context.close();
    await push.close();
  } finally {
    await browser.close();
    await site.close();
  }
  log("ok");
}

runAsScript(import.meta.url, () => main());
