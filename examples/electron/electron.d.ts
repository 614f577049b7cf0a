/**
 * Just enough of Electron's types for this repository to type-check the example without
 * installing Electron. In a real app, delete this file: the `electron` package's own types apply.
 */

declare module "electron" {
  interface WebContents {
    send(channel: string, ...args: unknown[]): void;
    isDestroyed(): boolean;
  }

  export class BrowserWindow {
    constructor(options?: {
      width?: number;
      height?: number;
      webPreferences?: { preload?: string; contextIsolation?: boolean; sandbox?: boolean };
    });
    static getAllWindows(): BrowserWindow[];
    readonly webContents: WebContents;
    isDestroyed(): boolean;
    loadFile(file: string): Promise<void>;
  }

  export const app: {
    whenReady(): Promise<void>;
    getPath(name: "userData" | "appData" | "home" | "temp"): string;
    on(event: "will-quit", listener: (event: { preventDefault(): void }) => void): void;
    exit(code?: number): void;
  };

  export const powerMonitor: {
    on(event: "suspend" | "resume", listener: () => void): unknown;
    removeListener(event: "suspend" | "resume", listener: () => void): unknown;
  };

  export const net: {
    isOnline(): boolean;
  };

  export const ipcMain: {
    handle(channel: string, listener: (event: unknown, ...args: unknown[]) => unknown): void;
    removeHandler(channel: string): void;
  };

  export const ipcRenderer: {
    invoke(channel: string, ...args: unknown[]): Promise<unknown>;
    on(channel: string, listener: (event: unknown, ...args: never[]) => void): void;
    removeListener(channel: string, listener: (event: unknown, ...args: never[]) => void): void;
  };

  export const contextBridge: {
    exposeInMainWorld(key: string, api: unknown): void;
  };
}
