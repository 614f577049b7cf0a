/**
 * The Electron main-process example (examples/electron/main.ts) under Node, with fake app,
 * ipcMain and windows standing in for Electron's: the renderer's IPC calls reach the service, a
 * push sent with web-push reaches every live window decrypted, and after a restart on the same
 * userData folder the LevelDB store gives back the same subscription.
 */

import { EventEmitter } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import webpush from "web-push";
import {
  CHANNELS,
  type IpcMainLike,
  type PushInMain,
  type PushMessageIPC,
  type SetupPushOptions,
  setupPushInMain,
  type WindowLike,
} from "../../examples/electron/main.ts";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import type { PushSubscriptionJSON } from "../../src/subscription.ts";
import { captureLogger } from "../helpers/logger.ts";

const SCOPE = "https://electron-app.example/";
const vapid = webpush.generateVAPIDKeys();
const vapidDetails = { subject: "mailto:test@example.com", ...vapid };

type Handler = (event: unknown, ...args: unknown[]) => unknown;

/** ipcMain as the main process sees it; `invoke` is what ipcRenderer.invoke ends up calling. */
class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, Handler>();

  handle(channel: string, listener: Handler): void {
    if (this.handlers.has(channel))
      throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }

  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }

  async invoke<T>(channel: string, ...args: unknown[]): Promise<T> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    return (await handler({ sender: "fake renderer" }, ...args)) as T;
  }
}

/** A BrowserWindow whose webContents records what main sends, and lets a test wait for it. */
class FakeWindow implements WindowLike {
  readonly sent: { channel: string; message: PushMessageIPC }[] = [];
  destroyed = false;
  #waiters: { count: number; resolve(): void }[] = [];

  readonly webContents = {
    send: (channel: string, ...args: unknown[]) => {
      this.sent.push({ channel, message: args[0] as PushMessageIPC });
      const due = this.#waiters.filter((waiter) => this.sent.length >= waiter.count);
      this.#waiters = this.#waiters.filter((waiter) => this.sent.length < waiter.count);
      for (const waiter of due) waiter.resolve();
    },
    isDestroyed: () => this.destroyed,
  };

  isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Resolves once `count` messages have been sent to this window in total. */
  messages(count: number): Promise<PushMessageIPC[]> {
    const done = () => this.sent.map((entry) => entry.message);
    if (this.sent.length >= count) return Promise.resolve(done());
    return new Promise((resolve) => this.#waiters.push({ count, resolve: () => resolve(done()) }));
  }
}

let server: PushServer;
let userData: string;
let ipcMain: FakeIpcMain;
let windows: FakeWindow[];
const running: PushInMain[] = [];

beforeAll(async () => {
  server = await createPushServer({ port: 0, logger: captureLogger() });
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  userData = await mkdtemp(path.join(tmpdir(), "push-agent-electron-"));
  ipcMain = new FakeIpcMain();
  windows = [new FakeWindow(), new FakeWindow()];
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((push) => push.stop()));
  await rm(userData, { recursive: true, force: true });
});

/** The main process starting: Electron's app hands out the userData folder. */
async function startMain(extra: Partial<SetupPushOptions> = {}): Promise<PushInMain> {
  const push = await setupPushInMain({
    app: { getPath: () => userData },
    ipcMain,
    BrowserWindow: { getAllWindows: () => windows },
    serverURL: server.url,
    logger: captureLogger(),
    ...extra,
  });
  running.push(push);
  await push.service.ready();
  return push;
}

function send(subscription: PushSubscriptionJSON, text: string, contentEncoding: "aes128gcm" | "aesgcm") {
  return sendPush(subscription, text, { TTL: 60, contentEncoding, vapidDetails });
}

describe("Electron main-process wiring", () => {
  it("subscribes over IPC and forwards decrypted pushes to every live window", async () => {
    const push = await startMain();
    expect(push.location).toBe(path.join(userData, "push-agent"));
    const subscription = await ipcMain.invoke<PushSubscriptionJSON>(
      CHANNELS.subscribe,
      SCOPE,
      vapid.publicKey,
    );
    expect(subscription.endpoint.startsWith(server.endpointURL)).toBe(true);
    expect(await ipcMain.invoke(CHANNELS.getSubscription, SCOPE)).toEqual(subscription);

    const closed = windows[1]!;
    closed.destroyed = true;
    expect((await send(subscription, "via aes128gcm", "aes128gcm")).statusCode).toBe(201);
    expect((await send(subscription, "via aesgcm", "aesgcm")).statusCode).toBe(201);
    const received = await windows[0]!.messages(2);
    expect(received.map(({ scope, text }) => ({ scope, text }))).toEqual([
      { scope: SCOPE, text: "via aes128gcm" },
      { scope: SCOPE, text: "via aesgcm" },
    ]);
    expect(received.every((message) => message.messageId.length > 0)).toBe(true);
    expect(windows[0]!.sent.every((entry) => entry.channel === CHANNELS.message)).toBe(true);
    expect(closed.sent).toEqual([]);
  });

  it("keeps the subscription across a restart on the same userData folder, then unsubscribes", async () => {
    const first = await startMain();
    const subscription = await ipcMain.invoke<PushSubscriptionJSON>(
      CHANNELS.subscribe,
      SCOPE,
      vapid.publicKey,
    );
    const uaid = first.service.uaid;
    await first.stop();
    expect([...ipcMain.handlers.keys()]).toEqual([]);

    const second = await startMain();
    expect(second.service.uaid).toBe(uaid);
    expect(await ipcMain.invoke(CHANNELS.getSubscription, SCOPE)).toEqual(subscription);
    expect((await send(subscription, "after the restart", "aes128gcm")).statusCode).toBe(201);
    expect((await windows[0]!.messages(1)).map((message) => message.text)).toEqual(["after the restart"]);

    expect(await ipcMain.invoke(CHANNELS.unsubscribe, SCOPE)).toBe(true);
    expect(await ipcMain.invoke(CHANNELS.getSubscription, SCOPE)).toBeNull();
    expect((await send(subscription, "too late", "aes128gcm")).statusCode).toBe(410);
  });

  it("refuses IPC arguments that are not strings before they reach the service", async () => {
    await startMain();
    await expect(ipcMain.invoke(CHANNELS.subscribe, 42)).rejects.toThrow(TypeError);
    await expect(ipcMain.invoke(CHANNELS.subscribe, SCOPE, { key: 1 })).rejects.toThrow(TypeError);
    await expect(ipcMain.invoke(CHANNELS.getSubscription, "")).rejects.toThrow(TypeError);
    await expect(ipcMain.invoke(CHANNELS.unsubscribe, null)).rejects.toThrow(TypeError);
  });
});

describe("Electron main-process wiring: sleep and network changes", () => {
  it("suspend takes the service offline, resume reconnects; net.isOnline() going false and true does the same", async () => {
    const powerMonitor = new EventEmitter();
    let online = true;
    const push = await startMain({ powerMonitor, net: { isOnline: () => online }, netCheckInterval: 10 });
    const { service } = push;

    powerMonitor.emit("suspend");
    expect(service.online).toBe(false);
    expect(service.state).toBe("ShutDown");
    powerMonitor.emit("resume");
    expect(service.online).toBe(true);
    await service.ready();

    // Awake and online, a resume only checks the socket: it stays up.
    powerMonitor.emit("resume");
    expect(service.state).toBe("Ready");

    online = false;
    await expect.poll(() => service.online).toBe(false);
    expect(service.state).toBe("ShutDown");
    online = true;
    await expect.poll(() => service.state).toBe("Ready");

    await push.stop();
    expect(powerMonitor.listenerCount("resume")).toBe(0);
    expect(powerMonitor.listenerCount("suspend")).toBe(0);
  });
});
