/**
 * PushService: the public face of the user agent. It owns the subscriptions (register, look up,
 * unregister), the hello handshake's consequences (new uaid, key back-fill, broadcasts) and the
 * delivery pipeline: notification → lookup → dedupe → decrypt → observers → record → ack.
 *
 * The connection (socket, timers, requests) lives in connection.ts; storage behind PushDB;
 * crypto in ../crypto; events leave through the observer bus.
 */

import { backend as defaultBackend } from "#crypto-backend";
import type { WorkerLease } from "../crypto/backend.ts";
import { decode, encodePadded } from "../crypto/base64url.ts";
import { type DecryptionKeys, decrypt, decryptWith, type EncryptedPush } from "../crypto/decrypt.ts";
import { generateKeys, validateAppServerKey } from "../crypto/keys.ts";
import type { PushDB, PushRecord } from "../db/push-db.ts";
import { abort, invalidAccess, invalidState, PushError } from "../errors.ts";
import { describeError, type Logger, shortEndpoint } from "../log.ts";
import { webSocketFor } from "../net/socket.ts";
import { type Observer, ObserverBus, type PushEventMap, type PushTopic } from "../observers.ts";
import {
  type HelloReply,
  registerFrame,
  type UnregisterCode,
  unregisterFrame,
} from "../protocol/messages.ts";
import { PushSubscription } from "../subscription.ts";
import type { ConnectFailure } from "../transport/failure.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { BufferSourceLike } from "../web-types.ts";
import { type BroadcastHandler, Broadcasts } from "./broadcasts.ts";
import {
  Connection,
  type ConnectionDelegate,
  type ConnectionOptions,
  type ConnectionState,
  type InboundMessage,
} from "./connection.ts";
import { Delivery, type DeliveryContext } from "./delivery.ts";
import { type PushServiceOptions, type ResolvedOptions, resolveOptions } from "./options.ts";

export type { PushServiceOptions } from "./options.ts";

import {
  type ClearPattern,
  isExpired,
  type LifecycleContext,
  type PermissionState,
  SiteLifecycle,
} from "./lifecycle.ts";

export interface SubscribeOptions {
  scope: string;
  /** The application server's P-256 public key: raw bytes or base64url (unpadded). */
  applicationServerKey?: BufferSourceLike | string | null;
  /** Accepted for W3C compatibility; push-agent does not enforce visibility. */
  userVisibleOnly?: boolean;
}

/** The W3C PushManager shape, bound to one scope. */
export interface PushManager {
  subscribe(options?: Omit<SubscribeOptions, "scope">): Promise<PushSubscription>;
  getSubscription(): Promise<PushSubscription | null>;
  permissionState(options?: unknown): Promise<"granted" | "denied" | "prompt">;
}

export class PushService {
  readonly #options: PushServiceOptions;
  readonly #config: ResolvedOptions;
  readonly #logger: Logger;
  readonly #bus: ObserverBus;
  readonly #hooks: ConnectionDelegate;
  #db: PushDB | null = null;
  #connection: Connection | null = null;
  readonly #broadcasts: Broadcasts;
  #starting: Promise<void> | null = null;
  #uaid: string | null = null;
  /** Web Push mode (the hello reply said use_webpush); false means legacy SimplePush. */
  #dataEnabled = true;
  #readyWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  /** subscribe() calls in flight by scope; made on the first one, dropped when none is left. */
  #subscribing: Map<string, Promise<PushSubscription>> | null = null;
  #online = true;
  readonly #lifecycle: SiteLifecycle;
  readonly #delivery: Delivery;
  /** The decrypt worker pool while started with `decryptWorkers` (Node); null on the main thread. */
  #workers: WorkerLease | null = null;

  constructor(options: PushServiceOptions = {}) {
    this.#options = options;
    this.#config = resolveOptions(options);
    this.#logger = this.#config.logger;
    this.#broadcasts = new Broadcasts(this.#logger);
    const hooks = new PushService.#Hooks(this);
    this.#hooks = hooks;
    this.#bus = new ObserverBus(hooks);
    this.#lifecycle = new SiteLifecycle(hooks);
    this.#delivery = new Delivery(hooks, this.#lifecycle);
  }

  /**
   * The service as its parts see it: the observer bus's hooks, the context of delivery and the
   * lifecycle rules, and the connection's delegate, in one object per service whose methods live
   * on the prototype. Closures for each of them were about 1 KB of every idle service (issue 15).
   */
  static readonly #Hooks = class implements DeliveryContext, LifecycleContext, ConnectionDelegate {
    readonly #service: PushService;

    constructor(service: PushService) {
      this.#service = service;
    }

    // ObserverBus hooks
    added(topic: PushTopic): void {
      if (topic === "push-message") this.#service.#delivery.observerAdded();
    }

    error(topic: PushTopic, error: unknown): void {
      this.#service.#logger.error(`push: a ${topic} observer failed: ${describeError(error)}`);
    }

    // DeliveryContext and LifecycleContext
    get bus(): ObserverBus {
      return this.#service.#bus;
    }

    get logger(): Logger {
      return this.#service.#logger;
    }

    get hasPermission(): PushServiceOptions["hasPermission"] {
      return this.#service.#options.hasPermission;
    }

    get quota(): PushServiceOptions["quota"] {
      return this.#service.#options.quota;
    }

    get quotaUpdateDelay(): number {
      return this.#service.#config.quotaUpdateDelay;
    }

    get maxRecentMessageIDs(): number {
      return this.#service.#config.maxRecentMessageIDs;
    }

    store(): PushDB | null {
      return this.#service.#db;
    }

    toSubscription(record: PushRecord): PushSubscription {
      return this.#service.#toSubscription(record);
    }

    unregister(channelID: string, code: UnregisterCode): void {
      this.#service.#backgroundUnregister(channelID, code);
    }

    send(generation: number, frame: string): void {
      this.#service.#connection?.sendOn(generation, frame);
    }

    decrypt(keys: DecryptionKeys, push: EncryptedPush): Promise<Uint8Array> {
      const workers = this.#service.#workers;
      return workers ? decryptWith(workers.backend, keys, push) : decrypt(keys, push);
    }

    // ConnectionDelegate
    hello(): Promise<{ uaid: string | null; broadcasts: Record<string, string> }> {
      return this.#service.#helloPayload();
    }

    handshake(reply: HelloReply): Promise<void> {
      return this.#service.#handshake(reply);
    }

    message(message: InboundMessage): void {
      this.#service.#onMessage(message);
    }

    stateChanged(state: ConnectionState, previous: ConnectionState, error?: ConnectFailure): void {
      this.#service.#onStateChange(state, previous, error);
    }
  };

  /** Decryption on worker threads when asked for and the runtime has them. */
  #leaseWorkers(): void {
    const threads = this.#config.decryptWorkers;
    if (threads === 0 || this.#workers) return;
    if (!defaultBackend.onWorkers) {
      this.#logger.info("push: decryptWorkers ignored: this runtime's crypto is asynchronous already");
      return;
    }
    this.#workers = defaultBackend.onWorkers(threads);
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
    const Ctor = await webSocketFor(this.#options);
    this.#db = db;
    this.#uaid = await db.getUAID();
    this.#leaseWorkers();
    this.#connection = new Connection(connectionOptions(this.#config, Ctor), this.#hooks);
    await this.#broadcasts.attach(db, this.#connection);
    if (!this.#online) this.#connection.setOnline(false);
    this.#connection.connect();
    void this.dropExpired().catch((error) =>
      this.#logger.warn(`push: dropping expired subscriptions failed: ${describeError(error)}`),
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

  /**
   * Tell the service the network may have changed or the machine woke up (Electron's
   * powerMonitor `resume`, a network-change event). It checks the socket at once (a WebSocket
   * ping in Node, else a `{}` when the 45 s floor allows, else a reconnect) and, without an
   * answer within requestTimeout, reconnects at once with the backoff reset. A pending backoff
   * is cut short. Without this hook a sleep is still noticed by the wall clock (wakeCheckInterval).
   */
  networkChanged(): void {
    this.#connection?.probe("the network changed");
  }

  /**
   * `false`: the device is offline (the browser's `offline` event): the socket is closed and no
   * connection is attempted until `setOnline(true)`, which connects at once with the backoff
   * reset. Before start() it sets the state start() begins in.
   */
  setOnline(online: boolean): void {
    if (typeof online !== "boolean") throw new TypeError("setOnline(online) needs a boolean");
    this.#online = online;
    this.#connection?.setOnline(online);
  }

  /** false after setOnline(false), until setOnline(true). */
  get online(): boolean {
    return this.#online;
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
    this.#lifecycle.stop();
    this.#connection?.shutdown();
    this.#connection = null;
    this.#broadcasts.detach();
    // Messages still decrypting are left unacked (the server re-sends them); the threads may end.
    this.#workers?.release();
    this.#workers = null;
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

  /**
   * Listen for a broadcast id. Works before start() and while connecting: the next hello carries
   * the id (handler phase "hello"); once a hello is on its way, a broadcast_subscribe does
   * (phase "register"). A stored version wins over `version`.
   */
  async addBroadcastListener(id: string, version: string, handler: BroadcastHandler): Promise<void> {
    await this.#broadcasts.add(id, version, handler);
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions

  async subscribe(options: SubscribeOptions): Promise<PushSubscription> {
    const scope = requireScope(options?.scope);
    const key = await parseAppServerKey(options.applicationServerKey);
    this.#subscribing ??= new Map();
    const subscribing = this.#subscribing;
    const inflight = subscribing.get(scope);
    if (inflight) return checkKey(await inflight, key);
    const attempt = this.#subscribe(scope, key).finally(() => {
      subscribing.delete(scope);
      // An idle service keeps no empty map (issue 15).
      if (subscribing.size === 0 && this.#subscribing === subscribing) this.#subscribing = null;
    });
    subscribing.set(scope, attempt);
    return attempt;
  }

  async #subscribe(scope: string, key: Uint8Array | null): Promise<PushSubscription> {
    const { db } = this.#requireStarted();
    const existing = await db.getByScope(scope);
    if (existing) {
      checkKey(this.#toSubscription(existing), key);
      if (!isExpired(existing)) return this.#toSubscription(existing);
      if (!(await this.#lifecycle.quotaChanged(existing))) throw abort("Push subscription expired");
      await this.#lifecycle.drop(existing);
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
      throw abort(`Registration error: ${describeError(error)}`, error);
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
      quota: this.#lifecycle.initialQuota,
      version: null,
      systemRecord: !this.#options.quota,
    };
  }

  async getSubscription(scope: string): Promise<PushSubscription | null> {
    const { db } = this.#requireStarted();
    const record = await db.getByScope(requireScope(scope));
    if (!record) return null;
    if (!isExpired(record)) return this.#toSubscription(record);
    if (await this.#lifecycle.quotaChanged(record)) await this.#lifecycle.drop(record);
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
      throw abort(`Unsubscribe error: ${describeError(error)}`, error);
    }
  }

  pushManager(scope: string): PushManager {
    requireScope(scope);
    return {
      subscribe: (options) => this.subscribe({ ...options, scope }),
      getSubscription: () => this.getSubscription(scope),
      permissionState: async () => ((await this.#lifecycle.permitted(scope)) ? "granted" : "denied"),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Browser-shell lifecycle: permissions, quota, clearing (rules in lifecycle.ts)

  /**
   * The embedder's permission for `scope` (and every scope under it) changed. Denied or prompt:
   * active subscriptions are unregistered (code 202) and expired. Granted: expired ones are
   * dropped with push-subscription-change, active ones get a fresh quota.
   */
  async permissionChanged(scope: string, state: PermissionState): Promise<void> {
    this.#requireStarted();
    await this.#lifecycle.permissionChanged(requireScope(scope), state);
  }

  /** The embedder shows a notification for `scope`'s origin: pushes to it cost no quota meanwhile. */
  notificationShown(scope: string): void {
    this.#lifecycle.notificationShown(requireScope(scope));
  }

  notificationClosed(scope: string): void {
    this.#lifecycle.notificationClosed(requireScope(scope));
  }

  /**
   * Drop expired subscriptions whose site was visited since their last push (Firefox's
   * idle-daily job); each gets push-subscription-change. Also run at start().
   */
  async dropExpired(): Promise<void> {
    this.#requireStarted();
    await this.#lifecycle.dropExpired();
  }

  /**
   * Forget subscriptions with a site's data: a scope prefix, an exact origin, or a registrable
   * domain with its subdomains; no pattern forgets everything. Active ones are unregistered
   * (code 200); push-subscription-change fires for those that had permission.
   */
  async clear(pattern: ClearPattern = {}): Promise<void> {
    this.#requireStarted();
    await this.#lifecycle.clear(pattern);
  }

  #backgroundUnregister(channelID: string, code: UnregisterCode): void {
    const connection = this.#connection;
    if (!connection) return;
    connection
      .request("unregister", channelID, unregisterFrame(channelID, code))
      .catch((error) => this.#logger.warn(`push: background unregister failed: ${describeError(error)}`));
  }

  #toSubscription(record: PushRecord): PushSubscription {
    return new PushSubscription(record, (scope) => this.unsubscribe(scope));
  }

  #requireStarted(): { db: PushDB; connection: Connection } {
    if (!this.#db || !this.#connection) {
      throw invalidState("PushService is not started: call start() first");
    }
    return { db: this.#db, connection: this.#connection };
  }

  // -------------------------------------------------------------------------------------------
  // Handshake

  async #helloPayload(): Promise<{ uaid: string | null; broadcasts: Record<string, string> }> {
    const { db } = this.#requireStarted();
    const [records, uaid] = await Promise.all([db.getAllUnexpired(), db.getUAID()]);
    // Privacy (Firefox bug 1617136): without subscriptions the server mints a fresh uaid each time.
    return { uaid: records.length > 0 && uaid ? uaid : null, broadcasts: this.#broadcasts.helloBroadcasts() };
  }

  async #handshake(reply: HelloReply): Promise<void> {
    const { db } = this.#requireStarted();
    const broadcasts = this.#broadcasts;
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
        .catch((error) => this.#logger.error(`push: broadcast delivery failed: ${describeError(error)}`));
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

  #onStateChange(state: ConnectionState, previous: ConnectionState, error?: ConnectFailure): void {
    this.#broadcasts.connectionChanged(state);
    this.#bus.notify("state-change", error ? { state, previous, error } : { state, previous });
    if (error) this.#bus.notify("connection-error", { serverURL: this.#config.serverURL, error });
    if (state !== "Ready") return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** Broadcasts go to their listeners; notifications to the delivery pipeline. */
  #onMessage(message: InboundMessage): void {
    const connection = this.#connection;
    if (!connection) return;
    if (message.type === "broadcast") {
      void this.#broadcasts
        .received(message.broadcasts, message.broadcastErrors, "broadcast")
        .catch((error) => this.#logger.error(`push: broadcast delivery failed: ${describeError(error)}`));
      return;
    }
    if (message.type === "notification")
      this.#delivery.receive(message, connection.generation, this.#dataEnabled);
  }
}

// ---------------------------------------------------------------------------------------------
// Argument checks

function requireScope(scope: unknown): string {
  if (typeof scope !== "string" || scope.length === 0)
    throw new TypeError("scope must be a non-empty string");
  return scope;
}

/** base64url strings with `=` padding are refused, as Firefox's Push.sys.mjs does. */
async function parseAppServerKey(
  key: BufferSourceLike | string | null | undefined,
): Promise<Uint8Array | null> {
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

/**
 * Field by field, not a spread of the resolved options: a spread gives every connection its own
 * hidden class and property descriptors (about 0.7 KB per service, issue 15).
 */
function connectionOptions(config: ResolvedOptions, WebSocket: WebSocketConstructor): ConnectionOptions {
  // Shared like the resolved options they come from: per options object and constructor.
  let byConstructor = sharedConnectionOptions.get(config);
  if (!byConstructor) {
    byConstructor = new WeakMap();
    sharedConnectionOptions.set(config, byConstructor);
  }
  let options = byConstructor.get(WebSocket);
  if (!options) {
    options = Object.freeze(ownConnectionOptions(config, WebSocket));
    byConstructor.set(WebSocket, options);
  }
  return options;
}

const sharedConnectionOptions = new WeakMap<
  ResolvedOptions,
  WeakMap<WebSocketConstructor, Readonly<ConnectionOptions>>
>();

function ownConnectionOptions(config: ResolvedOptions, WebSocket: WebSocketConstructor): ConnectionOptions {
  return {
    serverURL: config.serverURL,
    WebSocket,
    requestTimeout: config.requestTimeout,
    retryBaseInterval: config.retryBaseInterval,
    pingInterval: config.pingInterval,
    subprotocol: config.subprotocol,
    connectTimeout: config.connectTimeout,
    wakeCheckInterval: config.wakeCheckInterval,
    logger: config.logger,
  };
}
