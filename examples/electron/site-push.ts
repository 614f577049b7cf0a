/**
 * Variant 3: Web Push for the web sites an Electron app hosts. The sites call the standard Push
 * API (`registration.pushManager.subscribe()`, a `push` handler in their service worker); the
 * Chromium bridge (`push-agent/chromium`) makes that work through one PushService in the main
 * process, over each window's `webContents.debugger`.
 *
 * Electron gives the debugger one page at a time, and its service-worker APIs
 * (`session.serviceWorkers`, service-worker preload scripts) give no DevTools session for a
 * worker. So each site the app wants push for keeps a window the bridge is attached to: its
 * service worker is then reached as that page's child, started when stopped, and its pushes are
 * confirmed. A hidden window does. Permission follows the app's own decision, given to both the
 * bridge and the session's permission check, so `Notification.permission` agrees.
 */

import type { BrowserWindow as ElectronBrowserWindow } from "electron";
import type { PushService } from "push-agent";
import { attachPushBridge, type CdpConnection, fromElectron, type PushBridge } from "push-agent/chromium";

export interface SitePushOptions {
  /** Electron's BrowserWindow class. */
  BrowserWindow: typeof ElectronBrowserWindow;
  /** The app's started PushService (see main.ts: durable store in userData). */
  service: PushService;
  /** The sites that may use push, e.g. ["https://mail.example.com"]. */
  allowedOrigins: string[];
  /** The session partition the sites live in. Default "persist:sites" (a persistent one). */
  partition?: string;
}

export interface SitePush {
  /** Keep a hidden window of `url` with the bridge attached; its service worker gets pushes. */
  host(url: string): Promise<void>;
  /** Detach every bridge and close the windows this made. */
  stop(): Promise<void>;
}

export function setupSitePush(options: SitePushOptions): SitePush {
  const allowed = new Set(options.allowedOrigins.map((origin) => new URL(origin).origin));
  const partition = options.partition ?? "persist:sites";
  const hosted: { connection: CdpConnection; bridge: PushBridge }[] = [];

  return {
    async host(url) {
      const window = new options.BrowserWindow({
        show: false,
        webPreferences: { partition, contextIsolation: true, sandbox: true },
      });
      const { session } = window.webContents;
      // The browser's notifications permission and push's answer come from the same list.
      session.setPermissionCheckHandler((_contents, permission, origin) =>
        permission === "notifications" ? allowed.has(origin) : false,
      );
      // Attach before loading, so the page and its worker get the shim before their scripts run.
      // When the window closes, the debugger detaches and the bridge ends with it (bridge.closed).
      const connection = fromElectron(window.webContents.debugger);
      const bridge = await attachPushBridge(connection, {
        service: options.service,
        offTheRecord: !session.isPersistent(),
        permission: (origin) => (allowed.has(origin) ? "granted" : "denied"),
      });
      hosted.push({ connection, bridge });
      await window.loadURL(url);
    },
    async stop() {
      for (const { connection, bridge } of hosted.splice(0)) {
        await bridge.detach();
        await connection.close();
      }
    },
  };
}
