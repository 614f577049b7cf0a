/**
 * push-agent in a real browser: headless Chromium loads the checked browser bundle (IndexedDB,
 * native WebSocket, WebCrypto, nothing injected), subscribes through the local push server, and
 * receives aes128gcm and aesgcm pushes sent the way an application server sends them (web-push's
 * request, VAPID-signed). A reload keeps the subscription in IndexedDB; unsubscribe ends it (410).
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH); without it the suite is skipped. Nothing here ever
 * downloads a browser: playwright-core only drives the executable it is given.
 */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { bundleBrowser } from "../../scripts/bundle-browser.ts";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import type { PushSubscriptionJSON } from "../../src/subscription.ts";
import { CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from "../helpers/chromium.ts";
import { captureLogger } from "../helpers/logger.ts";
import type { ReceivedPush } from "./page.ts";

const SUITE = HAS_CHROMIUM
  ? "push-agent in headless Chromium"
  : `push-agent in headless Chromium (SKIPPED: no browser at ${CHROMIUM}; apt-get install chromium or set CHROMIUM_PATH)`;

// The default reporter shows a skipped file without its suite name: say why, once, on stderr.
if (!HAS_CHROMIUM) console.warn(SUITE);

/** Launch, bundling and the first connection take a few seconds on a cold machine. */
const SETUP_TIMEOUT = 30_000;
const SCOPE = "https://app.example/";
const vapid = webpush.generateVAPIDKeys();
const vapidDetails = { subject: "mailto:test@example.com", ...vapid };

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>push-agent</title></head>
<body><script type="module" src="/page.js"></script></body></html>`;

/** Build output served to the page, by URL path. */
const FILES: Record<string, string> = {
  "/push-agent.js": "text/javascript",
  "/push-agent.js.map": "application/json",
  "/page.js": "text/javascript",
  "/page.js.map": "application/json",
};

let workdir: string;
let pushServer: PushServer;
let staticServer: Server;
let origin: string;
let context: BrowserContext;
let page: Page;
/** Browser console errors and uncaught exceptions, shown when an assertion fails. */
const browserLog: string[] = [];

/** The page script, with "push-agent" left as an import of the bundle next to it. */
async function buildPage(outdir: string): Promise<void> {
  await build({
    entryPoints: [path.join(import.meta.dirname, "page.ts")],
    outfile: path.join(outdir, "page.js"),
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    sourcemap: true,
    logLevel: "silent",
    plugins: [
      {
        name: "push-agent-bundle",
        setup(pluginBuild) {
          pluginBuild.onResolve({ filter: /^push-agent$/ }, () => ({
            path: "./push-agent.js",
            external: true,
          }));
        },
      },
    ],
  });
}

/** A page and its scripts on http://127.0.0.1 (a secure context, so WebCrypto is there). */
async function serveStatic(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    if (pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(HTML);
      return;
    }
    if (pathname === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    const type = FILES[pathname];
    if (!type) {
      res.writeHead(404).end();
      return;
    }
    readFile(path.join(dir, pathname.slice(1))).then(
      (body) => res.writeHead(200, { "content-type": type }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function openPage(): Promise<void> {
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => "pushAgent" in window);
}

function send(subscription: PushSubscriptionJSON, text: string, contentEncoding: "aes128gcm" | "aesgcm") {
  return sendPush(subscription, text, { TTL: 60, contentEncoding, vapidDetails });
}

function texts(pushes: ReceivedPush[]): (string | null)[] {
  return pushes.map((push) => push.text);
}

/** The browser side's errors, to put next to a failed expectation. */
function browserErrors(): string {
  return browserLog.length > 0 ? `browser log:\n${browserLog.join("\n")}` : "browser log: (empty)";
}

describe.skipIf(!HAS_CHROMIUM)(SUITE, () => {
  beforeAll(async () => {
    workdir = await mkdtemp(path.join(tmpdir(), "push-agent-chromium-"));
    const outdir = path.join(workdir, "www");
    const bundle = await bundleBrowser({ outdir });
    if (!bundle.ok) throw new Error(`browser bundle check failed: ${bundle.problems.join("; ")}`);
    await buildPage(outdir);
    pushServer = await createPushServer({ port: 0, logger: captureLogger() });
    staticServer = await serveStatic(outdir);
    origin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
    // A persistent context on a fresh profile: IndexedDB survives a reload, as in a real browser.
    context = await chromium.launchPersistentContext(path.join(workdir, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        browserLog.push(`console.${message.type()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => browserLog.push(`pageerror: ${error.message}`));
  }, SETUP_TIMEOUT);

  afterAll(async () => {
    await page?.evaluate(() => window.pushAgent.stop()).catch(() => {});
    await context?.close();
    await pushServer?.close();
    await new Promise((resolve) => (staticServer ? staticServer.close(resolve) : resolve(undefined)));
    if (workdir) await rm(workdir, { recursive: true, force: true });
  }, SETUP_TIMEOUT);

  it("subscribes, decrypts, keeps the subscription across a reload, and unsubscribes", async () => {
    await openPage();
    const uaid = await page.evaluate((url) => window.pushAgent.start(url), pushServer.url);
    expect(uaid, browserErrors()).toMatch(/^[0-9a-f]{32}$/);

    const subscription = await page.evaluate(([scope, key]) => window.pushAgent.subscribe(scope, key), [
      SCOPE,
      vapid.publicKey,
    ] as const);
    expect(subscription.endpoint.startsWith(pushServer.endpointURL)).toBe(true);
    expect(subscription.keys.p256dh).toMatch(/^[\w-]{87}$/);
    expect(subscription.keys.auth).toMatch(/^[\w-]{22}$/);

    // Both encodings an application server may use, through the real network path.
    const sent128 = await send(subscription, "hello from aes128gcm", "aes128gcm");
    const sentGcm = await send(subscription, "hello from aesgcm", "aesgcm");
    expect([sent128.statusCode, sentGcm.statusCode]).toEqual([201, 201]);
    const received = await page.evaluate(() => window.pushAgent.received(2));
    expect(texts(received), browserErrors()).toEqual(["hello from aes128gcm", "hello from aesgcm"]);
    expect(received.every((push) => push.scope === SCOPE)).toBe(true);

    // A reload (no stop(): the page just goes, as a user's reload does) is a new page over the
    // same profile: the subscription comes back from IndexedDB.
    await page.reload();
    await page.waitForFunction(() => "pushAgent" in window);
    const uaidAfter = await page.evaluate((url) => window.pushAgent.start(url), pushServer.url);
    expect(uaidAfter).toBe(uaid);
    const restored = await page.evaluate((scope) => window.pushAgent.getSubscription(scope), SCOPE);
    expect(restored).toEqual(subscription);

    expect((await send(subscription, "after the reload", "aes128gcm")).statusCode).toBe(201);
    const afterReload = await page.evaluate(() => window.pushAgent.received(1));
    expect(texts(afterReload), browserErrors()).toEqual(["after the reload"]);
    expect(await page.evaluate(() => window.pushAgent.decryptErrors())).toEqual([]);

    expect(await page.evaluate((scope) => window.pushAgent.unsubscribe(scope), SCOPE)).toBe(true);
    expect(await page.evaluate((scope) => window.pushAgent.getSubscription(scope), SCOPE)).toBeNull();
    expect((await send(subscription, "too late", "aes128gcm")).statusCode).toBe(410);
    // The library's default logger warns on the console: a clean run leaves nothing there.
    expect(browserLog).toEqual([]);
  });

  it("connects to a server that echoes no subprotocol; asking for one would fail, and a failure is typed", async () => {
    await openPage();
    // The local server answers like autoconnect 1.83.1: no Sec-WebSocket-Protocol in the 101.
    const plain = await page.evaluate((url) => window.pushAgent.probe(url, []), pushServer.url);
    expect(plain).toEqual({ opened: true, protocol: "", code: 0 });
    // Why push-agent asks for none: Chromium fails a handshake whose asked-for subprotocol is not echoed.
    const asking = await page.evaluate(
      (url) => window.pushAgent.probe(url, ["push-notification"]),
      pushServer.url,
    );
    expect(asking).toEqual({ opened: false, protocol: "", code: 1006 });

    // A browser gives no reason for a failed handshake; the typed error says exactly that.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const error = await page.evaluate(
      (url) => window.pushAgent.firstConnectionError(url),
      `ws://127.0.0.1:${port}/`,
    );
    expect(error).toEqual({
      kind: "closed-before-open",
      message: "the connection closed before it opened (1006); the runtime gives no reason",
    });
    browserLog.splice(0);
  });
});
