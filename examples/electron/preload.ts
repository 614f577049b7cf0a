/**
 * The preload bridge of the main-process variant: exposes `window.push` to the page with
 * exactly the calls main.ts answers, and nothing else of ipcRenderer. Sandboxed preloads must be
 * CommonJS: build this file to preload.cjs.
 */

import { contextBridge, ipcRenderer } from "electron";
import type { PushMessageIPC } from "./main.ts";

// Literal names here: a sandboxed preload can only require "electron", so main.ts is not loaded.
const api = {
  subscribe: (scope: string, applicationServerKey?: string) =>
    ipcRenderer.invoke("push:subscribe", scope, applicationServerKey),
  unsubscribe: (scope: string) => ipcRenderer.invoke("push:unsubscribe", scope),
  getSubscription: (scope: string) => ipcRenderer.invoke("push:getSubscription", scope),
  /** Returns a function that stops listening. */
  onMessage(callback: (message: PushMessageIPC) => void): () => void {
    const listener = (_event: unknown, message: PushMessageIPC) => callback(message);
    ipcRenderer.on("push-message", listener);
    return () => ipcRenderer.removeListener("push-message", listener);
  },
};

export type PushBridge = typeof api;

contextBridge.exposeInMainWorld("push", api);
