/**
 * The load tester's raw protocol level: one WebSocket (the library's Transport) that sends
 * exactly the frames a scenario asks for and hands back every server frame parsed by the
 * library's protocol module. No state machine, no retries, no acks of its own: a scenario that
 * wants to test the server, wrong inputs included, decides everything. A few hundred bytes of
 * state per connection, so one process holds tens of thousands.
 *
 * Frames nobody waits for yet wait in a bounded inbox; a scenario takes them with next().
 */

import { parseServerFrame, type ServerMessage } from "../protocol/messages.ts";
import { Transport, type WebSocketConstructor } from "../transport/websocket.ts";

/** Frames kept for a scenario that has not asked for them yet; older ones are dropped. */
const INBOX_LIMIT = 256;

/** The run (or the virtual user) was stopped while a command waited. */
export class ScenarioStopped extends Error {
  override readonly name = "ScenarioStopped";
}

/** A command could not be done: the message says why, `kind` names the error counter. */
export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

interface Waiter {
  match: (message: ServerMessage) => boolean;
  resolve: (message: ServerMessage | null) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface ProtocolClientEvents {
  /** A frame the protocol module could not use (not JSON, unknown type, bad field). */
  ignored(reason: string): void;
  /** The server closed the socket, or it failed. */
  closed(code: number, reason: string): void;
  /** A message went into the inbox, unread (no command was waiting for it). */
  queued?(): void;
}

export class ProtocolClient {
  readonly #transport: Transport;
  readonly #events: ProtocolClientEvents;
  #inbox: ServerMessage[] = [];
  #waiter: Waiter | null = null;
  #opening: { resolve: () => void; reject: (error: Error) => void } | null = null;
  #closed = false;
  /** Why the socket ended, for an opened() asked after the fact. */
  #failure: Error | null = null;
  /** How many inbox frames were dropped unread. */
  dropped = 0;

  /**
   * Starts connecting at once, asking for no subprotocol (the real autoconnect echoes none);
   * `connectTimeoutMs` bounds the opening handshake.
   */
  constructor(
    url: string,
    WebSocket: WebSocketConstructor,
    events: ProtocolClientEvents,
    connectTimeoutMs: number,
  ) {
    this.#events = events;
    this.#transport = new Transport(
      url,
      WebSocket,
      {
        open: () => {
          this.#opening?.resolve();
          this.#opening = null;
        },
        text: (data) => this.#frame(data),
        binary: () => events.ignored("a binary frame"),
        close: (code, reason) => this.#lost(code, reason),
        failed: (failure) => this.#end(new ScenarioError("connect", `cannot connect: ${failure.message}`)),
      },
      { protocols: [], connectTimeout: connectTimeoutMs },
    );
  }

  get isOpen(): boolean {
    return !this.#closed && this.#transport.isOpen;
  }

  /** Resolves when the socket is open; rejects when it fails or closes first (the Transport times the handshake). */
  opened(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    if (this.#closed)
      return Promise.reject(this.#failure ?? new ScenarioError("connect", "the socket is closed"));
    return new Promise((resolve, reject) => {
      this.#opening = { resolve, reject };
    });
  }

  /** Send one text frame as given; false when the socket cannot take it. */
  send(text: string): boolean {
    return this.#transport.send(text);
  }

  /**
   * The first frame (inbox first) that matches; null after timeoutMs (null: no limit). Rejects
   * with ScenarioError("disconnected") when the socket closes, ScenarioStopped on close().
   */
  next(match: (message: ServerMessage) => boolean, timeoutMs: number | null): Promise<ServerMessage | null> {
    const index = this.#inbox.findIndex(match);
    if (index >= 0) return Promise.resolve(this.#inbox.splice(index, 1)[0]!);
    if (this.#closed) return Promise.reject(new ScenarioError("disconnected", "the connection is closed"));
    if (this.#waiter) return Promise.reject(new Error("one command at a time per connection"));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { match, resolve, reject, timer: null };
      if (timeoutMs !== null) {
        waiter.timer = setTimeout(() => {
          this.#waiter = null;
          resolve(null);
        }, timeoutMs);
      }
      this.#waiter = waiter;
    });
  }

  /** Frames waiting in the inbox that match, taken out of it. */
  take(match: (message: ServerMessage) => boolean): ServerMessage[] {
    const taken = this.#inbox.filter(match);
    if (taken.length > 0) this.#inbox = this.#inbox.filter((m) => !match(m));
    return taken;
  }

  /** Close from our side; a waiting command rejects with ScenarioStopped if `stopped`, else disconnected. */
  close(stopped = false): void {
    if (this.#closed) return;
    this.#transport.close();
    this.#end(
      stopped
        ? new ScenarioStopped("stopped")
        : new ScenarioError("disconnected", "disconnected by the scenario"),
    );
  }

  #frame(text: string): void {
    const result = parseServerFrame(text);
    if (result.kind === "ignored") {
      this.#events.ignored(result.reason);
      return;
    }
    const message = result.message;
    const waiter = this.#waiter;
    if (waiter?.match(message)) {
      this.#waiter = null;
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.resolve(message);
      return;
    }
    if (message.type === "pong") return;
    if (this.#inbox.length >= INBOX_LIMIT) {
      this.#inbox.shift();
      this.dropped++;
    }
    this.#inbox.push(message);
    this.#events.queued?.();
  }

  #lost(code: number, reason: string): void {
    if (this.#closed) return;
    const opening = this.#opening !== null;
    this.#end(
      new ScenarioError(
        opening ? "connect" : "disconnected",
        opening
          ? `the connection failed (${code}${reason ? ` ${reason}` : ""})`
          : `the server closed the connection (${code}${reason ? ` ${reason}` : ""})`,
      ),
    );
    if (!opening) this.#events.closed(code, reason);
  }

  #end(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failure = error;
    this.#opening?.reject(error);
    this.#opening = null;
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}
