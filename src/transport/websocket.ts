/**
 * The socket: opens a WebSocket with the `push-notification` subprotocol, sends text, and reports
 * open / text message / close. Nothing protocol-specific lives here. The constructor is injectable
 * (the `WebSocket` option); by default the runtime's native WebSocket, else `ws` via isomorphic-ws.
 */

export const SUBPROTOCOL = "push-notification";

/** The part of the WHATWG WebSocket interface push-agent uses (native WebSocket and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface TransportHandlers {
  open(): void;
  text(data: string): void;
  /** A frame that was not text: autopush never sends one; the caller decides what to log. */
  binary(): void;
  /** The socket closed without us asking: code 1006 when it failed to open or dropped. */
  close(code: number, reason: string): void;
}

const OPEN = 1;

let defaultConstructor: Promise<WebSocketConstructor> | undefined;

/**
 * Native WebSocket where the runtime has one (browsers, Electron renderers, Node 22+); else `ws`,
 * loaded lazily so a browser bundle never pulls it in at module top level.
 */
export function loadDefaultWebSocket(): Promise<WebSocketConstructor> {
  defaultConstructor ??= (async () => {
    const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (native) return native;
    const mod = (await import("isomorphic-ws")) as unknown as { default: WebSocketConstructor };
    return mod.default;
  })();
  return defaultConstructor;
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
  #detached = false;
  #corked: CorkableSocket | null = null;

  constructor(url: string, Ctor: WebSocketConstructor, handlers: TransportHandlers) {
    this.#socket = new Ctor(url, [SUBPROTOCOL]);
    this.#socket.onopen = () => {
      if (!this.#detached) handlers.open();
    };
    this.#socket.onmessage = (event) => {
      if (this.#detached) return;
      if (typeof event.data === "string") handlers.text(event.data);
      else handlers.binary();
    };
    this.#socket.onclose = (event) => {
      if (this.#detached) return;
      this.#detach();
      handlers.close(event.code, event.reason);
    };
    // An error is always followed by close; close is where we act.
    this.#socket.onerror = () => {};
  }

  get isOpen(): boolean {
    return !this.#detached && this.#socket.readyState === OPEN;
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
    this.#socket.onmessage = null;
    this.#socket.onopen = null;
    this.#socket.onclose = null;
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

/** ws:// is only for loopback unless the embedder explicitly allows it. */
export function isLoopbackHost(hostname: string): boolean {
  if (LOOPBACK_HOSTS.has(hostname.toLowerCase())) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
