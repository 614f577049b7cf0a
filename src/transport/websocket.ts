/**
 * The socket: opens a WebSocket (by default asking for no subprotocol, as autoconnect never
 * negotiates one), sends text, and reports open / text message / close, or why it never opened.
 * Nothing protocol-specific lives here. The constructor is injectable (the `WebSocket` option);
 * by default `ws` on every server runtime (Node, Deno, Bun) and the native WebSocket in browsers.
 */

import { currentRuntime, type Runtime } from "../runtime.ts";
import { type ConnectFailure, classifyConnectError, closedBeforeOpen, failure } from "./failure.ts";

export type { ConnectFailure, ConnectFailureKind } from "./failure.ts";

/** The subprotocol Firefox asks for; autoconnect ignores it and echoes nothing. */
export const PUSH_SUBPROTOCOL = "push-notification";

/** The part of the WHATWG WebSocket interface push-agent uses (native WebSocket and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected ("" for none); absent on minimal fakes. */
  readonly protocol?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/**
 * What `ws` adds to the WHATWG interface (Node): WebSocket-level ping frames both ways. Browsers
 * answer server pings themselves and expose neither.
 */
interface NodeWebSocketExtras {
  ping(data?: unknown, mask?: boolean, cb?: (error?: Error) => void): void;
  on(event: "ping" | "pong", listener: () => void): unknown;
  off(event: "ping" | "pong", listener: () => void): unknown;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface TransportHandlers {
  open(): void;
  text(data: string): void;
  /** A frame that was not text: autopush never sends one; the caller decides what to log. */
  binary(): void;
  /** The open socket closed without us asking: code 1006 when it dropped. */
  close(code: number, reason: string): void;
  /** The socket never opened; `failure` says why, as far as the runtime tells. */
  failed(failure: ConnectFailure): void;
  /** A WebSocket-level ping or pong frame arrived (Node `ws` only): the socket is alive. */
  control?(kind: "ping" | "pong"): void;
}

export interface TransportOptions {
  /** Subprotocols to ask for; [] (the default) asks for none. */
  protocols: readonly string[];
  /** ms the opening handshake (TCP, TLS, HTTP upgrade) may take before it is abandoned. */
  connectTimeout: number;
}

const OPEN = 1;

/** The `ws` events a Transport listens to. */
const WS_EVENTS = ["open", "message", "close", "error", "ping", "pong"] as const;

let defaultConstructor: Promise<WebSocketConstructor> | undefined;

/**
 * The WebSocket used when the caller passes none. On Node (every version), Deno and Bun it is `ws`,
 * even where a global WebSocket exists (Node 22+'s undici, Deno's and Bun's own): only `ws` gives
 * ping frames both ways (liveness and the server-ping watchdog), the exact reason a connection
 * failed, the "no subprotocol echoed" error the retry without a subprotocol keys on, and a socket
 * to cork. Deno runs it over its node:http layer, Bun through its built-in `ws` module; both keep
 * those features. Browsers have only the native one. `ws` is loaded lazily (via isomorphic-ws,
 * whose browser build is the native WebSocket) so a browser bundle never pulls it in.
 */
export function loadDefaultWebSocket(): Promise<WebSocketConstructor> {
  defaultConstructor ??= defaultWebSocketFor(currentRuntime());
  return defaultConstructor;
}

async function defaultWebSocketFor(runtime: Runtime): Promise<WebSocketConstructor> {
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (runtime === "browser" && native) return native;
  const mod = (await import("isomorphic-ws")) as unknown as { default: WebSocketConstructor };
  return mod.default;
}

/** The TCP socket under a `ws` WebSocket (its `_socket`); browsers' WebSockets have none. */
interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

function corkableSocketOf(socket: WebSocketLike): CorkableSocket | null {
  const raw = (socket as { _socket?: Partial<CorkableSocket> | null })._socket;
  return raw && typeof raw.cork === "function" && typeof raw.uncork === "function"
    ? (raw as CorkableSocket)
    : null;
}

/** One socket's lifetime. After `close()` (ours) no handler is called again. */
export class Transport {
  readonly #socket: WebSocketLike;
  readonly #handlers: TransportHandlers;
  readonly #protocols: readonly string[];
  readonly #host: string;
  #detached = false;
  #opened = false;
  /** The first error the runtime reported before open; close is where we act on it. */
  #error: ConnectFailure | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  /** Ping and pong listeners of a socket that is not `ws` but has its extras (test doubles). */
  #onPing: (() => void) | null = null;
  #onPong: (() => void) | null = null;
  #corked: CorkableSocket | null = null;

  constructor(
    url: string,
    Ctor: WebSocketConstructor,
    handlers: TransportHandlers,
    options: TransportOptions,
  ) {
    this.#handlers = handlers;
    this.#protocols = options.protocols;
    this.#host = hostOf(url);
    this.#socket = options.protocols.length > 0 ? new Ctor(url, [...options.protocols]) : new Ctor(url);
    this.#connectTimer = setTimeout(
      () => this.#onConnectTimeout(options.connectTimeout),
      options.connectTimeout,
    );
    const ws = wsEmitterOf(this.#socket);
    if (ws) {
      Transport.#owners.set(ws, this);
      for (const event of WS_EVENTS) ws.on(event, Transport.#wsListeners[event]);
      return;
    }
    this.#socket.onopen = () => this.#onOpen();
    this.#socket.onmessage = (event) => {
      if (this.#detached) return;
      if (typeof event.data === "string") handlers.text(event.data);
      else handlers.binary();
    };
    this.#socket.onclose = (event) => this.#onClose(event.code, event.reason);
    this.#socket.onerror = (event) => this.#onError(event);
    const node = nodeExtras(this.#socket);
    if (!node) return;
    this.#onPing = () => this.#control("ping");
    this.#onPong = () => this.#control("pong");
    node.on("ping", this.#onPing);
    node.on("pong", this.#onPong);
  }

  /** The Transport of each `ws` socket, for the listeners every `ws` socket shares. */
  static readonly #owners = new WeakMap<object, Transport>();

  /**
   * On `ws`, its own EventEmitter events with listeners shared by all sockets (`this` is the
   * socket): the `onopen`-style attributes wrap every handler in a closure with two symbol-keyed
   * properties, about 1 KB per idle connection. The payloads are converted as `ws`
   * converts them for those attributes: a text frame's Buffer and the close reason to strings.
   */
  static readonly #wsListeners: Record<(typeof WS_EVENTS)[number], (...args: never[]) => void> = {
    open(this: object) {
      const transport = Transport.#owners.get(this);
      if (transport) transport.#onOpen();
    },
    message(this: object, data: { toString(): string }, isBinary: boolean) {
      const transport = Transport.#owners.get(this);
      if (!transport || transport.#detached) return;
      if (isBinary) transport.#handlers.binary();
      else transport.#handlers.text(data.toString());
    },
    close(this: object, code: number, reason: { toString(): string }) {
      const transport = Transport.#owners.get(this);
      if (transport) transport.#onClose(code, reason.toString());
    },
    error(this: object, error: unknown) {
      const transport = Transport.#owners.get(this);
      if (transport && !transport.#detached) transport.#onError(error);
    },
    ping(this: object) {
      const transport = Transport.#owners.get(this);
      if (transport) transport.#control("ping");
    },
    pong(this: object) {
      const transport = Transport.#owners.get(this);
      if (transport) transport.#control("pong");
    },
  };

  get isOpen(): boolean {
    return !this.#detached && this.#socket.readyState === OPEN;
  }

  /** Whether a WebSocket-level ping can be sent (Node `ws`); browsers cannot. */
  get canPing(): boolean {
    return nodeExtras(this.#socket) !== null;
  }

  /** Returns false when the socket cannot take the frame (not open, or send threw). */
  send(text: string): boolean {
    if (!this.isOpen) return false;
    try {
      this.#corkUntilIdle();
      this.#socket.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Send a WebSocket-level ping frame (Node `ws` only); false when that is impossible. */
  ping(): boolean {
    const node = nodeExtras(this.#socket);
    if (!node || !this.isOpen) return false;
    try {
      node.ping(undefined, undefined, () => {});
      return true;
    } catch {
      return false;
    }
  }

  /** Close from our side; late events from this socket are ignored from now on. */
  close(): void {
    if (this.#detached) return;
    this.#detach();
    try {
      this.#socket.close(1000);
    } catch {
      // A socket still connecting may refuse a close code in some runtimes; it is dropped anyway.
    }
  }

  #onOpen(): void {
    if (this.#detached) return;
    this.#clearConnectTimer();
    const selected = this.#socket.protocol ?? "";
    // `ws` and browsers refuse this themselves; a custom constructor may not.
    if (selected !== "" && !this.#protocols.includes(selected)) {
      this.#fail(
        failure(
          "subprotocol-mismatch",
          `the server selected subprotocol "${selected}", which was not asked for`,
        ),
      );
      return;
    }
    this.#opened = true;
    this.#handlers.open();
  }

  #onError(event: unknown): void {
    if (this.#opened || this.#error) return;
    this.#error = classifyConnectError(event, this.#host);
  }

  #onClose(code: number, reason: string): void {
    if (this.#detached) return;
    this.#detach();
    if (this.#opened) this.#handlers.close(code, reason);
    else this.#handlers.failed(this.#error ?? closedBeforeOpen(code));
  }

  #onConnectTimeout(ms: number): void {
    this.#connectTimer = null;
    if (this.#detached || this.#opened) return;
    this.#fail(failure("handshake-timeout", `no WebSocket handshake with ${this.#host} within ${ms} ms`));
  }

  #fail(reason: ConnectFailure): void {
    this.close();
    this.#handlers.failed(reason);
  }

  #control(kind: "ping" | "pong"): void {
    if (!this.#detached) this.#handlers.control?.(kind);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }

  /**
   * Frames sent in one turn of the event loop (the acks of a batch of notifications) leave in one
   * socket write instead of one write each: on Node, a write to a loopback socket cost about as
   * much as everything else of a message besides its ECDH. Only where `ws` exposes its socket.
   */
  #corkUntilIdle(): void {
    if (this.#corked) return;
    const raw = corkableSocketOf(this.#socket);
    if (!raw) return;
    raw.cork();
    this.#corked = raw;
    setImmediate(() => {
      this.#corked = null;
      raw.uncork();
    });
  }

  #detach(): void {
    this.#detached = true;
    this.#clearConnectTimer();
    const ws = wsEmitterOf(this.#socket);
    if (ws) {
      // The error listener stays (as a no-op now): `ws` emits 'error' for a socket closed while
      // connecting, and an EventEmitter with no error listener would throw it.
      for (const event of WS_EVENTS) if (event !== "error") ws.off(event, Transport.#wsListeners[event]);
      return;
    }
    this.#socket.onmessage = null;
    this.#socket.onopen = null;
    this.#socket.onclose = null;
    const node = nodeExtras(this.#socket);
    if (node && this.#onPing && this.#onPong) {
      node.off("ping", this.#onPing);
      node.off("pong", this.#onPong);
    }
    // `ws` emits 'error' for a socket closed while connecting; nobody listens any more.
    this.#socket.onerror = () => {};
  }
}

/** `ws`'s EventEmitter side; a socket counts as `ws` when it has ws's receiver and sender fields. */
interface WsEmitter {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

function wsEmitterOf(socket: WebSocketLike): WsEmitter | null {
  const candidate = socket as Partial<WsEmitter>;
  if (typeof candidate.on !== "function" || typeof candidate.off !== "function") return null;
  return "_receiver" in socket && "_sender" in socket ? (socket as unknown as WsEmitter) : null;
}

function nodeExtras(socket: WebSocketLike): NodeWebSocketExtras | null {
  const candidate = socket as Partial<NodeWebSocketExtras>;
  if (typeof candidate.ping !== "function" || typeof candidate.on !== "function") return null;
  if (typeof candidate.off !== "function") return null;
  return candidate as NodeWebSocketExtras;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

/** ws:// is only for loopback unless the embedder explicitly allows it. */
export function isLoopbackHost(hostname: string): boolean {
  if (LOOPBACK_HOSTS.has(hostname.toLowerCase())) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
