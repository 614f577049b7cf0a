/**
 * The connection state machine ShutDown → WaitingForWebSocket → WaitingForHello → Ready, with
 * Firefox's PushServiceWebSocket rules: the hello handshake, exponential reconnect backoff, close
 * code 4774, frames held until Ready, and inbound frames parsed and routed. A connection that
 * never opens is reported with its typed cause (ConnectFailure), warned once per distinct cause.
 * `setOnline(false)` closes the socket and makes no attempt until `setOnline(true)`.
 *
 * Its parts: requests.ts holds the reply-expecting requests and their deadlines; liveness.ts the
 * `{}` ping, the probe, the server-ping watch and the wake hook. It owns the socket; it knows
 * nothing of records, keys or observers. Parsed frames go up to the service through the
 * ConnectionDelegate.
 */

import { describeError } from "../log.ts";
import {
  type HelloReply,
  helloFrame,
  type ParseResult,
  parseServerFrame,
  type RegisterReply,
  type ServerMessage,
  type UnregisterReply,
} from "../protocol/messages.ts";
import { type ConnectFailure, failureKey } from "../transport/failure.ts";
import { Transport, type TransportHandlers } from "../transport/websocket.ts";
import { ReconnectBackoff } from "./backoff.ts";
import type { ConnectionDelegate, ConnectionOptions, ConnectionState } from "./connection-types.ts";
import { Liveness, type LivenessHost } from "./liveness.ts";
import { PendingRequests, type Reply, type ReplyType, RequestError, type SweepTarget } from "./requests.ts";

export type {
  ConnectionDelegate,
  ConnectionOptions,
  ConnectionState,
  InboundMessage,
} from "./connection-types.ts";
export { MIN_PING_INTERVAL } from "./liveness.ts";
export { RequestError } from "./requests.ts";

/** The server's "back off" close code: no automatic reconnect until there is something to send. */
export const BACKOFF_CLOSE_CODE = 4774;

export class Connection {
  readonly #options: ConnectionOptions;
  readonly #delegate: ConnectionDelegate;
  #state: ConnectionState = "ShutDown";
  #transport: Transport | null = null;
  /** Bumped for every socket, so async continuations of an older socket can tell they are stale. */
  #generation = 0;
  #protocols: string[];
  /** The last failure warned about; the same cause again is logged at debug only. */
  #lastFailureKey: string | null = null;
  #online = true;
  #helloTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #backoff: ReconnectBackoff;
  readonly #requests: PendingRequests;
  readonly #liveness: Liveness;
  /** Fire-and-forget frames (broadcast_subscribe) waiting for Ready. Dropped on teardown. */
  #framesAwaitingReady: string[] = [];
  /** Frames that arrived while the hello reply was being handled, replayed in order afterwards. */
  #framesDuringHello: string[] | null = null;

  /**
   * What a socket reports, routed to this connection: one small object per socket whose methods
   * live on the prototype, instead of six closures (about 0.4 KB per idle connection).
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
      this.#connection.#liveness.controlReceived(kind);
    }
  };

  /**
   * The connection as its liveness watch and its request sweep see it: one object whose methods
   * live on the prototype, so the parts reach the socket and the reconnect without closures.
   */
  static readonly #PartsHost = class implements LivenessHost, SweepTarget {
    readonly #connection: Connection;

    constructor(connection: Connection) {
      this.#connection = connection;
    }

    get isReady(): boolean {
      return this.#connection.#state === "Ready";
    }

    get socket(): Transport | null {
      return this.#connection.#transport;
    }

    probe(why: string): void {
      this.#connection.probe(why);
    }

    reconnect(): void {
      this.#connection.#reconnect();
    }

    reconnectNow(): void {
      this.#connection.#reconnectNow();
    }

    startSweep(): void {
      this.#connection.#requests.startSweep();
    }

    sweep(): void {
      this.#connection.#sweep();
    }
  };

  constructor(options: ConnectionOptions, delegate: ConnectionDelegate) {
    this.#options = options;
    this.#delegate = delegate;
    this.#protocols = options.subprotocol ? [options.subprotocol] : [];
    this.#backoff = new ReconnectBackoff(options);
    const host = new Connection.#PartsHost(this);
    this.#requests = new PendingRequests(options.requestTimeout, host);
    this.#liveness = new Liveness(options, host);
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
    return this.#backoff.failures;
  }

  /** Open a socket if there is none; a pending backoff is cut short. */
  connect(): void {
    this.#liveness.startWakeWatch();
    this.#beginSetup();
  }

  /** Full shutdown: socket closed, every timer cancelled, pending requests rejected. */
  shutdown(): void {
    this.#backoff.cancel();
    this.#liveness.stopWakeWatch();
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
    this.#backoff.cancel();
    if (!online) {
      this.#teardown(false);
      return;
    }
    this.#backoff.reset();
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
      if (this.#state === "ShutDown" && !this.#backoff.waiting) return;
      logger.info(`push: ${why}; connecting again now`);
      this.#reconnectNow();
      return;
    }
    this.#liveness.probeReady(why, this.#transport);
  }

  /**
   * Send a reply-expecting request. A second identical request shares the first one's promise.
   * Sent now when Ready, otherwise after the next hello; rejected on timeout or shutdown.
   */
  request<T extends ReplyType>(type: T, channelID: string, frame: string): Promise<Reply<T>> {
    const existing = this.#requests.existing(type, channelID);
    if (existing) return existing;
    const promise = this.#requests.add(type, channelID, frame);
    if (this.#state === "Ready") this.#sendOrReconnect(frame);
    else this.#beginSetup();
    return promise;
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
    this.#framesAwaitingReady.push(frame);
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
    this.#backoff.cancel();
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
    this.#backoff.cancel();
    this.#backoff.reset();
    this.#teardown(false);
    this.#beginSetup();
  }

  /** Back to ShutDown. Pending requests survive (they are re-sent after the next hello) unless cancelled. */
  #teardown(cancelPending: boolean, error?: ConnectFailure): void {
    this.#transport?.close();
    this.#transport = null;
    this.#generation++;
    this.#liveness.reset();
    this.#clearHelloTimer();
    this.#framesDuringHello = null;
    this.#framesAwaitingReady = [];
    if (cancelPending) {
      this.#requests.rejectAll(new RequestError("Request aborted"));
      this.#requests.stopSweep();
    }
    this.#setState("ShutDown", error);
  }

  #startBackoff(): void {
    this.#backoff.schedule(() => this.#beginSetup());
  }

  #sendOrReconnect(frame: string): void {
    if (!this.#transport?.send(frame)) this.#reconnect();
  }

  // -------------------------------------------------------------------------------------------
  // Inbound frames

  #onText(text: string): void {
    if (this.#framesDuringHello) {
      this.#framesDuringHello.push(text);
      return;
    }
    this.#liveness.textReceived();
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
      this.#stopSweepIfIdle();
      return;
    }
    this.#noteActivity();
    this.#dispatch(result.message);
    this.#stopSweepIfIdle();
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
    this.#backoff.reset();
    this.#liveness.armPing();
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
    this.#framesDuringHello = [];
    try {
      await this.#delegate.handshake(reply);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#options.logger.error(`push: handshake failed: ${describeError(error)}`);
      this.#reconnect();
      return;
    }
    if (generation !== this.#generation) return;
    const held = this.#framesDuringHello ?? [];
    this.#framesDuringHello = null;
    this.#lastFailureKey = null;
    this.#setState("Ready");
    this.#flushAfterHello();
    for (const text of held) {
      if (generation !== this.#generation) return;
      this.#onText(text);
    }
  }

  #flushAfterHello(): void {
    const waiting = this.#framesAwaitingReady;
    this.#framesAwaitingReady = [];
    const frames = [...this.#requests.framesToResend(Date.now()), ...waiting];
    if (!frames.every((frame) => this.#transport?.send(frame))) this.#reconnect();
  }

  #onReply(reply: RegisterReply | UnregisterReply): void {
    if (this.#requests.settle(reply)) return;
    this.#options.logger.warn(`push: ignoring a ${reply.type} reply for an unknown channel`);
  }

  // -------------------------------------------------------------------------------------------
  // The timeout sweep (every requestTimeout while requests or a `{}` wait for an answer)

  /**
   * Firefox's rule: a late pong means a dead socket; from the first request older than
   * requestTimeout onwards, every later request fails too. Either way, reconnect.
   */
  #sweep(): void {
    const now = Date.now();
    if (this.#liveness.pingReplyOverdue(now)) {
      // A dead socket, not a refusing server: a fresh connection right away is what helps.
      this.#options.logger.info("push: no reply to ping; reconnecting now");
      this.#reconnectNow();
      this.#stopSweepIfIdle();
      return;
    }
    const timedOut = this.#requests.expire(now);
    if (timedOut && this.#state !== "ShutDown") this.#reconnect();
    this.#stopSweepIfIdle();
  }

  #stopSweepIfIdle(): void {
    this.#requests.stopSweepIfIdle(this.#liveness.awaitingPingReply);
  }
}
