import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, expect, it } from "vitest";
import { PwaRuntime } from "../../examples/pwa-runtime/runtime.ts";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { captureLogger } from "../helpers/logger.ts";

let server: PushServer;
let runtime: PwaRuntime;
const shown: string[] = [];
const lost: string[] = [];

beforeEach(async () => {
  shown.length = 0;
  lost.length = 0;
  server = await createPushServer({ port: 0, logger: captureLogger() });
  runtime = new PwaRuntime(
    { serverURL: server.url, indexedDB: new IDBFactory(), logger: captureLogger(), retryBaseInterval: 20 },
    {
      showNotification: (scope, text) => shown.push(`${scope} ${text}`),
      subscriptionLost: (scope) => lost.push(scope),
    },
  );
  await runtime.start();
});

afterEach(async () => {
  await runtime.stop();
  await server.close();
});

it("wires permissions, visits, notifications and clearing to the service", async () => {
  const news = "https://news.example.com/";
  const shop = "https://shop.example.org/";
  runtime.visit(news);
  runtime.visit(shop);
  await runtime.setPermission("https://news.example.com", "granted");
  await runtime.setPermission("https://shop.example.org", "granted");
  const newsSub = await runtime.service.subscribe({ scope: news });
  const shopSub = await runtime.service.subscribe({ scope: shop });

  expect((await sendPush(newsSub.toJSON(), "headline")).statusCode).toBe(201);
  await expect.poll(() => shown).toEqual([`${news} headline`]);
  runtime.notificationClosed(news);

  // Revoking the permission unregisters and expires the subscription: its endpoint is gone.
  await runtime.setPermission("https://shop.example.org", "denied");
  await expect.poll(async () => (await sendPush(shopSub.toJSON(), "sale")).statusCode).toBe(410);
  expect(await runtime.service.getSubscription(shop)).toBeNull();

  // Granting it again drops the expired subscription and tells the app to resubscribe.
  await runtime.setPermission("https://shop.example.org", "granted");
  expect(lost).toEqual([shop]);

  // Clearing the site's data forgets its subscription on both sides.
  await runtime.clearSiteData("example.com");
  await expect.poll(async () => (await sendPush(newsSub.toJSON(), "late")).statusCode).toBe(410);
  expect(await runtime.service.subscriptions()).toEqual([]);
  expect(lost).toEqual([shop, news]);
});
