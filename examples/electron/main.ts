/**
 * Web Push in an Electron app's main process: one PushService for the whole app, its
 * subscriptions in a durable LevelDB store under the app's userData folder, every push forwarded
 * to the renderer windows over IPC, and subscribe / unsubscribe / getSubscription answered over
 * IPC (`ipcRenderer.invoke`).
 *
 * Electron's objects come in as parameters (nothing here imports "electron"), so the wiring runs
 * under plain Node with fakes: see test/electron/main-wiring.test.ts. electron-main.ts is the
 * thin file that passes the real ones.
 */

import path from "node:path";
import { type Logger, PushService, type PushServiceOptions, type PushSubscriptionJSON } from "push-agent";
import { openLevelPushDB } from "push-agent/node";

/** IPC channel names shared with the preload script. */
export const CHANNELS = {
  subscribe: "push:subscribe",
  unsubscribe: "push:unsubscribe",
  getSubscription: "push:getSubscription",
  /** main → renderer: one message per push. */
  message: "push-message",
} as const;

/** What a renderer receives on CHANNELS.message. */
export interface PushMessageIPC {
  scope: string;
  messageId: string;
  /** The decrypted payload as UTF-8 text; null for a push without payload. */
  text: string | null;
}

// The slices of Electron's API this module uses; Electron's real objects fit them.
export interface AppLike {
  getPath(name: "userData"): string;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: unknown, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface WindowLike {
  isDestroyed(): boolean;
  readonly webContents: { send(channel: string, ...args: unknown[]): void; isDestroyed(): boolean };
}

/** Electron's powerMonitor: sleep and wake-up. */
export interface PowerMonitorLike {
  on(event: "suspend" | "resume", listener: () => void): unknown;
  removeListener(event: "suspend" | "resume", listener: () => void): unknown;
}

/** Electron's net module: whether the machine has a network (main has no online event, so it is polled). */
export interface NetLike {
  isOnline(): boolean;
}

export interface SetupPushOptions {
  app: AppLike;
  ipcMain: IpcMainLike;
  /** Electron's BrowserWindow class: pushes go to all its windows. */
  BrowserWindow?: { getAllWindows(): WindowLike[] };
  /** Or choose the windows yourself (wins over BrowserWindow). */
  getWindows?: () => WindowLike[];
  /** The autopush server; default Mozilla's. */
  serverURL?: string;
  /** Where the store lives; default app.getPath("userData"). The store is its "push-agent" subfolder. */
  userDataDir?: string;
  logger?: Logger;
  /** Electron's powerMonitor: suspend takes the service offline, resume checks the connection. */
  powerMonitor?: PowerMonitorLike;
  /** Electron's net: polled every netCheckInterval ms; offline closes the socket until online. */
  net?: NetLike;
  /** ms between net.isOnline() checks. Default 5 000. */
  netCheckInterval?: number;
  /** Anything else for the PushService (timeouts, hasPermission, …); `db` is set here. */
  serviceOptions?: Omit<PushServiceOptions, "db" | "serverURL" | "logger">;
}

export interface PushInMain {
  service: PushService;
  /** The LevelDB folder. */
  location: string;
  /** Remove the IPC handlers, stop the service, close the store. Call it on will-quit. */
  stop(): Promise<void>;
}

export async function setupPushInMain(options: SetupPushOptions): Promise<PushInMain> {
  const { ipcMain } = options;
  const getWindows = windowLister(options);
  const location = path.join(options.userDataDir ?? options.app.getPath("userData"), "push-agent");
  const db = await openLevelPushDB(location);
  const service = new PushService({
    ...options.serviceOptions,
    ...(options.serverURL ? { serverURL: options.serverURL } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    db,
  });

  // webContents.send only queues the message: the push is acked once every window has it queued.
  service.observe("push-message", (event) => {
    const message: PushMessageIPC = {
      scope: event.scope,
      messageId: event.messageId,
      text: event.data?.text() ?? null,
    };
    for (const window of getWindows()) {
      if (!window.isDestroyed() && !window.webContents.isDestroyed()) {
        window.webContents.send(CHANNELS.message, message);
      }
    }
  });

  ipcMain.handle(
    CHANNELS.subscribe,
    async (_event, scope, applicationServerKey): Promise<PushSubscriptionJSON> => {
      const key =
        applicationServerKey == null ? null : stringArg("applicationServerKey", applicationServerKey);
      return (
        await service.subscribe({ scope: stringArg("scope", scope), applicationServerKey: key })
      ).toJSON();
    },
  );
  ipcMain.handle(CHANNELS.unsubscribe, (_event, scope) => service.unsubscribe(stringArg("scope", scope)));
  ipcMain.handle(
    CHANNELS.getSubscription,
    async (_event, scope): Promise<PushSubscriptionJSON | null> =>
      (await service.getSubscription(stringArg("scope", scope)))?.toJSON() ?? null,
  );

  try {
    // Resolves once the store is open; the connection comes up (and retries) in the background.
    await service.start();
  } catch (error) {
    removeHandlers(ipcMain);
    await db.close();
    throw error;
  }

  const stopNetwork = wireNetwork(service, options);
  let stopping: Promise<void> | null = null;
  const stop = async () => {
    stopNetwork();
    removeHandlers(ipcMain);
    await service.stop();
    await db.close();
  };
  return {
    service,
    location,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/**
 * Sleep and network changes reach the service: a suspended machine's socket dies silently, so
 * suspend takes the service offline (the server keeps pushes for it) and resume brings it back
 * at once (or, if it never went offline, checks the socket with networkChanged()). The network
 * going away or coming back (net.isOnline(), polled) does the same.
 */
function wireNetwork(service: PushService, options: SetupPushOptions): () => void {
  const { powerMonitor, net } = options;
  const onSuspend = () => service.setOnline(false);
  const onResume = () => {
    if (service.online) service.networkChanged();
    else service.setOnline(net ? net.isOnline() : true);
  };
  powerMonitor?.on("suspend", onSuspend);
  powerMonitor?.on("resume", onResume);
  let timer: ReturnType<typeof setInterval> | undefined;
  if (net) {
    let last = net.isOnline();
    if (!last) service.setOnline(false);
    timer = setInterval(() => {
      const online = net.isOnline();
      if (online !== last) service.setOnline(online);
      last = online;
    }, options.netCheckInterval ?? 5_000);
    timer.unref?.();
  }
  return () => {
    powerMonitor?.removeListener("suspend", onSuspend);
    powerMonitor?.removeListener("resume", onResume);
    clearInterval(timer);
  };
}

function windowLister(options: SetupPushOptions): () => WindowLike[] {
  if (options.getWindows) return options.getWindows;
  const { BrowserWindow } = options;
  if (BrowserWindow) return () => BrowserWindow.getAllWindows();
  throw new TypeError("setupPushInMain needs BrowserWindow or getWindows to know where pushes go");
}

function removeHandlers(ipcMain: IpcMainLike): void {
  ipcMain.removeHandler(CHANNELS.subscribe);
  ipcMain.removeHandler(CHANNELS.unsubscribe);
  ipcMain.removeHandler(CHANNELS.getSubscription);
}

/** IPC arguments come from a renderer: check them before they reach the service. */
function stringArg(name: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0)
    throw new TypeError(`${name} must be a non-empty string`);
  return value;
}
