/**
 * Just enough of Electron's types for this repository to type-check the example without
 * installing Electron. In a real app, delete this file: the `electron` package's own types apply.
 */

declare module "electron" {
  interface WebContents {
    send(channel: string, ...args: unknown[]): void;
    isDestroyed(): boolean;
    readonly debugger: Debugger;
    readonly session: Session;
  }

  /** webContents.debugger: the page's Chrome DevTools Protocol transport. */
  interface Debugger {
    attach(protocolVersion?: string): void;
    isAttached(): boolean;
    detach(): void;
    sendCommand(
      method: string,
      commandParams?: Record<string, unknown>,
      sessionId?: string,
    ): Promise<unknown>;
    on(
      event: "message",
      listener: (event: unknown, method: string, params: Record<string, unknown>, sessionId: string) => void,
    ): this;
    on(event: "detach", listener: (event: unknown, reason: string) => void): this;
    removeListener(event: string, listener: (...args: never[]) => void): this;
  }

  interface Session {
    isPersistent(): boolean;
    setPermissionCheckHandler(
      handler:
        | ((webContents: WebContents | null, permission: string, requestingOrigin: string) => boolean)
        | null,
    ): void;
  }

  export class BrowserWindow {
    constructor(options?: {
      width?: number;
      height?: number;
      show?: boolean;
      webPreferences?: {
        preload?: string;
        contextIsolation?: boolean;
        sandbox?: boolean;
        partition?: string;
      };
    });
    static getAllWindows(): BrowserWindow[];
    readonly webContents: WebContents;
    isDestroyed(): boolean;
    loadFile(file: string): Promise<void>;
    loadURL(url: string): Promise<void>;
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
