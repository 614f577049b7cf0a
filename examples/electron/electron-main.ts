/**
 * The Electron entry of the main-process variant: hands Electron's real objects to
 * setupPushInMain, opens a window with the preload bridge, and stops push-agent before the app
 * quits (so the LevelDB store closes cleanly). The wiring itself lives in main.ts.
 */

import path from "node:path";
import { app, BrowserWindow, ipcMain, net, powerMonitor } from "electron";
import { setupPushInMain } from "./main.ts";

const serverURL = process.env.PUSH_SERVER_URL ?? "wss://push.services.mozilla.com/";

await app.whenReady();
// powerMonitor and net tell push-agent about sleep and network changes (a zombie socket otherwise
// lingers until the next ping, up to pingInterval).
const push = await setupPushInMain({ app, ipcMain, BrowserWindow, serverURL, powerMonitor, net });

const window = new BrowserWindow({
  width: 800,
  height: 600,
  webPreferences: {
    preload: path.join(import.meta.dirname, "preload.cjs"),
    contextIsolation: true,
    sandbox: true,
  },
});
await window.loadFile(path.join(import.meta.dirname, "index.html"));

// will-quit cannot await: hold the quit, stop push-agent, then exit (app.exit skips will-quit).
app.on("will-quit", (event) => {
  event.preventDefault();
  push.stop().finally(() => app.exit(0));
});
