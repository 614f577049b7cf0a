/**
 * The connection state machine ShutDown → WaitingForWebSocket → WaitingForHello → Ready, with
 * Firefox's PushServiceWebSocket rules: the hello handshake, reply-expecting requests
 * (register/unregister) keyed by channelID with a request timeout, the `{}` ping after
 * pingInterval of inbound silence (never closer than autoconnect's 45 s floor), exponential
 * reconnect backoff, and close code 4774. A connection that never opens is reported with its
 * typed cause (ConnectFailure), warned once per distinct cause.
 *
 * Liveness after sleep and network changes: `probe()` (the embedder's "network changed / woke
 * up" hook, a wall-clock jump, or missing server ping frames) checks the socket at once with a
 * WebSocket ping where the runtime has one, else a `{}` if the 45 s floor allows, else by
 * reconnecting; no answer within requestTimeout → reconnect at once, backoff reset.
 * `setOnline(false)` closes the socket and makes no attempt until `setOnline(true)`.
 *
 * It owns the socket and the timers; it knows nothing of records, keys or observers. Parsed
 * frames go up to the service through the ConnectionDelegate.
 */

import { describeError, type Logger } from "../log.ts";
import {
  type BroadcastMessage,
  type HelloReply,
  helloFrame,
  type LegacyNotification,
  type ParseResult,
  PING_FRAME,
  parseServerFrame,
  type RegisterReply,
  type ServerMessage,
  type UnregisterReply,
  type WebPushNotification,
} from "../protocol/messages.ts";
import { type ConnectFailure, failureKey } from "../transport/failure.ts";
import { Transport, type TransportHandlers, type WebSocketConstructor } from "../transport/websocket.ts";
import { WakeDetector } from "./wake.ts";

export type ConnectionState = "ShutDown" | "WaitingForWebSocket" | "WaitingForHello" | "Ready";

/** The server's "back off" close code: no automatic reconnect until there is something to send. */
export const BACKOFF_CLOSE_CODE = 4774;

/**
 * autoconnect closes a connection (1011 "SM", ExcessivePing) whose `{}` pings come less than
 * 45 s apart, so no `{}` ping goes out sooner than this after the previous one on a socket.
 */
export const MIN_PING_INTERVAL = 45_000;

export interface ConnectionOptions {
  serverURL: string;
  WebSocket: WebSocketConstructor;
  requestTimeout: number;
  retryBaseInterval: number;
  pingInterval: number;
  /** The subprotocol to ask for; null (the default) asks for none, which every autopush accepts. */
  subprotocol: string | null;
  /** ms the opening handshake may take. */
  connectTimeout: number;
  /** ms between wall-clock checks for a sleep; 0 disables. */
  wakeCheckInterval?: number;
  logger: Logger;
}

export type InboundMessage = WebPushNotification | LegacyNotification | BroadcastMessage;

export interface ConnectionDelegate {
  /** What to say in hello. A failure here is treated as "no subscriptions". */
  hello(): Promise<{ uaid: string | null; broadcasts: Record<string, string> }>;
  /** Act on a valid hello reply; the connection is Ready, and requests are re-sent, once it resolves. */
  handshake(reply: HelloReply): Promise<void>;
  message(message: InboundMessage): void;
  /** `error` is set when the change to ShutDown is a connection attempt that failed. */
  stateChanged(state: ConnectionState, previous: ConnectionState, error?: ConnectFailure): void;
}

type ReplyType = "register" | "unregister";
type Reply<T extends ReplyType> = T extends "register" ? RegisterReply : UnregisterReply;

interface PendingRequest {
  frame: string;
  ctime: number;
  resolve(reply: RegisterReply | UnregisterReply): void;
  reject(error: Error): void;
  promise: Promise<RegisterReply | UnregisterReply>;
}

export class RequestError extends Error {
  override name = "RequestError";
}

export class Connection {
  readonly #options: ConnectionOptions;
  readonly #delegate: ConnectionDelegate;
  #state: ConnectionState = "ShutDown";
  #transport: Transport | null = null;
  /** Bumped for every socket, so async continuations of an older socket can tell they are stale. */
  #generation = 0;
  #retryFailCount = 0;
  #lastPingTime = 0;
  /** When the last `{}` went out on the current socket (0: none yet): the 45 s floor. */
  #lastPingSent = 0;
  readonly #pingInterval: number;
  #protocols: string[];
  /** The last failure warned about; the same cause again is logged at debug only. */
  #lastFailureKey: string | null = null;
  #online = true;
  /** Set while a liveness probe waits for any answer. */
  #probeTimer: ReturnType<typeof setTimeout> | null = null;
  #helloTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #wake: WakeDetector;
  /** Server WebSocket pings seen on this socket: their period, once two were seen. */
  #lastServerPing = 0;
  #serverPingPeriod = 0;
  #serverPingTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setTimeout> | null = null;
  #backoffTimer: ReturnType<typeof setTimeout> | null = null;
  #requestTimer: ReturnType<typeof setInterval> | null = null;
  /** Made with the first request, dropped with the last: an idle connection holds none (issue 15). */
  #pending: Map<string, PendingRequest> | null = null;
  /** Fire-and-forget frames (broadcast_subscribe) waiting for Ready. Dropped on teardown. */
  #gate: string[] = [];
  /** Frames that arrived while the hello reply was being handled, replayed in order afterwards. */
  #inbox: string[] | null = null;

  /**
   * What a socket reports, routed to this connection: one small object per socket whose methods
   * live on the prototype, instead of six closures (about 0.4 KB per idle connection, issue 15).
   */
  static readonly #SocketEvents = class implements TransportHandlers {
    readonly #connection: Connection;
    readonly #generation: number;

    constructor(connection: Connection, generation: number) {
      this.#connection = connection;
      this.#generation = generation;
    }

    open(): void {
      void this.#connection.#onOpen(this.#generation);
    }

    text(text: string): void {
      this.#connection.#onText(text);
    }

    binary(): void {
      this.#connection.#options.logger.warn("push: ignoring a binary frame");
    }

    close(code: number, reason: string): void {
      this.#connection.#onClose(code, reason);
    }

    failed(reason: ConnectFailure): void {
      this.#connection.#onFailed(reason);
    }

    control(kind: "ping" | "pong"): void {
      this.#connection.#onControl(kind);
    }
  };

  constructor(options: ConnectionOptions, delegate: ConnectionDelegate) {
    this.#options = options;
    this.#delegate = delegate;
    this.#protocols = options.subprotocol ? [options.subprotocol] : [];
    this.#wake = new WakeDetector(options.wakeCheckInterval ?? 0, (gap) =>
      this.probe(`the clock jumped ${Math.round(gap / 1000)} s (woke up?)`),
    );
    this.#pingInterval = Math.max(options.pingInterval, MIN_PING_INTERVAL);
    if (options.pingInterval < MIN_PING_INTERVAL) {
      options.logger.warn(
        `push: pingInterval ${options.pingInterval} ms is below autoconnect's ${MIN_PING_INTERVAL} ms floor for {} pings; pinging after ${MIN_PING_INTERVAL} ms of silence (the reconnect backoff still caps at ${options.pingInterval} ms)`,
      );
    }
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The current socket's generation; frames tagged with an older one are not sent. */
  get generation(): number {
    return this.#generation;
  }

  /** The retry count the next backoff delay is computed from (exposed for diagnostics and tests). */
  get retryFailCount(): number {
    return this.#retryFailCount;
  }

  /** Open a socket if there is none; a pending backoff is cut short. */
  connect(): void {
    this.#wake.start();
    this.#beginSetup();
  }

  /** Full shutdown: socket closed, every timer cancelled, pending requests rejected. */
  shutdown(): void {
    this.#cancelBackoff();
    this.#wake.stop();
    this.#teardown(true);
  }

  get online(): boolean {
    return this.#online;
  }

  /**
   * Offline: close the socket and make no connection attempt (pending requests wait, and time
   * out as usual). Online: connect at once with the backoff reset.
   */
  setOnline(online: boolean): void {
    if (online === this.#online) return;
    this.#online = online;
    this.#options.logger.info(`push: ${online ? "online: connecting" : "offline: closing the connection"}`);
    this.#cancelBackoff();
    if (!online) {
      this.#teardown(false);
      return;
    }
    this.#retryFailCount = 0;
    this.#beginSetup();
  }

  /**
   * The network may have changed or the machine woke up: check the socket now. Not Ready (a
   * backoff or handshake pending over what may be a dead network) → start over at once.
   */
  probe(why: string): void {
    if (!this.#online) return;
    const { logger } = this.#options;
    if (this.#state !== "Ready" || !this.#transport) {
      if (this.#state === "ShutDown" && !this.#backoffTimer) return;
      logger.info(`push: ${why}; connecting again now`);
      this.#reconnectNow();
      return;
    }
    if (this.#probeTimer) return;
    const sent = this.#transport.ping() || this.#sendPingNowIfAllowed();
    if (!sent) {
      logger.info(`push: ${why}; a {} ping went out under ${MIN_PING_INTERVAL} ms ago, so reconnecting`);
      this.#reconnectNow();
      return;
    }
    logger.debug(`push: ${why}; checking the connection`);
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      logger.info(`push: no answer within ${this.#options.requestTimeout} ms after ${why}; reconnecting`);
      this.#reconnectNow();
    }, this.#options.requestTimeout);
  }

  /**
   * Send a reply-expecting request. A second identical request shares the first one's promise.
   * Sent now when Ready, otherwise after the next hello; rejected on timeout or shutdown.
   */
  request<T extends ReplyType>(type: T, channelID: string, frame: string): Promise<Reply<T>> {
    const key = `${type}|${channelID}`.toLowerCase();
    const existing = this.#pending?.get(key);
    if (existing) return existing.promise as Promise<Reply<T>>;
    const entry = deferredRequest(frame);
    this.#pending ??= new Map();
    this.#pending.set(key, entry);
    this.#startRequestTimer();
    if (this.#state === "Ready") this.#sendOrReconnect(frame);
    else this.#beginSetup();
    return entry.promise as Promise<Reply<T>>;
  }

  /**
   * Send a frame that expects no reply on the socket of `generation` (ack, nack). If that socket
   * is gone the frame is dropped: the server re-sends what was not acked.
   */
  sendOn(generation: number, frame: string): void {
    if (generation !== this.#generation || this.#state !== "Ready") return;
    this.#sendOrReconnect(frame);
  }

  /** Send a frame that expects no reply whenever the connection is next Ready (broadcast_subscribe). */
  sendWhenReady(frame: string): void {
    if (this.#state === "Ready") {
      this.#sendOrReconnect(frame);
      return;
    }
    this.#gate.push(frame);
    this.#beginSetup();
  }

  // -------------------------------------------------------------------------------------------
  // Socket lifecycle

  #setState(state: ConnectionState, error?: ConnectFailure): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#options.logger.debug(`push: connection ${previous} → ${state}`);
    if (error) this.#delegate.stateChanged(state, previous, error);
    else this.#delegate.stateChanged(state, previous);
  }

  #beginSetup(): void {
    if (this.#state !== "ShutDown" || !this.#online) return;
    this.#cancelBackoff();
    const generation = ++this.#generation;
    try {
      this.#transport = new Transport(
        this.#options.serverURL,
        this.#options.WebSocket,
        new Connection.#SocketEvents(this, generation),
        { protocols: this.#protocols, connectTimeout: this.#options.connectTimeout },
      );
    } catch (error) {
      this.#options.logger.warn(`push: cannot open the WebSocket: ${describeError(error)}`);
      this.#reconnect();
      return;
    }
    this.#setState("WaitingForWebSocket");
  }

  async #onOpen(generation: number): Promise<void> {
    if (this.#state !== "WaitingForWebSocket") return;
    let hello: { uaid: string | null; broadcasts: Record<string, string> };
    try {
      hello = await this.#delegate.hello();
    } catch (error) {
      this.#options.logger.warn(`push: cannot read subscriptions for hello: ${describeError(error)}`);
      hello = { uaid: null, broadcasts: {} };
    }
    if (generation !== this.#generation || this.#state !== "WaitingForWebSocket") return;
    const frame = helloFrame(hello.uaid, hello.broadcasts);
    if (!this.#transport?.send(frame)) {
      this.#reconnect();
      return;
    }
    this.#setState("WaitingForHello");
    // A server that opens the socket and never answers hello would otherwise hold it forever.
    this.#helloTimer = setTimeout(() => {
      this.#helloTimer = null;
      this.#options.logger.warn(
        `push: no hello reply within ${this.#options.requestTimeout} ms; reconnecting`,
      );
      this.#reconnect();
    }, this.#options.requestTimeout);
  }

  #onClose(code: number, reason: string): void {
    this.#transport = null;
    if (code === BACKOFF_CLOSE_CODE) {
      this.#options.logger.info(
        "push: server asked to back off (4774); reconnecting when there is something to send",
      );
      this.#teardown(true);
      return;
    }
    this.#options.logger.info(`push: connection closed (${code}${reason ? ` ${reason}` : ""}); reconnecting`);
    this.#reconnect();
  }

  /**
   * The socket never opened. Warned once per distinct cause (a server down for an hour is one
   * warning, not 40), and handed to the embedder on the state change either way.
   */
  #onFailed(reason: ConnectFailure): void {
    this.#transport = null;
    const key = failureKey(reason);
    const { logger, serverURL } = this.#options;
    if (key === this.#lastFailureKey) logger.debug(`push: cannot connect to ${serverURL}: ${reason.message}`);
    else logger.warn(`push: cannot connect to ${serverURL}: ${reason.message}; retrying`);
    this.#lastFailureKey = key;
    if (reason.kind === "subprotocol-missing" && this.#protocols.length > 0) {
      // The server works, it just does not negotiate: ask for nothing from now on, at once.
      logger.warn(`push: ${serverURL} negotiates no subprotocol; connecting without one`);
      this.#protocols = [];
      this.#teardown(false, reason);
      this.#beginSetup();
      return;
    }
    this.#teardown(false, reason);
    this.#startBackoff();
  }

  #reconnect(): void {
    this.#teardown(false);
    this.#startBackoff();
  }

  /** A dead socket found by a probe: start over without waiting, as a fresh start would. */
  #reconnectNow(): void {
    this.#cancelBackoff();
    this.#retryFailCount = 0;
    this.#teardown(false);
    this.#beginSetup();
  }

  /** Back to ShutDown. Pending requests survive (they are re-sent after the next hello) unless cancelled. */
  #teardown(cancelPending: boolean, error?: ConnectFailure): void {
    this.#transport?.close();
    this.#transport = null;
    this.#generation++;
    this.#lastPingTime = 0;
    this.#lastPingSent = 0;
    this.#clearProbe();
    this.#clearServerPingWatch();
    this.#clearHelloTimer();
    this.#inbox = null;
    this.#gate = [];
    this.#clearPingTimer();
    if (cancelPending) {
      this.#rejectAll(new RequestError("Request aborted"));
      this.#stopRequestTimer();
    }
    this.#setState("ShutDown", error);
  }

  #startBackoff(): void {
    this.#cancelBackoff();
    const { retryBaseInterval, pingInterval } = this.#options;
    const delay = Math.min(retryBaseInterval * 2 ** this.#retryFailCount, pingInterval);
    this.#retryFailCount++;
    this.#options.logger.debug(`push: reconnecting in ${delay} ms`);
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = null;
      this.#beginSetup();
    }, delay);
  }

  #cancelBackoff(): void {
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    this.#backoffTimer = null;
  }

  #sendOrReconnect(frame: string): void {
    if (!this.#transport?.send(frame)) this.#reconnect();
  }

  // -------------------------------------------------------------------------------------------
  // Inbound frames

  #onText(text: string): void {
    if (this.#inbox) {
      this.#inbox.push(text);
      return;
    }
    // Any frame at all answers an outstanding ping, even one that does not parse.
    this.#lastPingTime = 0;
    this.#alive();
    const result = parseServerFrame(text);
    const badHello = this.#badHello(result);
    if (badHello) {
      // Not counted as activity: a server that keeps answering hello badly must not defeat the backoff.
      this.#options.logger.error(`push: ${badHello}; reconnecting`);
      this.#reconnect();
      return;
    }
    if (result.kind === "ignored") {
      this.#options.logger.warn(`push: ignoring a server frame: ${result.reason}`);
      if (result.parsed) this.#noteActivity();
      this.#maybeStopRequestTimer();
      return;
    }
    this.#noteActivity();
    this.#dispatch(result.message);
    this.#maybeStopRequestTimer();
  }

  /**
   * A hello reply without a valid uaid, or one outside WaitingForHello. Firefox shuts down
   * without a reconnect here; an embedder with nothing to send would then stay offline for
   * good, so push-agent reconnects with backoff instead.
   */
  #badHello(result: ParseResult): string | null {
    if (result.kind === "ignored")
      return result.messageType === "hello" ? `bad hello reply: ${result.reason}` : null;
    if (result.message.type !== "hello" || this.#state === "WaitingForHello") return null;
    return `unexpected hello reply in state ${this.#state}`;
  }

  /** A parsed message resets the backoff and re-arms the ping timer. */
  #noteActivity(): void {
    this.#retryFailCount = 0;
    this.#armPing();
  }

  #dispatch(message: ServerMessage): void {
    switch (message.type) {
      case "pong":
        return;
      case "hello":
        void this.#onHello(message);
        return;
      case "register":
      case "unregister":
        this.#onReply(message);
        return;
      default:
        this.#delegate.message(message);
    }
  }

  #clearHelloTimer(): void {
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
  }

  async #onHello(reply: HelloReply): Promise<void> {
    this.#clearHelloTimer();
    const generation = this.#generation;
    this.#inbox = [];
    try {
      await this.#delegate.handshake(reply);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#options.logger.error(`push: handshake failed: ${describeError(error)}`);
      this.#reconnect();
      return;
    }
    if (generation !== this.#generation) return;
    const inbox = this.#inbox ?? [];
    this.#inbox = null;
    this.#lastFailureKey = null;
    this.#setState("Ready");
    this.#flushAfterHello();
    for (const text of inbox) {
      if (generation !== this.#generation) return;
      this.#onText(text);
    }
  }

  #flushAfterHello(): void {
    const gate = this.#gate;
    this.#gate = [];
    const now = Date.now();
    const requests = this.#pending ? [...this.#pending.values()] : [];
    for (const request of requests) request.ctime = now;
    const frames = [...requests.map((request) => request.frame), ...gate];
    if (!frames.every((frame) => this.#transport?.send(frame))) this.#reconnect();
  }

  #onReply(reply: RegisterReply | UnregisterReply): void {
    const key = `${reply.type}|${reply.channelID}`.toLowerCase();
    const request = this.#pending?.get(key);
    if (!request) {
      this.#options.logger.warn(`push: ignoring a ${reply.type} reply for an unknown channel`);
      return;
    }
    this.#dropPending(key);
    request.resolve(reply);
  }

  // -------------------------------------------------------------------------------------------
  // Liveness: probes, server ping frames, wake-up detection

  /** Anything from the server proves the socket alive: a probe is answered, the ping watch re-armed. */
  #alive(): void {
    this.#clearProbe();
    this.#armServerPingWatch();
  }

  #clearProbe(): void {
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
  }

  #sendPingNowIfAllowed(): boolean {
    if (!this.#transport) return false;
    if (this.#lastPingSent && Date.now() - this.#lastPingSent < MIN_PING_INTERVAL) return false;
    this.#clearPingTimer();
    this.#lastPingSent = Date.now();
    return this.#transport.send(PING_FRAME);
  }

  /**
   * A WebSocket ping or pong frame (Node `ws`). Server pings come every auto_ping_interval; once
   * two were seen, their absence for 1.5 periods plus requestTimeout triggers a probe, which
   * finds a dead socket long before pingInterval (30 min by default) would.
   */
  #onControl(kind: "ping" | "pong"): void {
    if (kind === "ping") {
      const now = Date.now();
      if (this.#lastServerPing) this.#serverPingPeriod = now - this.#lastServerPing;
      this.#lastServerPing = now;
    }
    this.#alive();
  }

  #armServerPingWatch(): void {
    if (this.#serverPingTimer) clearTimeout(this.#serverPingTimer);
    this.#serverPingTimer = null;
    if (!this.#serverPingPeriod || this.#state !== "Ready") return;
    const deadline = Math.round(this.#serverPingPeriod * 1.5 + this.#options.requestTimeout);
    this.#serverPingTimer = setTimeout(() => {
      this.#serverPingTimer = null;
      this.probe(`no server ping for ${deadline} ms`);
    }, deadline);
  }

  #clearServerPingWatch(): void {
    if (this.#serverPingTimer) clearTimeout(this.#serverPingTimer);
    this.#serverPingTimer = null;
    this.#lastServerPing = 0;
    this.#serverPingPeriod = 0;
  }

  // -------------------------------------------------------------------------------------------
  // Ping and request timeouts

  /** The next `{}` after pingInterval of silence, and never sooner than the floor after the last one. */
  #armPing(): void {
    this.#clearPingTimer();
    const sinceLast = this.#lastPingSent ? Date.now() - this.#lastPingSent : Number.POSITIVE_INFINITY;
    const delay = Math.max(this.#pingInterval, MIN_PING_INTERVAL - sinceLast);
    this.#pingTimer = setTimeout(() => this.#sendPing(), delay);
  }

  #clearPingTimer(): void {
    if (this.#pingTimer) clearTimeout(this.#pingTimer);
    this.#pingTimer = null;
  }

  #sendPing(): void {
    this.#pingTimer = null;
    if (!this.#transport) return;
    this.#startRequestTimer();
    this.#lastPingTime = Date.now();
    this.#lastPingSent = this.#lastPingTime;
    if (!this.#transport.send(PING_FRAME)) this.#reconnect();
  }

  #startRequestTimer(): void {
    if (this.#requestTimer) return;
    this.#requestTimer = setInterval(() => this.#checkTimeouts(), this.#options.requestTimeout);
  }

  #stopRequestTimer(): void {
    if (this.#requestTimer) clearInterval(this.#requestTimer);
    this.#requestTimer = null;
  }

  #maybeStopRequestTimer(): void {
    if (!this.#pending?.size && this.#lastPingTime === 0) this.#stopRequestTimer();
  }

  /**
   * Firefox's rule: a late pong means a dead socket; from the first request older than
   * requestTimeout onwards, every later request fails too. Either way, reconnect.
   */
  #checkTimeouts(): void {
    const now = Date.now();
    const { requestTimeout } = this.#options;
    if (this.#lastPingTime && now - this.#lastPingTime > requestTimeout) {
      // A dead socket, not a refusing server: a fresh connection right away is what helps.
      this.#options.logger.info("push: no reply to ping; reconnecting now");
      this.#reconnectNow();
      this.#maybeStopRequestTimer();
      return;
    }
    let timedOut = false;
    for (const [key, request] of this.#pending ?? []) {
      if (!timedOut && now - request.ctime <= requestTimeout) continue;
      timedOut = true;
      this.#dropPending(key);
      request.reject(new RequestError(`Request timed out: ${key}`));
    }
    if (timedOut && this.#state !== "ShutDown") this.#reconnect();
    this.#maybeStopRequestTimer();
  }

  /** An idle connection keeps no empty map. */
  #dropPending(key: string): void {
    this.#pending?.delete(key);
    if (this.#pending?.size === 0) this.#pending = null;
  }

  #rejectAll(error: Error): void {
    const pending = this.#pending ? [...this.#pending.values()] : [];
    this.#pending = null;
    for (const request of pending) request.reject(error);
  }
}

function deferredRequest(frame: string): PendingRequest {
  let resolve!: (reply: RegisterReply | UnregisterReply) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<RegisterReply | UnregisterReply>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The caller may never await a shared request; an unobserved rejection must not crash the host.
  promise.catch(() => {});
  return { frame, ctime: Date.now(), resolve, reject, promise };
}
