/**
 * The bridge's embedder options against Debian's headless Chromium: the subscribe deadline when
 * the push server is unreachable (AbortError, never a pending promise), the embedder's own
 * permission decision and prompt hook, and allowSilentPush. One browser for the file; each test
 * attaches its own bridge with its options and detaches it again, and uses its own site (origin).
 */

import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachPushBridge, type PushBridge, type PushBridgeOptions } from "../../src/chromium/bridge.ts";
import { type CdpConnection, connectCdp } from "../../src/chromium/cdp.ts";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { captureLogger } from "../helpers/logger.ts";
import {
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
const DENIED = { ok: false, name: "NotAllowedError", message: "Registration failed - permission denied" };
let profile: string;
let chromium: LaunchedChromium;
let pushServer: PushServer;
let service: PushService;
let driver: Driver;
const sites: Site[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function newSite(): Promise<Site> {
  const site = await Site.start();
  sites.push(site);
  return site;
}

/** A bridge of its own over a new CDP connection, detached after the test file. */
async function bridgeWith(
  options: Omit<PushBridgeOptions, "service"> & { service?: PushService },
): Promise<PushBridge> {
  const cdp: CdpConnection = await connectCdp(chromium.httpURL);
  const bridge = await attachPushBridge(cdp, { service, logger, ...options });
  cleanups.push(async () => {
    await bridge.detach();
    await cdp.close();
  });
  return bridge;
}

async function detachAll(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** The site's page, its worker registered; the browser's own permission left at "prompt". */
async function openSite(site: Site): Promise<DriverPage> {
  const page = await driver.open(site.url);
  await page.value("register()");
  return page;
}

const subscribeIn = (page: DriverPage, site: Site, userVisibleOnly = true) =>
  page.run<{ endpoint: string }>(`subscribe(${JSON.stringify(site.vapid.publicKey)}, ${userVisibleOnly})`);

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(!HAS_CHROMIUM)(suiteName("the Chromium bridge's embedder options"), () => {
  beforeAll(async () => {
    profile = await mkdtemp(path.join(tmpdir(), "push-agent-embedder-"));
    [chromium, pushServer] = await Promise.all([
      launchChromium(path.join(profile, "profile")),
      createPushServer({ port: 0, host: "127.0.0.1" }),
    ]);
    service = new PushService({ serverURL: pushServer.url, db: openMemoryPushDB(), logger });
    await service.start();
    await service.ready();
    driver = await Driver.connect(chromium.wsURL);
  }, SETUP_TIMEOUT);

  afterAll(async () => {
    await detachAll();
    await driver?.close();
    await service?.stop();
    await Promise.all(sites.map((site) => site.close()));
    await chromium?.close();
    await pushServer?.close();
    await rm(profile, { recursive: true, force: true });
  }, SETUP_TIMEOUT);

  it(
    "rejects subscribe() with AbortError past subscribeTimeout when the push server is unreachable",
    async () => {
      const unreachable = new PushService({
        serverURL: `ws://127.0.0.1:${await closedPort()}`,
        db: openMemoryPushDB(),
        logger,
      });
      await unreachable.start();
      cleanups.push(() => unreachable.stop());
      await bridgeWith({ service: unreachable, subscribeTimeout: 1_000 });
      const site = await newSite();
      await driver.grant(site.origin, "granted");
      const page = await openSite(site);
      // The page's own deadline turns a pending promise into a failure of this test.
      const result = await page.value<{
        name: string;
        message: string;
        isDOMException: boolean;
      }>(`(async () => {
        const registration = await navigator.serviceWorker.ready;
        const attempt = registration.pushManager
          .subscribe({ userVisibleOnly: true, applicationServerKey: ${JSON.stringify(site.vapid.publicKey)} })
          .then(() => ({ name: "resolved", message: "", isDOMException: false }),
                (e) => ({ name: e.name, message: e.message, isDOMException: e instanceof DOMException }));
        const pending = new Promise((resolve) =>
          setTimeout(() => resolve({ name: "still pending", message: "", isDOMException: false }), ${WAIT / 2}));
        return Promise.race([attempt, pending]);
      })()`);
      expect(result).toEqual({
        name: "AbortError",
        message: "Registration failed - push service not available",
        isDOMException: true,
      });
      expect(
        await page.value("navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription())"),
      ).toBe(null);
      expect(site.subscriptions).toEqual([]);
      await detachAll();
    },
    WAIT,
  );

  it("takes the embedder's permission decision: denied, and prompt answered by the hook", async () => {
    const decisions = new Map<string, "granted" | "denied" | "prompt">();
    const answers = new Map<string, "granted" | "denied">();
    const prompted: string[] = [];
    await bridgeWith({
      permission: (origin) => decisions.get(origin) ?? "denied",
      prompt: (origin) => {
        prompted.push(origin);
        return answers.get(origin) ?? "denied";
      },
    });
    const [denied, promptGranted, promptDenied] = await Promise.all([newSite(), newSite(), newSite()]);
    decisions.set(denied.origin, "denied");
    decisions.set(promptGranted.origin, "prompt");
    answers.set(promptGranted.origin, "granted");
    decisions.set(promptDenied.origin, "prompt");
    answers.set(promptDenied.origin, "denied");
    // The browser's own permission says granted everywhere: the embedder's word must win.
    for (const site of [denied, promptGranted, promptDenied]) await driver.grant(site.origin, "granted");

    const deniedPage = await openSite(denied);
    expect(await subscribeIn(deniedPage, denied)).toEqual(DENIED);
    expect(
      await deniedPage.value(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.permissionState({ userVisibleOnly: true }))",
      ),
    ).toBe("denied");
    expect(prompted).toEqual([]);

    const grantedPage = await openSite(promptGranted);
    expect(
      await grantedPage.value(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.permissionState({ userVisibleOnly: true }))",
      ),
    ).toBe("prompt");
    const subscribed = await subscribeIn(grantedPage, promptGranted);
    expect(subscribed.ok).toBe(true);
    expect(subscribed.value?.endpoint.startsWith(pushServer.endpointURL)).toBe(true);
    expect(prompted).toEqual([promptGranted.origin]);
    // The granted prompt is the site's permission now: the state says so and delivery delivers.
    expect(
      await grantedPage.value(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.permissionState({ userVisibleOnly: true }))",
      ),
    ).toBe("granted");
    expect(await promptGranted.send(promptGranted.subscriptions[0]!, "prompted")).toBe(201);
    await promptGranted.until(() => promptGranted.received.length === 1, "the push event");
    expect(promptGranted.received[0]).toMatchObject({ isTrusted: true, text: "prompted" });

    const refusedPage = await openSite(promptDenied);
    expect(await subscribeIn(refusedPage, promptDenied)).toEqual(DENIED);
    expect(prompted).toEqual([promptGranted.origin, promptDenied.origin]);
    expect(denied.subscriptions).toEqual([]);
    expect(promptDenied.subscriptions).toEqual([]);
    await detachAll();
  }, 60_000);

  it("lets userVisibleOnly: false subscribe with allowSilentPush, and only then", async () => {
    await bridgeWith({ allowSilentPush: true });
    const site = await newSite();
    await driver.grant(site.origin, "granted");
    const page = await openSite(site);
    const silent = await subscribeIn(page, site, false);
    expect(silent.ok).toBe(true);
    expect(
      await page.value(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription()).then((s) => s.options.userVisibleOnly)",
      ),
    ).toBe(false);
    expect(await site.send(site.subscriptions[0]!, "silent")).toBe(201);
    await site.until(() => site.received.length === 1, "the silent push event");
    await detachAll();

    await bridgeWith({});
    const other = await newSite();
    await driver.grant(other.origin, "granted");
    const otherPage = await openSite(other);
    expect(await subscribeIn(otherPage, other, false)).toEqual(DENIED);
    await detachAll();
  });
});
