/**
 * The same end-to-end test with puppeteer-core:
 *
 *   npx tsx --conditions=push-agent-source examples/chromium-e2e/puppeteer.ts
 *
 * puppeteer's default browser context is the profile's own (not off the record): push there
 * behaves as in a user's browser. Permission comes from `browser.setPermission`, as a user's
 * "Allow" would.
 */

import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";
import { webPushForPuppeteer } from "push-agent/chromium/testing";
import { startAppServer } from "./app-server.ts";
import { CHROMIUM, HEADLESS_ARGS, runAsScript, waitForMessage } from "./shared.ts";

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const site = await startAppServer();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: HEADLESS_ARGS });
  try {
    const push = await webPushForPuppeteer(browser);
    log(`push server ${push.serverURL}, bridge attached`);

    await browser.setPermission(site.origin, { permission: { name: "notifications" }, state: "granted" });
    const page = await browser.newPage();
    await page.goto(site.origin);
    await page.waitForSelector("#subscribe:not([disabled])", { timeout: 15_000 });
    await page.click("#subscribe");
    // The push service's side of the subscription, seen by the test without asking the page.
    const subscription = await push.waitForSubscription(site.origin);
    const [posted] = await site.waitForSubscriptions(1);
    assert.equal(posted?.endpoint, subscription.endpoint);
    log(`subscribed: ${subscription.endpoint}`);

    assert.deepEqual(await site.notifyAll({ title: "Breaking", body: "puppeteer too" }), [201]);
    await waitForMessage(page, "Breaking: puppeteer too");
    log("the service worker told the page");
    await push.close();
  } finally {
    await browser.close();
    await site.close();
  }
  log("ok");
}

runAsScript(import.meta.url, () => main());
