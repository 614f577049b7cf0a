/**
 * A scripted autopush server for protocol tests: a real WebSocket server on 127.0.0.1 whose every
 * reply is written by the test. It records the frames the client sends, in order.
 */

import { type AddressInfo, WebSocketServer, type WebSocket as WsSocket } from "ws";

export type Frame = Record<string, unknown>;

class Queue<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }

  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  get size(): number {
    return this.#items.length;
  }
}

export class ScriptedConnection {
  readonly socket: WsSocket;
  readonly protocol: string;
  /** The subprotocols the client asked for in its upgrade request. */
  readonly requestedProtocols: string[];
  /** Every text frame the client sent, raw. */
  readonly received: string[] = [];
  readonly #frames = new Queue<string>();
  readonly closed: Promise<{ code: number }>;

  constructor(socket: WsSocket, requestedProtocols: string[]) {
    this.socket = socket;
    this.protocol = socket.protocol;
    this.requestedProtocols = requestedProtocols;
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      this.received.push(text);
      this.#frames.push(text);
    });
    this.closed = new Promise((resolve) => socket.on("close", (code) => resolve({ code })));
  }

  /** The next frame the client sends, raw. */
  nextText(): Promise<string> {
    return this.#frames.next();
  }

  /** The next frame the client sends, parsed. */
  async next(): Promise<Frame> {
    return JSON.parse(await this.nextText()) as Frame;
  }

  /** Skip frames until one of the given messageType arrives (others are kept in `received`). */
  async nextOfType(type: string): Promise<Frame> {
    for (;;) {
      const frame = await this.next();
      if (frame.messageType === type) return frame;
    }
  }

  send(frame: Frame | string): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(code = 1000, reason = ""): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  /** Answer the hello the client sends; returns the hello frame. */
  async acceptHello(uaid = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11", extra: Frame = {}): Promise<Frame> {
    const hello = await this.next();
    if (hello.messageType !== "hello") throw new Error(`expected hello, got ${JSON.stringify(hello)}`);
    this.send({ messageType: "hello", uaid, status: 200, use_webpush: true, broadcasts: {}, ...extra });
    return hello;
  }

  /** Answer the next register with 200 and an endpoint; returns the register frame. */
  async acceptRegister(endpointBase = "https://push.example/wpush/v1/"): Promise<Frame> {
    const register = await this.nextOfType("register");
    this.send({
      messageType: "register",
      channelID: register.channelID,
      status: 200,
      pushEndpoint: `${endpointBase}${String(register.channelID)}`,
    });
    return register;
  }
}

export class ScriptedServer {
  readonly url: string;
  readonly #wss: WebSocketServer;
  readonly #connections = new Queue<ScriptedConnection>();
  readonly all: ScriptedConnection[] = [];

  private constructor(wss: WebSocketServer) {
    this.#wss = wss;
    const { port } = wss.address() as AddressInfo;
    this.url = `ws://127.0.0.1:${port}/`;
    wss.on("connection", (socket, req) => {
      const header = req.headers["sec-websocket-protocol"];
      const requested = header ? header.split(",").map((p) => p.trim()) : [];
      const connection = new ScriptedConnection(socket, requested);
      this.all.push(connection);
      this.#connections.push(connection);
    });
  }

  /**
   * `select` decides the 101 reply's subprotocol from what the client asked for; by default none,
   * like autoconnect 1.83.1.
   */
  static async start(
    options: { select?: (requested: Set<string>) => string | false } = {},
  ): Promise<ScriptedServer> {
    const select = options.select ?? (() => false);
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => select(protocols),
    });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    return new ScriptedServer(wss);
  }

  /** The next connection the client opens. */
  nextConnection(): Promise<ScriptedConnection> {
    return this.#connections.next();
  }

  get pendingConnections(): number {
    return this.#connections.size;
  }

  async close(): Promise<void> {
    for (const connection of this.all) connection.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
