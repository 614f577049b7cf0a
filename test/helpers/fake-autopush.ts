/**
 * A scripted autopush in the test process, for fake-timer tests that run for simulated hours: its
 * sockets open, answer hello, register, unregister and `{}` pings after `latency` ms of timer
 * time, and record every frame the client sends with the (fake) time it was sent. Like
 * autoconnect it keeps every notification until an ack: one pushed while a socket is open goes
 * out at once, the others follow a hello reply in batches of 10, the next batch once the last
 * is acked. The test pushes notifications and drops connections; no network is involved.
 */

import type { WebSocketConstructor, WebSocketLike } from "../../src/transport/websocket.ts";

export type ClientFrame = Record<string, unknown> & { messageType?: string };

export interface SentFrame {
  at: number;
  socket: number;
  frame: ClientFrame;
}

type Notification = { messageType: "notification"; channelID: string; version: string } & Record<
  string,
  unknown
>;

const BATCH = 10;

export class FakeAutopush {
  readonly uaid: string;
  /** ms of timer time before each answer (socket open, hello, register, pong). */
  latency: number;
  /** Whether the server answers at all: false leaves sockets unopened and frames unanswered. */
  answering = true;
  readonly sockets: FakeAutopushSocket[] = [];
  readonly sent: SentFrame[] = [];
  /** When each notification frame went out (direct or re-sent). */
  readonly notificationTimes: number[] = [];
  readonly WebSocket: WebSocketConstructor;
  /** Notifications not acked yet, in push order. */
  readonly unacked = new Map<string, Notification>();

  constructor(options: { uaid?: string; latency?: number } = {}) {
    this.uaid = options.uaid ?? "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
    this.latency = options.latency ?? 0;
    const server = this;
    this.WebSocket = class extends FakeAutopushSocket {
      constructor(url: string) {
        super(server, url);
      }
    };
  }

  /** The newest socket that is open, if any. */
  get open(): FakeAutopushSocket | null {
    const last = this.sockets.at(-1);
    return last && last.readyState === 1 ? last : null;
  }

  /** Frames of one messageType the client sent (acks, nacks, hello…). */
  framesOf(type: string): SentFrame[] {
    return this.sent.filter((s) => s.frame.messageType === type);
  }

  /** Ack codes by version, over every socket. */
  acks(): Map<string, number[]> {
    const codes = new Map<string, number[]>();
    for (const { frame } of this.framesOf("ack")) {
      for (const update of frame.updates as { version: string; code: number }[]) {
        const list = codes.get(String(update.version)) ?? [];
        list.push(update.code);
        codes.set(String(update.version), list);
      }
    }
    return codes;
  }

  /** Nack codes by version. */
  nacks(): Map<string, number[]> {
    const codes = new Map<string, number[]>();
    for (const { frame } of this.framesOf("nack")) {
      const list = codes.get(String(frame.version)) ?? [];
      list.push(frame.code as number);
      codes.set(String(frame.version), list);
    }
    return codes;
  }

  /** Push a notification: sent now when a socket is past hello, else kept for the next one. */
  notify(channelID: string, version: string, extra: Record<string, unknown> = {}): boolean {
    const frame: Notification = { messageType: "notification", channelID, version, ...extra };
    this.unacked.set(version, frame);
    const socket = this.open;
    if (!socket?.helloAnswered) return false;
    socket.push(frame);
    return true;
  }

  /** An ack from the client: the message is done; a socket whose batch is all acked gets the next. */
  acked(socket: FakeAutopushSocket, versions: string[]): void {
    for (const version of versions) {
      this.unacked.delete(version);
      socket.outstanding.delete(version);
    }
    if (socket.outstanding.size === 0) this.sendBatch(socket);
  }

  /** Up to 10 kept notifications this socket has not had yet. */
  sendBatch(socket: FakeAutopushSocket): void {
    for (const frame of this.unacked.values()) {
      if (socket.outstanding.size >= BATCH) return;
      if (socket.outstanding.has(frame.version)) continue;
      socket.push(frame);
    }
  }

  /** Drop the open socket as a network failure would (close 1006). */
  drop(code = 1006): void {
    this.open?.serverClose(code);
  }
}

export class FakeAutopushSocket implements WebSocketLike {
  readonly url: string;
  readonly index: number;
  readonly openedAt = Date.now();
  readyState = 0;
  helloAnswered = false;
  /** Notifications sent on this socket and not acked. */
  readonly outstanding = new Set<string>();
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly #server: FakeAutopush;

  constructor(server: FakeAutopush, url: string) {
    this.#server = server;
    this.url = url;
    this.index = server.sockets.length;
    server.sockets.push(this);
    this.#later(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    const frame = JSON.parse(data) as ClientFrame;
    this.#server.sent.push({ at: Date.now(), socket: this.index, frame });
    this.#answer(frame);
  }

  close(): void {
    this.readyState = 3;
  }

  /** A server frame, now. */
  deliver(frame: Record<string, unknown> | string): void {
    if (this.readyState !== 1) return;
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  push(frame: Notification): void {
    if (this.readyState !== 1) return;
    this.outstanding.add(frame.version);
    this.#server.notificationTimes.push(Date.now());
    this.deliver(frame);
  }

  serverClose(code: number): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }

  #answer(frame: ClientFrame): void {
    const server = this.#server;
    switch (frame.messageType) {
      case "hello":
        this.#later(() => {
          if (this.readyState !== 1) return;
          this.deliver({
            messageType: "hello",
            uaid: server.uaid,
            status: 200,
            use_webpush: true,
            broadcasts: {},
          });
          this.helloAnswered = true;
          server.sendBatch(this);
        });
        return;
      case "ack":
        server.acked(
          this,
          (frame.updates as { version: string }[]).map((u) => String(u.version)),
        );
        return;
      case "register":
        this.#later(() =>
          this.deliver({
            messageType: "register",
            channelID: frame.channelID,
            status: 200,
            pushEndpoint: `https://push.example/wpush/v1/${String(frame.channelID)}`,
          }),
        );
        return;
      case "unregister":
        this.#later(() =>
          this.deliver({ messageType: "unregister", channelID: frame.channelID, status: 200 }),
        );
        return;
      case undefined:
        // `{}` is the ping; autoconnect answers with `{}`.
        this.#later(() => this.deliver("{}"));
        return;
      default:
    }
  }

  #later(action: () => void): void {
    if (!this.#server.answering) return;
    setTimeout(() => {
      if (this.#server.answering) action();
    }, this.#server.latency);
  }
}
