/**
 * An in-memory WebSocket for timer-driven tests (backoff, ping, request timeouts) under fake
 * timers: the test opens it, feeds it frames and closes it, with no network involved.
 */

import type { WebSocketLike } from "../../src/transport/websocket.ts";

export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  readonly url: string;
  readonly protocols: string | string[] | undefined;
  readonly sent: string[] = [];
  readyState = 0;
  closedByClient: number | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = protocols;
    FakeWebSocket.instances.push(this);
  }

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static get last(): FakeWebSocket {
    const socket = FakeWebSocket.instances.at(-1);
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(data);
  }

  close(code = 1000): void {
    this.closedByClient = code;
    this.readyState = 3;
  }

  // ---- driven by the test

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame: string | Record<string, unknown>): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentFrames(): Record<string, unknown>[] {
    return this.sent.map((text) => JSON.parse(text) as Record<string, unknown>);
  }
}

/** A FakeWebSocket with what `ws` adds in Node: ping frames both ways. */
export class FakeNodeWebSocket extends FakeWebSocket {
  pingsSent = 0;
  readonly #listeners = new Map<string, Set<() => void>>();

  ping(): void {
    if (this.readyState !== 1) throw new Error("not open");
    this.pingsSent++;
  }

  on(event: string, listener: () => void): this {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event)!.add(listener);
    return this;
  }

  off(event: string, listener: () => void): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  /** The server sent a ping frame (or answered ours with a pong). */
  control(event: "ping" | "pong"): void {
    for (const listener of this.#listeners.get(event) ?? []) listener();
  }
}
