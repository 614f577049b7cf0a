/**
 * The minimal Chrome DevTools Protocol connection the bridge needs, and its implementation over a
 * browser-level WebSocket: send a command (optionally on a flat session), hear events with their
 * sessionId, learn when the connection is gone. `http://host:port` is resolved through
 * `/json/version` to the browser's WebSocket URL. Adapters for puppeteer and Electron
 * live in adapters.ts and implement the same interface.
 */

import WebSocket from "ws";
import { describeError } from "../log.ts";
import { isLoopbackHost } from "../net/hosts.ts";

/** What a CDP event carries to a listener: the method, its params, and the flat session it came on. */
export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  /** Undefined for events of the root session (the browser, or the page an Electron debugger is on). */
  sessionId?: string;
}

/** Whether the root session is the browser (Target domain over every tab) or one page (Electron). */
export type CdpRoot = "browser" | "page";

/**
 * A CDP connection with flat sessions. Every adapter implements this; the bridge needs nothing else.
 * `send` rejects with CdpCommandError when the browser answers with an error.
 */
export interface CdpConnection {
  readonly root: CdpRoot;
  send(
    method: string,
    params?: Record<string, unknown>,
    sessionId?: string,
  ): Promise<Record<string, unknown>>;
  /** Listen to every event; returns the function that stops listening. */
  onEvent(listener: (event: CdpEvent) => void): () => void;
  /** Called once when the connection is gone (browser closed, debugger detached). */
  onClose(listener: (reason: string) => void): () => void;
  /** Close what this adapter opened; a connection it was given (puppeteer's) is left open. */
  close(): Promise<void>;
}

export type CdpErrorKind = "no-browser" | "not-browser-endpoint" | "insecure" | "closed" | "command";

/** A one-line, typed failure of the CDP layer. */
export class CdpError extends Error {
  override readonly name = "CdpError";
  readonly kind: CdpErrorKind;
  constructor(kind: CdpErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** The browser answered a command with an error object. */
export class CdpCommandError extends CdpError {
  readonly method: string;
  readonly code: number;
  constructor(method: string, code: number, message: string) {
    super("command", `${method}: ${message}`);
    this.method = method;
    this.code = code;
  }
}

export interface ConnectCdpOptions {
  /** Allow a ws:// or http:// CDP endpoint on a non-loopback host (CDP gives full control of the browser). */
  allowRemote?: boolean;
  /** ms to wait for /json/version and the WebSocket handshake. Default 10 000. */
  timeout?: number;
}

/**
 * Connect to a browser's CDP endpoint: `ws://host:port/devtools/browser/<id>`, or `http://host:port`
 * (resolved through /json/version). A page's WebSocket URL is refused: the bridge needs the browser.
 */
export async function connectCdp(url: string, options: ConnectCdpOptions = {}): Promise<CdpConnection> {
  const timeout = options.timeout ?? 10_000;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CdpError("no-browser", `not a URL: ${url}`);
  }
  if (!options.allowRemote && !isLoopbackHost(parsed.hostname)) {
    throw new CdpError(
      "insecure",
      `${parsed.host} is not a loopback host: a CDP endpoint controls the whole browser; allow it explicitly`,
    );
  }
  const wsURL =
    parsed.protocol === "http:" || parsed.protocol === "https:"
      ? await resolveBrowserURL(parsed, timeout)
      : url;
  const path = new URL(wsURL).pathname;
  if (!path.startsWith("/devtools/browser/")) {
    throw new CdpError(
      "not-browser-endpoint",
      `${wsURL} is not a browser-level endpoint (a page's?); use the browser's URL from /json/version or "DevTools listening on"`,
    );
  }
  const socket = await openSocket(wsURL, timeout);
  return new WebSocketCdp(socket);
}

/**
 * The browser-level WebSocket URL of a Chromium started with `--remote-debugging-port=0` (any
 * port) on this profile: it writes the port and path to `DevToolsActivePort` there. This is how a
 * Playwright `launchPersistentContext(userDataDir, { args: ["--remote-debugging-port=0"] })` or
 * any launcher that does not print the URL reaches its browser.
 */
export async function devToolsURL(userDataDir: string, host = "127.0.0.1"): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  let text: string;
  try {
    text = await readFile(join(userDataDir, "DevToolsActivePort"), "utf8");
  } catch (error) {
    throw new CdpError(
      "no-browser",
      `no DevToolsActivePort in ${userDataDir}: is the browser running with --remote-debugging-port?`,
      {
        cause: error,
      },
    );
  }
  const [port, path] = text.split("\n");
  if (!port || !/^\d+$/.test(port) || !path?.startsWith("/devtools/browser/")) {
    throw new CdpError(
      "no-browser",
      `${join(userDataDir, "DevToolsActivePort")} does not name a browser endpoint`,
    );
  }
  return `ws://${host}:${port}${path}`;
}

async function resolveBrowserURL(url: URL, timeout: number): Promise<string> {
  const versionURL = new URL("/json/version", url);
  let response: Response;
  try {
    response = await fetch(versionURL, { signal: AbortSignal.timeout(timeout) });
  } catch (error) {
    throw new CdpError("no-browser", `no browser at ${url.origin}: ${describeError(error)}`, {
      cause: error,
    });
  }
  const body = (await response.json().catch(() => null)) as { webSocketDebuggerUrl?: unknown } | null;
  if (!response.ok || typeof body?.webSocketDebuggerUrl !== "string") {
    throw new CdpError(
      "no-browser",
      `no browser at ${url.origin}: /json/version answered ${response.status}`,
    );
  }
  return body.webSocketDebuggerUrl;
}

function openSocket(url: string, timeout: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { handshakeTimeout: timeout, maxPayload: 256 * 1024 * 1024 });
    socket.once("open", () => {
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      const refusedPage = /Unexpected server response: (400|404|500)/.test(String(error.message));
      reject(
        refusedPage
          ? new CdpError("not-browser-endpoint", `${url} is not an open browser endpoint (${error.message})`)
          : new CdpError("no-browser", `no browser at ${url}: ${describeError(error)}`, { cause: error }),
      );
    });
  });
}

interface Pending {
  method: string;
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** CDP over one `ws` socket: ids, pending commands, events fanned out to listeners. */
class WebSocketCdp implements CdpConnection {
  readonly root = "browser" as const;
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(event: CdpEvent) => void>();
  readonly #closeListeners = new Set<(reason: string) => void>();
  #nextId = 1;
  #closed: string | null = null;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on("message", (data) => this.#receive(String(data)));
    socket.on("error", () => {});
    socket.on("close", () => this.#gone("the browser closed the DevTools connection"));
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new CdpError("closed", `${method}: ${this.#closed}`));
    const id = this.#nextId++;
    const message = sessionId ? { id, method, params, sessionId } : { id, method, params };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { method, resolve, reject });
      this.#socket.send(JSON.stringify(message));
    });
  }

  onEvent(listener: (event: CdpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onClose(listener: (reason: string) => void): () => void {
    if (this.#closed) queueMicrotask(() => listener(this.#closed ?? ""));
    else this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const closed = new Promise<void>((resolve) => this.#socket.once("close", () => resolve()));
    this.#socket.close();
    await closed;
  }

  #receive(text: string): void {
    let message: {
      id?: number;
      method?: string;
      params?: Record<string, unknown>;
      sessionId?: string;
      result?: Record<string, unknown>;
      error?: { code?: number; message?: string };
    };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message.id === "number") {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) {
        pending.reject(
          new CdpCommandError(pending.method, message.error.code ?? 0, message.error.message ?? "error"),
        );
      } else pending.resolve(message.result ?? {});
      return;
    }
    if (typeof message.method !== "string") return;
    const event: CdpEvent = { method: message.method, params: message.params ?? {} };
    if (typeof message.sessionId === "string") event.sessionId = message.sessionId;
    for (const listener of [...this.#listeners]) listener(event);
  }

  #gone(reason: string): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const pending of this.#pending.values())
      pending.reject(new CdpError("closed", `${pending.method}: ${reason}`));
    this.#pending.clear();
    for (const listener of [...this.#closeListeners]) listener(reason);
    this.#closeListeners.clear();
  }
}
