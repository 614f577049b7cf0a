/**
 * The bridge over a plain browser-level CDP WebSocket, against Debian's headless Chromium, the
 * local push server and sites that know nothing of push-agent: the page subscribes with the
 * standard Push API, the site's application server sends with web-push, the site's service worker
 * gets real push events. One browser for the file; each test uses its own site (origin).
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { attachPushBridge, type PushBridge } from "../../src/chromium/bridge.ts";
import { type CdpConnection, connectCdp } from "../../src/chromium/cdp.ts";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import type { PushSubscriptionChangeEvent } from "../../src/observers.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { captureLogger } from "../helpers/logger.ts";
import {
  base64,
  Driver,
  type DriverPage,
  HAS_CHROMIUM,
  type LaunchedChromium,
  launchChromium,
  SETUP_TIMEOUT,
  Site,
  suiteName,
  WAIT,
} from "./harness.ts";

const logger = captureLogger();
/** Stored messages one session may read before the local server drops the uaid (as autopush does). */
const MSG_LIMIT = 210;
let profile: string;
let chromium: LaunchedChromium;
let pushServer: PushServer;
let service: PushService;
let cdp: CdpConnection;
let bridge: PushBridge;
let driver: Driver;
const sites: Site[] = [];

async function newSite(): Promise<Site> {
  const site = await Site.start();
  sites.push(site);
  return site;
}

/** A site with its worker registered and notifications granted, its page open. */
async function grantedSite(): Promise<{ site: Site; page: DriverPage }> {
  const site = await newSite();
  await driver.grant(site.origin, "granted");
  const page = await driver.open(site.url);
  await page.value("register()");
  return { site, page };
}

async function subscribe(page: DriverPage, site: Site) {
  return page.value<{ endpoint: string; keys: { p256dh: string; auth: string } }>(
    `subscribe(${JSON.stringify(site.vapid.publicKey)})`,
  );
}

describe.skipIf(!HAS_CHROMIUM)(suiteName("the Chromium bridge over plain CDP"), () => {
  beforeAll(async () => {
    profile = await mkdtemp(path.join(tmpdir(), "push-agent-chromium-"));
    [chromium, pushServer] = await Promise.all([
      launchChromium(path.join(profile, "profile")),
      createPushServer({ port: 0, host: "127.0.0.1", msgLimit: MSG_LIMIT }),
    ]);
    service = new PushService({ serverURL: pushServer.url, db: openMemoryPushDB(), logger });
    await service.start();
    await service.ready();
    cdp = await connectCdp(chromium.httpURL);
    bridge = await attachPushBridge(cdp, { service, logger, deliveryTimeout: 15_000 });
    driver = await Driver.connect(chromium.wsURL);
  }, SETUP_TIMEOUT);

  afterAll(async () => {
    await bridge?.detach();
    await cdp?.close();
    await driver?.close();
    await service?.stop();
    await Promise.all(sites.map((site) => site.close()));
    await chromium?.close();
    await pushServer?.close();
    await rm(profile, { recursive: true, force: true });
  }, SETUP_TIMEOUT);

  it("subscribes from the page and fires a real push event with the payload (aes128gcm, aesgcm)", async () => {
    const { site, page } = await grantedSite();
    const subscription = await subscribe(page, site);
    expect(subscription.endpoint.startsWith(pushServer.endpointURL)).toBe(true);
    expect(Buffer.from(subscription.keys.p256dh, "base64url")).toHaveLength(65);
    expect(Buffer.from(subscription.keys.auth, "base64url")).toHaveLength(16);
    expect(site.subscriptions).toEqual([subscription]);

    expect(await site.send(site.subscriptions[0]!, '{"hello":"world"}', "aes128gcm")).toBe(201);
    await site.until(() => site.received.length === 1, "the first push event");
    expect(await site.send(site.subscriptions[0]!, "via aesgcm", "aesgcm")).toBe(201);
    await site.until(() => site.received.length === 2, "the second push event");
    expect(site.received[0]).toEqual({
      isPushEvent: true,
      isTrusted: true,
      dataIsPushMessageData: true,
      bytes: base64('{"hello":"world"}'),
      text: '{"hello":"world"}',
      json: { hello: "world" },
    });
    expect(site.received[1]).toMatchObject({ text: "via aesgcm", bytes: base64("via aesgcm") });
  });

  it("hands the page a PushSubscription that behaves like Chromium's own", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    const shape = await page.value<Record<string, unknown>>(`(async () => {
      const registration = await navigator.serviceWorker.ready;
      const s = await registration.pushManager.getSubscription();
      const again = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: ${JSON.stringify(site.vapid.publicKey)} });
      const bytes = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
      return {
        instance: s instanceof PushSubscription,
        endpoint: s.endpoint,
        expirationTime: s.expirationTime,
        keyIsBuffer: s.options.applicationServerKey instanceof ArrayBuffer,
        key: bytes(s.options.applicationServerKey),
        userVisibleOnly: s.options.userVisibleOnly,
        p256dh: bytes(s.getKey("p256dh")),
        auth: bytes(s.getKey("auth")),
        json: JSON.parse(JSON.stringify(s)),
        sameEndpoint: again.endpoint === s.endpoint,
        permission: await registration.pushManager.permissionState({ userVisibleOnly: true }),
        notification: Notification.permission,
      };
    })()`);
    const sent = site.subscriptions[0]!;
    expect(shape).toEqual({
      instance: true,
      endpoint: sent.endpoint,
      expirationTime: null,
      keyIsBuffer: true,
      key: site.vapid.publicKey,
      userVisibleOnly: true,
      p256dh: sent.keys.p256dh,
      auth: sent.keys.auth,
      json: { endpoint: sent.endpoint, expirationTime: null, keys: sent.keys },
      sameEndpoint: true,
      permission: "granted",
      notification: "granted",
    });
  });

  it("takes the key as a BufferSource, rejects another key with InvalidStateError and userVisibleOnly:false", async () => {
    const { site, page } = await grantedSite();
    const keyBytes = `Uint8Array.from(atob(${JSON.stringify(site.vapid.publicKey)}.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))`;
    const first = await page.value<{ endpoint: string }>(`subscribe(${keyBytes})`);
    const second = await page.value<{ endpoint: string }>(`subscribe(${keyBytes}.buffer)`);
    expect(second.endpoint).toBe(first.endpoint);
    const other = await page.run(`subscribe(${JSON.stringify(webpush.generateVAPIDKeys().publicKey)})`);
    expect(other).toMatchObject({ ok: false, name: "InvalidStateError" });
    const silent = await page.run(`subscribe(${JSON.stringify(site.vapid.publicKey)}, false)`);
    expect(silent).toMatchObject({
      ok: false,
      name: "NotAllowedError",
      message: "Registration failed - permission denied",
    });
    const bad = await page.run(`subscribe("not*base64")`);
    expect(bad).toMatchObject({ ok: false, name: "InvalidCharacterError" });
  });

  it("rejects a denied site with NotAllowedError and no subscription", async () => {
    const site = await newSite();
    await driver.grant(site.origin, "denied");
    const page = await driver.open(site.url);
    await page.value("register()");
    const result = await page.run(`subscribe(${JSON.stringify(site.vapid.publicKey)})`);
    expect(result).toEqual({
      ok: false,
      name: "NotAllowedError",
      message: "Registration failed - permission denied",
    });
    expect(
      await page.value(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.permissionState({ userVisibleOnly: true }))",
      ),
    ).toBe("denied");
    expect(await service.getSubscription(site.url)).toBeNull();
  });

  it("delivers binary (not UTF-8) and empty payloads byte for byte, and null without data", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    const binary = Uint8Array.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x01, 0xa0, 0xa1]);
    await site.send(site.subscriptions[0]!, binary);
    await site.until(() => site.received.length === 1, "the binary push");
    await site.send(site.subscriptions[0]!, null);
    await site.until(() => site.received.length === 2, "the push without data");
    expect(site.received[0]).toMatchObject({ dataIsPushMessageData: true, bytes: base64(binary) });
    expect(site.received[1]).toMatchObject({ bytes: null, text: null });
  });

  it("wakes a stopped worker of a site with no page open", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    await page.close();
    const blank = await driver.open("about:blank");
    await driver.stopAllWorkers(blank);
    await site.send(site.subscriptions[0]!, "while asleep");
    await site.until(() => site.received.length === 1, "the push to the stopped worker");
    expect(site.received[0]).toMatchObject({ isPushEvent: true, text: "while asleep" });
    await blank.close();
  }, 60_000);

  it("fires 200 pushes in a burst as 200 events, none twice, in the order PushService hands them over", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    const sub = site.subscriptions[0]!;
    // The order PushService hands the messages over (the server may mix direct and stored ones).
    const handed: string[] = [];
    const stop = service.observe("push-message", (event) => {
      if (event.scope === site.url) handed.push(event.data?.text() ?? "");
    });
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => site.send(sub, `m${i}`)));
    expect(statuses.every((status) => status === 201)).toBe(true);
    await site.until(() => site.received.length >= 200, "200 push events", 60_000);
    stop();
    const texts = site.received.map((r) => r.text);
    expect(new Set(texts).size).toBe(200);
    expect([...texts].sort()).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`).sort());
    expect(texts).toEqual(handed);
    expect(site.received.every((r) => r.isPushEvent && r.isTrusted)).toBe(true);
  }, 90_000);

  it("unsubscribes from the page: the endpoint then answers 404/410", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    const result = await page.value(
      "navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription()).then((s) => s.unsubscribe())",
    );
    expect(result).toBe(true);
    expect(
      await page.value("navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription())"),
    ).toBeNull();
    expect([404, 410]).toContain(await site.send(site.subscriptions[0]!, "gone"));
  });

  it("unsubscribes on the server when the site unregisters its service worker", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    await page.value("navigator.serviceWorker.ready.then((r) => r.unregister())");
    await waitFor(async () => (await service.getSubscription(site.url)) === null, "the subscription to go");
    await waitFor(
      async () => [404, 410].includes(await site.send(site.subscriptions[0]!, "gone")),
      "404/410",
    );
  });

  it("unregisters with 202 when the browser revokes the notification permission", async () => {
    const { site, page } = await grantedSite();
    await subscribe(page, site);
    await driver.grant(site.origin, "denied");
    await waitFor(
      async () => (await service.getSubscription(site.url)) === null,
      "the subscription to expire",
    );
    expect(await page.value("Notification.permission")).toBe("denied");
    expect(
      await page.value(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.permissionState({ userVisibleOnly: true }))",
      ),
    ).toBe("denied");
    await waitFor(
      async () => [404, 410].includes(await site.send(site.subscriptions[0]!, "gone")),
      "404/410",
    );
  });

  it("never lets a page act on another origin's registration", async () => {
    const victim = await grantedSite();
    await subscribe(victim.page, victim.site);
    const attacker = await grantedSite();
    // The attacker's page tries the victim's scope through the patched API.
    const result = await attacker.page.run(`(async () => {
      const registration = await navigator.serviceWorker.ready;
      const manager = registration.pushManager;
      Object.defineProperty(registration, "scope", { value: ${JSON.stringify(victim.site.url)} });
      return PushManager.prototype.getSubscription.call(Object.getOwnPropertyDescriptor(ServiceWorkerRegistration.prototype, "pushManager").get.call(registration));
    })()`);
    expect(result.ok === false || result.value === null).toBe(true);
    expect(await service.getSubscription(victim.site.url)).not.toBeNull();
  });

  it("fires pushsubscriptionchange with the old subscription when the server drops the uaid", async () => {
    const { site, page } = await grantedSite();
    const subscription = await subscribe(page, site);
    const changed = new Promise<PushSubscriptionChangeEvent>((resolve) => {
      const stop = service.observe("push-subscription-change", (event) => {
        if (event.scope !== site.url) return;
        stop();
        resolve(event);
      });
    });
    // More stored messages than the server's msgLimit while the agent is away: it drops the uaid.
    await service.stop();
    const sub = site.subscriptions[0]!;
    await Promise.all(Array.from({ length: MSG_LIMIT + 1 }, (_, i) => site.send(sub, `stored ${i}`)));
    await service.start();
    await changed;
    const report = await site.until(() => site.changed[0], "pushsubscriptionchange in the worker");
    expect(report).toEqual({
      oldSubscription: { endpoint: subscription.endpoint, expirationTime: null, keys: subscription.keys },
      oldIsPushSubscription: true,
      newSubscription: null,
    });
    await service.ready();
  }, 60_000);
});

/** Re-check an outside condition (the store, the server's answer) until it holds, with a deadline. */
async function waitFor(condition: () => Promise<boolean>, what: string, ms = WAIT): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
