/**
 * One user agent connection (autoconnect's per-socket state machine): WaitingForHello → Ready →
 * Closed. Owns the handshake and ping timers, the unacked direct and stored notifications, the
 * storage check (topic messages first, then timestamp batches of 10, each next batch only once
 * everything outstanding is acked) and the broadcast subscriptions. Every protocol error closes
 * the socket with autopush's code and reason.
 */

import WebSocket from "ws";
import { Base64urlError, decode } from "../crypto/base64url.ts";
import { deltaFor } from "./broadcasts.ts";
import { type ClientMessage, JsonError, parseClientMessage } from "./client-messages.ts";
import type { CloseKind, Connection } from "./connection.ts";
import type { PushHub } from "./hub.ts";
import { isExpired, type Notification } from "./store.ts";
import { isCanonicalDashed, newUaid, parseUuid, toDashed } from "./uuid.ts";

/** Close codes and reasons, as autopush names its error variants. */
const CLOSE = {
  sm: [1011, "SM"],
  json: [1011, "Json"],
  handshakeTimeout: [1011, "HandshakeTimeout"],
  pongTimeout: [1011, "PongTimeout"],
  unsupported: [1003, "UnsupportedMessage"],
  reset: [1000, "SM"],
  shutdown: [1001, "Shutdown"],
} as const satisfies Record<CloseKind, readonly [number, string]>;

type State = "waiting-hello" | "ready" | "closed";

export class Session implements Connection {
  uaid: string | undefined;
  readonly #ws: WebSocket;
  readonly #hub: PushHub;
  #state: State = "waiting-hello";
  #closeInfo = "";
  #handshakeTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongTimer: NodeJS.Timeout | undefined;
  #lastPing: number | undefined;
  #stopBroadcasts: (() => void) | undefined;
  readonly #subscriptions = new Map<string, string>();
  // Delivery bookkeeping.
  #unackedDirect: Notification[] = [];
  #unackedStored: Notification[] = [];
  #checkStorage = false;
  #includeTopic = true;
  #incrementStorage = false;
  #storedHighest: number | undefined;
  #sentFromStorage = 0;
  #delivered = 0;

  constructor(ws: WebSocket, hub: PushHub) {
    this.#ws = ws;
    this.#hub = hub;
    hub.connections.add(this);
    ws.on("message", (data, isBinary) => this.#onFrame(data, isBinary));
    ws.on("pong", () => this.#onPong());
    ws.on("close", (code, reason) => this.#teardown(`client closed ${code} ${reason.toString()}`.trim()));
    ws.on("error", (err) => hub.logger.debug(`push-server: socket error: ${err.message}`));
    this.#handshakeTimer = setTimeout(() => this.close("handshakeTimeout"), hub.options.handshakeTimeout);
    this.#handshakeTimer.unref();
    this.#schedulePing();
  }

  get ready(): boolean {
    return this.#state === "ready";
  }

  /** Close with autopush's code and reason for `kind`; tears the session down at once. */
  close(kind: CloseKind): void {
    if (this.#state === "closed") return;
    const [code, reason] = CLOSE[kind];
    this.#teardown(`server closed ${code} ${reason}`);
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(code, reason);
    }
  }

  /** Server shutdown: drop the socket without waiting for the closing handshake. */
  terminate(): void {
    this.#teardown("server terminated");
    this.#ws.terminate();
  }

  /** Hand a push to this live connection; false when it cannot take it (closing, or too many unacked). */
  deliverDirect(n: Notification): boolean {
    if (this.#state !== "ready" || this.#ws.readyState !== WebSocket.OPEN) return false;
    if (this.#unackedDirect.length >= this.#hub.options.maxUnackedDirect) return false;
    // TTL 0 messages are not tracked: lost if the UA does not take them now.
    if (n.ttl > 0) this.#unackedDirect.push(n);
    this.#sendNotification(n);
    return true;
  }

  /** A message was stored for this uaid: deliver it now if idle, else after the pending acks. */
  checkStorageNudge(): void {
    if (this.#state !== "ready") return;
    this.#checkStorage = true;
    this.#includeTopic = true;
    if (this.#idle()) this.#runCheckStorage();
  }

  // ---- inbound frames -------------------------------------------------------------------------

  #onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#state === "closed") return;
    if (isBinary) {
      this.close("unsupported");
      return;
    }
    let message: ClientMessage;
    try {
      message = parseClientMessage(rawToString(data));
    } catch (err) {
      if (!(err instanceof JsonError)) throw err;
      this.#hub.logger.debug(`push-server: bad client message: ${err.message}`);
      this.close("json");
      return;
    }
    if (this.#state === "waiting-hello") {
      if (message.type === "hello") this.#onHello(message);
      else this.close("sm");
      return;
    }
    this.#dispatch(message);
  }

  #dispatch(message: ClientMessage): void {
    switch (message.type) {
      case "hello": // "Already Hello'd"
        this.close("sm");
        break;
      case "register":
        this.#onRegister(message.channelID, message.key);
        break;
      case "unregister":
        this.#onUnregister(message.chid);
        break;
      case "ack":
        this.#onAck(message.updates);
        break;
      case "nack":
        this.#hub.logger.debug(`push-server: nack code=${message.code ?? 0}`);
        break;
      case "broadcast_subscribe":
        this.#onBroadcastSubscribe(message.broadcasts);
        break;
      case "ping":
        this.#onPing();
        break;
    }
  }

  #onHello(message: Extract<ClientMessage, { type: "hello" }>): void {
    clearTimeout(this.#handshakeTimer);
    const requested = message.uaid === undefined ? null : parseUuid(message.uaid);
    const existing = requested !== null && this.#hub.store.getUser(requested) !== undefined;
    // A new uaid is only written to the store by the first register ("deferred add_user").
    const uaid = existing && requested !== null ? requested : newUaid();
    this.uaid = uaid;
    const broadcasts = this.#hub.broadcasts.subscribe(this.#subscriptions, message.broadcasts);
    this.#stopBroadcasts = this.#hub.broadcasts.onChange((changed) => this.#onBroadcastChange(changed));
    const ghost = this.#hub.sessions.get(uaid);
    this.#hub.sessions.set(uaid, this);
    this.#state = "ready";
    this.#send({ messageType: "hello", uaid, status: 200, use_webpush: true, broadcasts });
    this.#hub.logger.debug(`push-server: hello uaid=${short(uaid)} ${existing ? "existing" : "new"}`);
    // The newest connection wins; the older one's unacked messages come back through storage.
    if (ghost && ghost !== this) ghost.close("sm");
    if (existing) this.checkStorageNudge();
  }

  #onRegister(channelID: string, key: string | undefined): void {
    if (!isCanonicalDashed(channelID)) {
      this.close("sm");
      return;
    }
    let vapidKey: Uint8Array | undefined;
    if (key !== undefined) {
      try {
        vapidKey = decode(key);
      } catch (err) {
        if (!(err instanceof Base64urlError)) throw err;
        this.#send({
          messageType: "register",
          channelID,
          status: 400,
          pushEndpoint: "Failed to generate endpoint",
        });
        return;
      }
    }
    const uaid = this.uaid!;
    const chid = channelID.replaceAll("-", "");
    // autoconnect's answer to a database error: status 500, an empty endpoint, the socket stays.
    const failed = { messageType: "register", channelID, status: 500, pushEndpoint: "" };
    const { store } = this.#hub;
    if (store.failure) {
      this.#send(failed);
      return;
    }
    const newUser = store.getUser(uaid) === undefined;
    const added = store.addChannel(uaid, chid);
    const pushEndpoint = this.#hub.endpointFor(uaid, chid, vapidKey);
    const reply = { messageType: "register", channelID, status: 200, pushEndpoint };
    if (!store.durable) {
      this.#send(reply);
      return;
    }
    // With a state directory, an endpoint is handed out only once its channel is on disk.
    store.flushed().then(
      () => this.#send(reply),
      () => {
        if (newUser) store.removeUser(uaid);
        else if (added) store.removeChannel(uaid, chid);
        this.#send(failed);
      },
    );
  }

  #onUnregister(chid: string): void {
    const { store } = this.#hub;
    const reply = (status: number) =>
      this.#send({ messageType: "unregister", channelID: toDashed(chid), status });
    if (store.failure) {
      reply(500);
      return;
    }
    store.removeChannel(this.uaid!, chid);
    if (!store.durable) {
      reply(200);
      return;
    }
    // The removal stays in memory and reaches the disk once writes work again.
    store.flushed().then(
      () => reply(200),
      () => reply(500),
    );
  }

  #onAck(updates: { chid: string; version: string }[]): void {
    for (const update of updates) {
      const matches = (n: Notification) => n.chid === update.chid && n.version === update.version;
      const direct = this.#unackedDirect.findIndex(matches);
      if (direct >= 0) {
        this.#unackedDirect.splice(direct, 1);
        continue;
      }
      const stored = this.#unackedStored.findIndex(matches);
      if (stored < 0) continue; // unknown versions are ignored
      const [n] = this.#unackedStored.splice(stored, 1);
      // Topic messages are deleted one by one; timestamp ones by moving the read pointer.
      if (n?.topic !== undefined) this.#hub.store.removeTopicMessage(this.uaid!, n.chid, n.topic, n.version);
    }
    if (this.#idle() && this.#checkStorage) {
      this.#advanceReadPointer();
      this.#runCheckStorage();
    }
  }

  #onPing(): void {
    const now = this.#hub.now();
    if (this.#lastPing !== undefined && now - this.#lastPing < this.#hub.options.minPingInterval) {
      this.close("sm"); // ExcessivePing
      return;
    }
    this.#lastPing = now;
    this.#ws.send("{}");
  }

  #onBroadcastSubscribe(requested: Record<string, string>): void {
    const broadcasts = this.#hub.broadcasts.subscribe(this.#subscriptions, requested);
    if (Object.keys(broadcasts).length > 0) this.#send({ messageType: "broadcast", broadcasts });
  }

  #onBroadcastChange(changed: ReadonlyMap<string, string>): void {
    if (this.#state !== "ready") return;
    const delta = deltaFor(this.#subscriptions, changed);
    if (delta) this.#send({ messageType: "broadcast", broadcasts: delta });
  }

  // ---- storage --------------------------------------------------------------------------------

  #idle(): boolean {
    return this.#unackedDirect.length === 0 && this.#unackedStored.length === 0;
  }

  /** Read and send the next batch; batches whose messages all expired are skipped over. */
  #runCheckStorage(): void {
    const nowSec = this.#hub.nowSec();
    for (;;) {
      const batch = this.#readStorage(nowSec);
      if (batch === undefined) {
        this.#checkStorage = false;
        this.#includeTopic = true;
        this.#sentFromStorage = 0;
        return;
      }
      if (batch.length === 0) {
        this.#advanceReadPointer();
        continue;
      }
      this.#sentFromStorage += batch.length;
      if (this.#sentFromStorage > this.#hub.options.msgLimit) {
        this.#resetUaid();
        return;
      }
      this.#checkStorage = true;
      this.#unackedStored.push(...batch);
      for (const n of batch) this.#sendNotification(n);
      return;
    }
  }

  /** Next batch of live messages, [] when the batch held only expired ones, undefined when storage is empty. */
  #readStorage(nowSec: number): Notification[] | undefined {
    const { store } = this.#hub;
    const uaid = this.uaid!;
    if (this.#includeTopic) {
      const topics = store.fetchTopicMessages(uaid);
      if (topics.length > 0) {
        const live = topics.filter((n) => !isExpired(n, nowSec));
        for (const n of topics) {
          if (isExpired(n, nowSec)) store.removeTopicMessage(uaid, n.chid, n.topic!, n.version);
        }
        return live;
      }
      this.#includeTopic = false;
    }
    const batch = store.fetchTimestampMessages(uaid, this.#storedHighest);
    if (batch.length === 0) return undefined;
    this.#storedHighest = batch.at(-1)!.sortkey;
    this.#incrementStorage = true;
    return batch.filter((n) => !isExpired(n, nowSec));
  }

  #advanceReadPointer(): void {
    if (!this.#incrementStorage || this.#storedHighest === undefined) return;
    this.#hub.store.incrementStorage(this.uaid!, this.#storedHighest);
    this.#incrementStorage = false;
  }

  /** Too many messages read from storage in one session: delete the user, the UA must re-register. */
  #resetUaid(): void {
    const uaid = this.uaid!;
    this.#hub.logger.info(
      `push-server: uaid ${short(uaid)} reset after ${this.#sentFromStorage} stored messages`,
    );
    this.#hub.store.removeUser(uaid);
    this.#unackedDirect = [];
    this.close("reset");
  }

  // ---- outbound, timers, teardown -------------------------------------------------------------

  #sendNotification(n: Notification): void {
    const frame: Record<string, unknown> = {
      messageType: "notification",
      channelID: toDashed(n.chid),
      version: n.version,
    };
    if (n.data !== undefined) {
      frame.data = n.data;
      frame.headers = n.headers ?? {};
    }
    this.#delivered++;
    this.#send(frame);
  }

  #send(message: Record<string, unknown>): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  /** autoconnect's PingManager: a ping auto_ping_interval after the last pong (or the start). */
  #schedulePing(): void {
    this.#pingTimer = setTimeout(() => this.#sendPingFrame(), this.#hub.options.autoPingInterval);
    this.#pingTimer.unref();
  }

  #sendPingFrame(): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.ping();
    this.#pongTimer = setTimeout(() => this.close("pongTimeout"), this.#hub.options.autoPingTimeout);
    this.#pongTimer.unref();
  }

  /** Only the pong to our ping counts; an unsolicited one changes nothing (as in autoconnect). */
  #onPong(): void {
    if (!this.#pongTimer || this.#state === "closed") return;
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
    this.#schedulePing();
  }

  /** Runs once, on whichever comes first: a server-side close or the socket's close event. */
  #teardown(how: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeInfo = how;
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    this.#stopBroadcasts?.();
    const hub = this.#hub;
    hub.connections.delete(this);
    const uaid = this.uaid;
    if (uaid !== undefined) {
      if (hub.sessions.get(uaid) === this) hub.sessions.delete(uaid);
      const pending = this.#unackedDirect.filter((n) => n.ttl > 0);
      this.#unackedDirect = [];
      if (pending.length > 0) hub.saveUnacked(uaid, pending);
    }
    hub.logger.info(
      `push-server: connection closed uaid=${uaid ? short(uaid) : "-"} (${this.#closeInfo}) delivered=${this.#delivered}`,
    );
  }
}

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  return Buffer.from(data).toString("utf8");
}

function short(uaid: string): string {
  return `${uaid.slice(0, 8)}…`;
}
