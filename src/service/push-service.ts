/**
 * PushService: the public face of the user agent. It owns the subscriptions (register, look up,
 * unregister), the hello handshake's consequences (new uaid, key back-fill, broadcasts) and the
 * delivery pipeline: notification → lookup → dedupe → decrypt → observers → record → ack.
 *
 * The connection (socket, timers, requests) lives in connection.ts; storage behind PushDB;
 * crypto in ../crypto; events leave through the observer bus.
 */

import { decode, encodePadded } from "../crypto/base64url.ts";
import { DecryptError, decrypt } from "../crypto/decrypt.ts";
import { generateKeys, validateAppServerKey } from "../crypto/keys.ts";
import type { PushDB, PushRecord } from "../db/push-db.ts";
import { abort, invalidAccess, invalidState, PushError } from "../errors.ts";
import { type Logger, shortEndpoint } from "../log.ts";
import {
  type DeliveryOutcome,
  type Observer,
  ObserverBus,
  type PushEventMap,
  type PushTopic,
} from "../observers.ts";
import {
  type AckCode,
  ackFrame,
  type HelloReply,
  nackFrame,
  registerFrame,
  type SimplePushUpdate,
  type UnregisterCode,
  unregisterFrame,
  type WebPushNotification,
} from "../protocol/messages.ts";
import { PushMessageData, PushSubscription } from "../subscription.ts";
import { isLoopbackHost, loadDefaultWebSocket, type WebSocketConstructor } from "../transport/websocket.ts";
import { type BroadcastHandler, Broadcasts } from "./broadcasts.ts";
import { Connection, type ConnectionState, describe, type InboundMessage } from "./connection.ts";
import {
  applyReceivedPush,
  type ClearPattern,
  clearMatcher,
  isExpired,
  MAX_QUOTA,
  NotificationCounter,
  type PermissionState,
  type QuotaOptions,
} from "./lifecycle.ts";

export interface PushServiceOptions {
  /** The autopush server. Default "wss://push.services.mozilla.com/". */
  serverURL?: string;
  /** IndexedDB factory; default globalThis.indexedDB. */
  indexedDB?: IDBFactory;
  /** IndexedDB database name; default "pushapi". */
  databaseName?: string;
  /** Any PushDB implementation; wins over indexedDB. */
  db?: PushDB;
  /** WebSocket constructor; default the native one, else `ws`. */
  WebSocket?: WebSocketConstructor;
  /** ms to wait for a register/unregister reply or a pong. Default 10 000. */
  requestTimeout?: number;
  /** ms; reconnect backoff is retryBaseInterval × 2^n, capped at pingInterval. Default 5 000. */
  retryBaseInterval?: number;
  /** ms of inbound silence before sending a `{}` ping. Default 1 800 000. */
  pingInterval?: number;
  /** Per-subscription window of message ids kept to drop duplicates; 0 disables. Default 100. */
  maxRecentMessageIDs?: number;
  /** Allow ws:// to a non-loopback host. Default false. */
  allowInsecureServerURL?: boolean;
  logger?: Logger;
  /**
   * Whether the app behind a scope may receive pushes (a browser shell's notification
   * permission). Default: always true. A push for a scope without permission is acked 102.
   */
  hasPermission?: (scope: string) => boolean | Promise<boolean>;
  /**
   * Opt-in: Firefox's push quota for sites. Without it every subscription is unlimited, like
   * Firefox's system subscriptions.
   */
  quota?: QuotaOptions;
  /** ms between a push and its quota cost being applied. Default 3 000. */
  quotaUpdateDelay?: number;
}

export interface SubscribeOptions {
  scope: string;
  /** The application server's P-256 public key: raw bytes or base64url (unpadded). */
  applicationServerKey?: BufferSource | string | null;
  /** Accepted for W3C compatibility; push-agent does not enforce visibility. */
  userVisibleOnly?: boolean;
}

/** The W3C PushManager shape, bound to one scope. */
export interface PushManager {
  subscribe(options?: Omit<SubscribeOptions, "scope">): Promise<PushSubscription>;
  getSubscription(): Promise<PushSubscription | null>;
  permissionState(options?: unknown): Promise<"granted" | "denied" | "prompt">;
}

const DEFAULTS = {
  serverURL: "wss://push.services.mozilla.com/",
  requestTimeout: 10_000,
  retryBaseInterval: 5_000,
  pingInterval: 1_800_000,
  maxRecentMessageIDs: 100,
  quotaUpdateDelay: 3_000,
};

const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (message, ...details) => console.warn(message, ...details),
  error: (message, ...details) => console.error(message, ...details),
};

type ResolvedOptions = Required<
  Pick<
    PushServiceOptions,
    | "serverURL"
    | "requestTimeout"
    | "retryBaseInterval"
    | "pingInterval"
    | "maxRecentMessageIDs"
    | "quotaUpdateDelay"
    | "logger"
  >
>;

export class PushService {
  readonly #options: PushServiceOptions;
  readonly #config: ResolvedOptions;
  readonly #logger: Logger;
  readonly #bus: ObserverBus;
  #db: PushDB | null = null;
  #connection: Connection | null = null;
  #broadcasts: Broadcasts | null = null;
  #starting: Promise<void> | null = null;
  #uaid: string | null = null;
  /** Web Push mode (the hello reply said use_webpush); false means legacy SimplePush. */
  #dataEnabled = true;
  #readyWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  #observerWaiters: (() => void)[] = [];
  readonly #subscribing = new Map<string, Promise<PushSubscription>>();
  /** channelID|messageId of messages being handled: a copy arriving meanwhile is a duplicate. */
  readonly #inFlight = new Set<string>();
  /** Per channel, the tail of the observer stage: deliveries to the app keep arrival order. */
  readonly #deliveryTails = new Map<string, Promise<void>>();
  readonly #notifications = new NotificationCounter();
  /** Pending quota decrements; cancelled by stop(). */
  readonly #quotaTimers = new Set<ReturnType<typeof setTimeout>>();

  constructor(options: PushServiceOptions = {}) {
    this.#options = options;
    this.#config = resolveOptions(options);
    this.#logger = this.#config.logger;
    this.#bus = new ObserverBus({
      added: (topic) => {
        if (topic === "push-message") this.#releaseObserverWaiters();
      },
      error: (topic, error) => this.#logger.error(`push: a ${topic} observer failed: ${describe(error)}`),
    });
  }

  get state(): ConnectionState {
    return this.#connection?.state ?? "ShutDown";
  }

  get uaid(): string | null {
    return this.#uaid;
  }

  /** Open the store and start connecting. Resolves when started, not necessarily Ready. */
  start(): Promise<void> {
    this.#starting ??= this.#start().catch((error) => {
      this.#starting = null;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const db = await this.#openStore();
    const Ctor = this.#options.WebSocket ?? (await loadDefaultWebSocket());
    this.#db = db;
    this.#uaid = await db.getUAID();
    this.#connection = new Connection(
      { ...this.#config, WebSocket: Ctor, logger: this.#logger },
      {
        hello: () => this.#helloPayload(),
        handshake: (reply) => this.#handshake(reply),
        message: (message) => this.#onMessage(message),
        stateChanged: (state, previous) => this.#onStateChange(state, previous),
      },
    );
    this.#broadcasts = new Broadcasts(db, this.#connection, this.#logger);
    this.#connection.connect();
    void this.dropExpired().catch((error) =>
      this.#logger.warn(`push: dropping expired subscriptions failed: ${describe(error)}`),
    );
  }

  async #openStore(): Promise<PushDB> {
    if (this.#options.db) return this.#options.db;
    const factory = this.#options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) {
      throw new PushError(
        "NotSupportedError",
        "No subscription store: pass `db` (e.g. openLevelPushDB from push-agent/node) or `indexedDB` (an IDBFactory).",
      );
    }
    const { openIndexedDBPushDB } = await import("../db/indexeddb.ts");
    return openIndexedDBPushDB({ indexedDB: factory, name: this.#options.databaseName });
  }

  /** Resolves the next time the connection is Ready (at once if it is Ready now). */
  ready(): Promise<void> {
    if (this.state === "Ready") return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** Close the socket, cancel every timer, close the store. */
  async stop(): Promise<void> {
    const starting = this.#starting;
    if (!starting) return;
    await starting.catch(() => {});
    this.#starting = null;
    for (const timer of this.#quotaTimers) clearTimeout(timer);
    this.#quotaTimers.clear();
    this.#connection?.shutdown();
    this.#connection = null;
    this.#broadcasts = null;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter.reject(abort("PushService stopped"));
    const db = this.#db;
    this.#db = null;
    if (db && !this.#options.db) await db.close();
  }

  observe<T extends PushTopic>(topic: T, observer: Observer<T>): () => void {
    return this.#bus.observe(topic, observer);
  }

  async addBroadcastListener(id: string, version: string, handler: BroadcastHandler): Promise<void> {
    await this.#requireStarted().broadcasts.add(id, version, handler);
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions

  async subscribe(options: SubscribeOptions): Promise<PushSubscription> {
    const scope = requireScope(options?.scope);
    const key = await parseAppServerKey(options.applicationServerKey);
    const inflight = this.#subscribing.get(scope);
    if (inflight) return checkKey(await inflight, key);
    const attempt = this.#subscribe(scope, key).finally(() => this.#subscribing.delete(scope));
    this.#subscribing.set(scope, attempt);
    return attempt;
  }

  async #subscribe(scope: string, key: Uint8Array | null): Promise<PushSubscription> {
    const { db } = this.#requireStarted();
    const existing = await db.getByScope(scope);
    if (existing) {
      checkKey(this.#toSubscription(existing), key);
      if (!isExpired(existing)) return this.#toSubscription(existing);
      if (!(await this.#quotaChanged(existing))) throw abort("Push subscription expired");
      await this.#drop(existing);
    }
    const record = await this.#register(scope, key);
    try {
      await db.put(record);
    } catch (error) {
      this.#backgroundUnregister(record.channelID, 200);
      throw abort("Error retrieving push subscription.", error);
    }
    this.#logger.info(`push: subscribed ${scope} at ${shortEndpoint(record.pushEndpoint)}`);
    this.#bus.notify("push-subscription-modified", { scope });
    return this.#toSubscription(record);
  }

  async #register(scope: string, key: Uint8Array | null): Promise<PushRecord> {
    const { connection } = this.#requireStarted();
    const channelID = crypto.randomUUID();
    let reply: Awaited<ReturnType<Connection["request"]>>;
    try {
      reply = await connection.request(
        "register",
        channelID,
        registerFrame(channelID, key && encodePadded(key)),
      );
    } catch (error) {
      throw abort(`Registration error: ${describe(error)}`, error);
    }
    if (reply.status !== 200)
      throw abort(`Registration error: wrong status code for register reply: ${reply.status}`);
    if (!isValidEndpoint(reply.pushEndpoint)) throw abort("Registration error: invalid push endpoint");
    const keys = this.#dataEnabled ? await generateKeys() : null;
    return {
      channelID: reply.channelID,
      pushEndpoint: reply.pushEndpoint,
      scope,
      p256dhPublicKey: keys?.publicKey ?? null,
      p256dhPrivateKey: keys?.privateKey ?? null,
      authenticationSecret: keys?.authSecret ?? null,
      appServerKey: key,
      recentMessageIDs: [],
      pushCount: 0,
      lastPush: 0,
      ctime: Date.now(),
      quota: this.#options.quota ? MAX_QUOTA : Number.POSITIVE_INFINITY,
      version: null,
      systemRecord: !this.#options.quota,
    };
  }

  async getSubscription(scope: string): Promise<PushSubscription | null> {
    const { db } = this.#requireStarted();
    const record = await db.getByScope(requireScope(scope));
    if (!record) return null;
    if (!isExpired(record)) return this.#toSubscription(record);
    if (await this.#quotaChanged(record)) await this.#drop(record);
    return null;
  }

  async subscriptions(): Promise<PushSubscription[]> {
    const { db } = this.#requireStarted();
    return (await db.getAllUnexpired()).map((record) => this.#toSubscription(record));
  }

  /** Forget the scope's subscription locally and tell the server; false when there was none. */
  async unsubscribe(scope: string): Promise<boolean> {
    const { db, connection } = this.#requireStarted();
    const record = await db.getByScope(requireScope(scope));
    if (!record) return false;
    const request = connection.request(
      "unregister",
      record.channelID,
      unregisterFrame(record.channelID, 200),
    );
    await db.delete(record.channelID);
    this.#bus.notify("push-subscription-modified", { scope });
    try {
      return (await request).status === 200;
    } catch (error) {
      throw abort(`Unsubscribe error: ${describe(error)}`, error);
    }
  }

  pushManager(scope: string): PushManager {
    requireScope(scope);
    return {
      subscribe: (options) => this.subscribe({ ...options, scope }),
      getSubscription: () => this.getSubscription(scope),
      permissionState: async () => ((await this.#permitted(scope)) ? "granted" : "denied"),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Browser-shell lifecycle: permissions, quota, clearing

  /**
   * The embedder's permission for `scope` (and every scope under it) changed. Denied or prompt:
   * active subscriptions are unregistered (code 202) and expired. Granted: expired ones are
   * dropped with push-subscription-change, active ones get a fresh quota.
   */
  async permissionChanged(scope: string, state: PermissionState): Promise<void> {
    const { db } = this.#requireStarted();
    requireScope(scope);
    if (state !== "granted" && state !== "denied" && state !== "prompt") {
      throw new TypeError(`permission state must be "granted", "denied" or "prompt", got ${String(state)}`);
    }
    const records = (await db.getAll()).filter((record) => record.scope.startsWith(scope));
    for (const record of records) {
      if (state === "granted") await this.#onPermissionGranted(record);
      else await this.#expire(record, 202);
    }
  }

  async #onPermissionGranted(record: PushRecord): Promise<void> {
    const { db } = this.#requireStarted();
    if (isExpired(record)) {
      await this.#drop(record);
      return;
    }
    if (record.systemRecord) return;
    await db.update(record.channelID, (current) => ({ ...current, quota: MAX_QUOTA }));
  }

  /** Unregister with `code` and set quota 0: the record stays, but is never in hello nor delivered. */
  async #expire(record: PushRecord, code: UnregisterCode): Promise<void> {
    const { db } = this.#requireStarted();
    if (isExpired(record)) return;
    const updated = await db.update(record.channelID, (current) =>
      isExpired(current) ? null : { ...current, quota: 0 },
    );
    if (!updated) return;
    this.#backgroundUnregister(record.channelID, code);
    this.#bus.notify("push-subscription-modified", { scope: record.scope });
  }

  /** The embedder shows a notification for `scope`'s origin: pushes to it cost no quota meanwhile. */
  notificationShown(scope: string): void {
    this.#notifications.shown(requireScope(scope));
  }

  notificationClosed(scope: string): void {
    this.#notifications.closed(requireScope(scope));
  }

  /**
   * Drop expired subscriptions whose site was visited since their last push (Firefox's
   * idle-daily job); each gets push-subscription-change. Also run at start().
   */
  async dropExpired(): Promise<void> {
    const { db } = this.#requireStarted();
    for (const record of (await db.getAll()).filter(isExpired)) {
      if (await this.#quotaChanged(record)) await this.#drop(record);
    }
  }

  /**
   * Forget subscriptions with a site's data: a scope prefix, an exact origin, or a registrable
   * domain with its subdomains; no pattern forgets everything. Active ones are unregistered
   * (code 200); push-subscription-change fires for those that had permission.
   */
  async clear(pattern: ClearPattern = {}): Promise<void> {
    const { db } = this.#requireStarted();
    const dropped = await db.clearIf(clearMatcher(pattern));
    for (const record of dropped) {
      if (await this.#permitted(record.scope)) {
        this.#bus.notify("push-subscription-change", {
          scope: record.scope,
          oldSubscription: this.#toSubscription(record),
        });
      }
      if (!isExpired(record)) this.#backgroundUnregister(record.channelID, 200);
      this.#bus.notify("push-subscription-modified", { scope: record.scope });
    }
  }

  async #drop(record: PushRecord): Promise<void> {
    const { db } = this.#requireStarted();
    const removed = await db.delete(record.channelID);
    if (!removed) return;
    this.#bus.notify("push-subscription-change", {
      scope: record.scope,
      oldSubscription: this.#toSubscription(record),
    });
  }

  async #permitted(scope: string): Promise<boolean> {
    const check = this.#options.hasPermission;
    if (!check) return true;
    try {
      return (await check(scope)) === true;
    } catch (error) {
      this.#logger.warn(`push: hasPermission failed for ${scope}: ${describe(error)}`);
      return false;
    }
  }

  /** ms epoch of the scope's last visit: now for unlimited (system) subscriptions. */
  async #lastVisit(record: PushRecord): Promise<number> {
    const quota = this.#options.quota;
    if (!quota || record.systemRecord) return Date.now();
    try {
      const visit = await quota.lastVisit(record.scope);
      return typeof visit === "number" && !Number.isNaN(visit) ? visit : Number.NEGATIVE_INFINITY;
    } catch (error) {
      this.#logger.warn(`push: lastVisit failed for ${record.scope}: ${describe(error)}`);
      return Number.NEGATIVE_INFINITY;
    }
  }

  /** Firefox's quotaChanged: permitted, and visited since the last push. */
  async #quotaChanged(record: PushRecord): Promise<boolean> {
    return (await this.#permitted(record.scope)) && (await this.#lastVisit(record)) > record.lastPush;
  }

  #scheduleQuotaCost(record: PushRecord): void {
    if (record.systemRecord || !this.#options.quota) return;
    const timer = setTimeout(() => {
      this.#quotaTimers.delete(timer);
      void this.#applyQuotaCost(record).catch((error) =>
        this.#logger.warn(`push: quota update failed: ${describe(error)}`),
      );
    }, this.#config.quotaUpdateDelay);
    this.#quotaTimers.add(timer);
  }

  async #applyQuotaCost(record: PushRecord): Promise<void> {
    const db = this.#db;
    if (!db || this.#notifications.isShown(record.scope)) return;
    const updated = await db.update(record.channelID, (current) =>
      isExpired(current) ? null : { ...current, quota: Math.max(0, current.quota - 1) },
    );
    if (!updated) return;
    if (isExpired(updated)) {
      this.#logger.info(`push: quota exhausted for ${record.scope}; unregistering`);
      this.#backgroundUnregister(record.channelID, 201);
    }
    this.#bus.notify("push-subscription-modified", { scope: record.scope });
  }

  #backgroundUnregister(channelID: string, code: UnregisterCode): void {
    const connection = this.#connection;
    if (!connection) return;
    connection
      .request("unregister", channelID, unregisterFrame(channelID, code))
      .catch((error) => this.#logger.warn(`push: background unregister failed: ${describe(error)}`));
  }

  #toSubscription(record: PushRecord): PushSubscription {
    return new PushSubscription(record, (scope) => this.unsubscribe(scope));
  }

  #requireStarted(): { db: PushDB; connection: Connection; broadcasts: Broadcasts } {
    if (!this.#db || !this.#connection || !this.#broadcasts) {
      throw invalidState("PushService is not started: call start() first");
    }
    return { db: this.#db, connection: this.#connection, broadcasts: this.#broadcasts };
  }

  // -------------------------------------------------------------------------------------------
  // Handshake

  async #helloPayload(): Promise<{ uaid: string | null; broadcasts: Record<string, string> }> {
    const { db } = this.#requireStarted();
    const [records, uaid, broadcasts] = await Promise.all([
      db.getAllUnexpired(),
      db.getUAID(),
      db.getBroadcasts(),
    ]);
    // Privacy (Firefox bug 1617136): without subscriptions the server mints a fresh uaid each time.
    return { uaid: records.length > 0 && uaid ? uaid : null, broadcasts };
  }

  async #handshake(reply: HelloReply): Promise<void> {
    const { db, broadcasts } = this.#requireStarted();
    const stored = await db.getUAID();
    if (reply.uaid !== stored) {
      if (stored) this.#logger.info("push: the server assigned a new uaid; dropping every subscription");
      await this.#dropUnexpired();
      await db.setUAID(reply.uaid);
    }
    this.#uaid = reply.uaid;
    this.#dataEnabled = reply.useWebPush;
    if (reply.broadcasts.size > 0 || reply.broadcastErrors.size > 0) {
      void broadcasts
        .received(reply.broadcasts, reply.broadcastErrors, "hello")
        .catch((error) => this.#logger.error(`push: broadcast delivery failed: ${describe(error)}`));
    }
    if (this.#dataEnabled) await this.#ensureKeys();
  }

  async #dropUnexpired(): Promise<void> {
    const { db } = this.#requireStarted();
    const dropped = await db.clearIf((record) => record.quota > 0);
    for (const record of dropped) {
      this.#bus.notify("push-subscription-change", {
        scope: record.scope,
        oldSubscription: this.#toSubscription(record),
      });
    }
  }

  /** Records made in SimplePush mode get keys once the server speaks Web Push (Firefox's ensureCrypto). */
  async #ensureKeys(): Promise<void> {
    const { db } = this.#requireStarted();
    for (const record of await db.getAllUnexpired()) {
      if (hasKeys(record)) continue;
      const keys = await generateKeys();
      const updated = await db.update(record.channelID, (current) => ({
        ...current,
        p256dhPublicKey: current.p256dhPublicKey ?? keys.publicKey,
        p256dhPrivateKey: current.p256dhPrivateKey ?? keys.privateKey,
        authenticationSecret:
          current.authenticationSecret?.byteLength === 16 ? current.authenticationSecret : keys.authSecret,
      }));
      if (updated) {
        this.#bus.notify("push-subscription-change", {
          scope: record.scope,
          oldSubscription: this.#toSubscription(record),
        });
      }
    }
  }

  #onStateChange(state: ConnectionState, previous: ConnectionState): void {
    this.#bus.notify("state-change", { state, previous });
    if (state !== "Ready") return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  // -------------------------------------------------------------------------------------------
  // Delivery

  #onMessage(message: InboundMessage): void {
    const connection = this.#connection;
    if (!connection) return;
    if (message.type === "broadcast") {
      void this.#broadcasts
        ?.received(message.broadcasts, message.broadcastErrors, "broadcast")
        .catch((error) => this.#logger.error(`push: broadcast delivery failed: ${describe(error)}`));
      return;
    }
    const generation = connection.generation;
    // Firefox reads a notification by the mode the hello reply set, whatever shape it has.
    if (this.#dataEnabled !== (message.updates === null)) {
      this.#logger.warn(
        `push: ignoring a notification that does not fit ${this.#dataEnabled ? "Web Push" : "SimplePush"} mode`,
      );
      return;
    }
    if (message.updates) {
      for (const update of message.updates) {
        void this.#handle(update.channelID, update.version, generation, (previous) =>
          this.#processSimplePush(update, generation, previous),
        );
      }
      return;
    }
    void this.#handle(message.channelID, message.messageId, generation, (previous) =>
      this.#process(message, generation, previous),
    );
  }

  /**
   * The frame around both pipelines: a copy of a message still in flight is acked 102, the
   * observer stage keeps arrival order per channel, and the ack goes out with the returned code.
   */
  async #handle(
    channelID: string,
    version: string | number,
    generation: number,
    process: (previous: Promise<void>) => Promise<AckCode | null>,
  ): Promise<void> {
    const flightKey = `${channelID.toLowerCase()}|${typeof version}:${version}`;
    if (this.#inFlight.has(flightKey)) {
      this.#logger.debug("push: dropping a duplicate of a message still being handled");
      this.#ack(generation, channelID, version, 102);
      return;
    }
    this.#inFlight.add(flightKey);
    const turn = this.#takeDeliveryTurn(channelID);
    try {
      const code = await process(turn.previous);
      if (code !== null) this.#ack(generation, channelID, version, code);
    } catch (error) {
      // Unacked on purpose: the server re-sends it, so an unexpected failure loses nothing.
      if (this.#db) this.#logger.error(`push: delivery failed: ${describe(error)}`);
    } finally {
      turn.release();
      this.#inFlight.delete(flightKey);
    }
  }

  /**
   * The steps both pipelines start with: wait until the app observes, then find a live record
   * whose site was visited. Returns the record, an ack code (102), or null when stopped.
   */
  async #admit(
    channelID: string,
  ): Promise<{ db: PushDB; record: PushRecord; lastVisit: number } | AckCode | null> {
    await this.#whenObserved();
    const db = this.#db;
    if (!db) return null;
    const record = await db.getByChannelID(channelID);
    if (!record || isExpired(record)) {
      this.#logger.debug("push: notification for an unknown or expired channel");
      return 102;
    }
    const lastVisit = await this.#lastVisit(record);
    if (lastVisit === Number.NEGATIVE_INFINITY) {
      this.#logger.debug(`push: ignoring a message sent to unvisited ${record.scope}`);
      return 102;
    }
    return { db, record, lastVisit };
  }

  /** Returns the ack code, or null when nothing is to be sent. */
  async #process(
    message: WebPushNotification,
    generation: number,
    previous: Promise<void>,
  ): Promise<AckCode | null> {
    const admitted = await this.#admit(message.channelID);
    if (admitted === null || typeof admitted === "number") return admitted;
    const { record, lastVisit } = admitted;
    if (record.recentMessageIDs.includes(message.messageId)) {
      this.#logger.debug("push: dropping a duplicate message");
      return 102;
    }
    const data = await this.#decryptPayload(record, message);
    if (data instanceof Error) {
      this.#bus.notify("decrypt-error", { scope: record.scope, messageId: message.messageId, error: data });
      this.#logger.warn(`push: failed to decrypt a message for ${record.scope}: ${data.message}`);
      return 101;
    }
    if (!(await this.#permitted(record.scope))) {
      this.#logger.debug(`push: no permission for ${record.scope}; not delivered`);
      return 102;
    }
    await previous;
    const outcome = await this.#bus.deliver("push-message", {
      scope: record.scope,
      subscription: this.#toSubscription(record),
      messageId: message.messageId,
      data,
    });
    if (!(await this.#recordDelivery(record.channelID, message.messageId, lastVisit))) return null;
    this.#bus.notify("push-subscription-modified", { scope: record.scope });
    this.#scheduleQuotaCost(record);
    this.#nackFailures(outcome, generation, message.messageId);
    return 100;
  }

  /** SimplePush: a data-less version bump, delivered only when newer than the stored version. */
  async #processSimplePush(
    { channelID, version }: SimplePushUpdate,
    generation: number,
    previous: Promise<void>,
  ): Promise<AckCode | null> {
    const admitted = await this.#admit(channelID);
    if (admitted === null || typeof admitted === "number") return admitted;
    const { db, record, lastVisit } = admitted;
    if (!isNewerVersion(record, version)) return 102;
    if (!(await this.#permitted(record.scope))) return 102;
    await previous;
    // An update queued behind a newer one for the same channel is stale by now.
    const current = await db.getByChannelID(channelID);
    if (!current || !isNewerVersion(current, version)) return 102;
    const messageId = String(version);
    const outcome = await this.#bus.deliver("push-message", {
      scope: record.scope,
      subscription: this.#toSubscription(record),
      messageId,
      data: null,
      version,
    });
    const now = Date.now();
    const updated = await db.update(channelID, (current) =>
      isNewerVersion(current, version) ? { ...applyReceivedPush(current, lastVisit, now), version } : null,
    );
    if (updated === undefined || this.#db === null) return null;
    this.#bus.notify("push-subscription-modified", { scope: record.scope });
    if (updated) this.#scheduleQuotaCost(record);
    this.#nackFailures(outcome, generation, messageId);
    return 100;
  }

  async #decryptPayload(
    record: PushRecord,
    message: WebPushNotification,
  ): Promise<PushMessageData | null | Error> {
    if (message.data === null) return null;
    if (!hasKeys(record)) return new DecryptError("BAD_CRYPTO", "The subscription has no keys");
    try {
      const plaintext = await decrypt(
        {
          publicKey: record.p256dhPublicKey!,
          privateKey: record.p256dhPrivateKey!,
          authSecret: record.authenticationSecret!,
        },
        { data: decode(message.data), headers: message.headers },
      );
      // Firefox treats an empty aesgcm plaintext as "no data"; aes128gcm keeps an empty payload.
      if (plaintext.byteLength === 0 && message.headers?.encoding !== "aes128gcm") return null;
      return new PushMessageData(plaintext);
    } catch (error) {
      if (error instanceof DecryptError) return error;
      return new DecryptError("BAD_DATA", `Bad payload: ${describe(error)}`);
    }
  }

  /** Record the id only after the app has it: a crash before this line means a re-send, never a loss. */
  async #recordDelivery(channelID: string, messageId: string, lastVisit: number): Promise<boolean> {
    const db = this.#db;
    if (!db) return false;
    const max = this.#config.maxRecentMessageIDs;
    const now = Date.now();
    const updated = await db.update(channelID, (record) => ({
      ...applyReceivedPush(record, lastVisit, now),
      recentMessageIDs:
        max > 0 ? [messageId, ...record.recentMessageIDs.filter((id) => id !== messageId)].slice(0, max) : [],
    }));
    // A record unsubscribed while the app handled the message: still acked (the app got it).
    return updated !== null && this.#db !== null;
  }

  #takeDeliveryTurn(channelID: string): { previous: Promise<void>; release(): void } {
    const previous = this.#deliveryTails.get(channelID) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#deliveryTails.set(channelID, mine);
    return {
      previous,
      release: () => {
        release();
        if (this.#deliveryTails.get(channelID) === mine) this.#deliveryTails.delete(channelID);
      },
    };
  }

  /** Messages wait, unacked, until the app observes push-message: an app that observes late loses nothing. */
  #whenObserved(): Promise<void> {
    if (this.#bus.count("push-message") > 0) return Promise.resolve();
    return new Promise((resolve) => this.#observerWaiters.push(resolve));
  }

  #releaseObserverWaiters(): void {
    const waiters = this.#observerWaiters;
    this.#observerWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #ack(generation: number, channelID: string, version: string | number, code: AckCode): void {
    this.#connection?.sendOn(generation, ackFrame(channelID, version, code));
  }

  #nackFailures(outcome: DeliveryOutcome, generation: number, messageId: string): void {
    if (outcome.threw.length > 0) this.#nack(generation, messageId, 301);
    else if (outcome.rejected.length > 0) this.#nack(generation, messageId, 302);
  }

  #nack(generation: number, messageId: string, code: 301 | 302): void {
    this.#connection?.sendOn(generation, nackFrame(messageId, code));
  }
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

function resolveOptions(options: PushServiceOptions): ResolvedOptions {
  const serverURL = options.serverURL ?? DEFAULTS.serverURL;
  checkServerURL(serverURL, options.allowInsecureServerURL === true);
  return {
    serverURL,
    requestTimeout: positive("requestTimeout", options.requestTimeout ?? DEFAULTS.requestTimeout),
    retryBaseInterval: positive("retryBaseInterval", options.retryBaseInterval ?? DEFAULTS.retryBaseInterval),
    pingInterval: positive("pingInterval", options.pingInterval ?? DEFAULTS.pingInterval),
    maxRecentMessageIDs: nonNegativeInteger(
      "maxRecentMessageIDs",
      options.maxRecentMessageIDs ?? DEFAULTS.maxRecentMessageIDs,
    ),
    quotaUpdateDelay: nonNegativeInteger(
      "quotaUpdateDelay",
      options.quotaUpdateDelay ?? DEFAULTS.quotaUpdateDelay,
    ),
    logger: options.logger ?? consoleLogger,
  };
}

function checkServerURL(serverURL: string, allowInsecure: boolean): void {
  let url: URL;
  try {
    url = new URL(serverURL);
  } catch {
    throw new TypeError(`serverURL is not a valid URL: ${JSON.stringify(serverURL)}`);
  }
  if (url.protocol === "wss:") return;
  if (url.protocol !== "ws:") throw new TypeError(`serverURL must be a wss:// URL, not ${url.protocol}//`);
  if (!allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new TypeError(
      `serverURL ${url.host} uses ws:// to a non-loopback host; use wss:// or set allowInsecureServerURL`,
    );
  }
}

function positive(name: string, value: number): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0)
    throw new TypeError(`${name} must be a whole number ≥ 0, got ${String(value)}`);
  return value;
}

function requireScope(scope: unknown): string {
  if (typeof scope !== "string" || scope.length === 0)
    throw new TypeError("scope must be a non-empty string");
  return scope;
}

/** base64url strings with `=` padding are refused, as Firefox's Push.sys.mjs does. */
async function parseAppServerKey(key: BufferSource | string | null | undefined): Promise<Uint8Array | null> {
  if (key === undefined || key === null) return null;
  let bytes: Uint8Array;
  if (typeof key === "string") {
    try {
      bytes = decode(key, { padding: "reject" });
    } catch {
      throw new PushError("InvalidCharacterError", "applicationServerKey is not valid base64url (unpadded)");
    }
  } else if (ArrayBuffer.isView(key)) {
    bytes = new Uint8Array(key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength));
  } else if (key instanceof ArrayBuffer) {
    bytes = new Uint8Array(key.slice(0));
  } else {
    throw invalidAccess("applicationServerKey must be a BufferSource or a base64url string");
  }
  if (bytes.byteLength === 0) throw invalidAccess("applicationServerKey is empty");
  await validateAppServerKey(bytes);
  return bytes;
}

function sameBytes(a: Uint8Array | null, b: ArrayBuffer | null): boolean {
  if (a === null || b === null) return a === null && b === null;
  const other = new Uint8Array(b);
  return a.byteLength === other.byteLength && a.every((byte, i) => byte === other[i]);
}

function checkKey(subscription: PushSubscription, key: Uint8Array | null): PushSubscription {
  if (!sameBytes(key, subscription.options.applicationServerKey)) {
    throw invalidState("A subscription with a different application server key already exists.");
  }
  return subscription;
}

function isNewerVersion(record: PushRecord, version: number): boolean {
  return record.version === null || record.version < version;
}

function hasKeys(record: PushRecord): boolean {
  return Boolean(
    record.p256dhPublicKey && record.p256dhPrivateKey && record.authenticationSecret?.byteLength === 16,
  );
}

function isValidEndpoint(endpoint: string | null): endpoint is string {
  if (!endpoint) return false;
  try {
    new URL(endpoint);
    return true;
  } catch {
    return false;
  }
}

export type { PushEventMap };
