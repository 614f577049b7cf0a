/**
 * PushService: the public face of the user agent, W3C- and Firefox-shaped. It starts and stops
 * the parts and hands each call to the part that owns it: subscriptions to the registry
 * (registry.ts), the hello reply's consequences to hello.ts, notifications to the delivery
 * pipeline (delivery.ts), permissions, quota and clearing to the lifecycle rules (lifecycle.ts),
 * broadcasts to broadcasts.ts. The socket and its timers live in connection.ts; storage behind
 * PushDB; crypto in ../crypto; events leave through the observer bus.
 */

import { backend as defaultBackend } from "#crypto-backend";
import type { WorkerLease } from "../crypto/backend.ts";
import { type DecryptionKeys, decrypt, decryptWith, type EncryptedPush } from "../crypto/decrypt.ts";
import type { PushDB, PushRecord } from "../db/push-db.ts";
import { abort, invalidState, PushError } from "../errors.ts";
import { describeError, type Logger } from "../log.ts";
import {
  type Observer,
  ObserverBus,
  type ObserverHooks,
  type PushEventMap,
  type PushTopic,
} from "../observers.ts";
import type { HelloReply, UnregisterCode } from "../protocol/messages.ts";
import type { PushSubscription } from "../subscription.ts";
import type { ConnectFailure } from "../transport/failure.ts";
import { loadDefaultWebSocket } from "../transport/websocket.ts";
import { type BroadcastHandler, Broadcasts } from "./broadcasts.ts";
import { Connection } from "./connection.ts";
import type { ConnectionDelegate, ConnectionState, InboundMessage } from "./connection-types.ts";
import { Delivery, type DeliveryContext } from "./delivery.ts";
import { adoptUAID, backfillKeys, type HelloContext, type HelloPayload, helloPayload } from "./hello.ts";
import {
  type ClearPattern,
  type LifecycleContext,
  type PermissionState,
  type QuotaOptions,
  SiteLifecycle,
} from "./lifecycle.ts";
import {
  connectionOptions,
  type PushServiceOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import {
  type RegistryContext,
  requireScope,
  type SubscribeOptions,
  SubscriptionRegistry,
} from "./registry.ts";

export type { PushServiceOptions } from "./options.ts";
export type { SubscribeOptions } from "./registry.ts";

/** Everything the service's parts read from it (one object, see #Parts). */
type ServiceParts = DeliveryContext & LifecycleContext & RegistryContext & HelloContext;

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
  readonly #connectionEvents: ConnectionDelegate;
  #db: PushDB | null = null;
  #connection: Connection | null = null;
  readonly #broadcasts: Broadcasts;
  #starting: Promise<void> | null = null;
  #uaid: string | null = null;
  /** Web Push mode (the hello reply said use_webpush); false means legacy SimplePush. */
  #dataEnabled = true;
  #readyWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  #online = true;
  readonly #parts: ServiceParts;
  readonly #lifecycle: SiteLifecycle;
  readonly #delivery: Delivery;
  readonly #registry: SubscriptionRegistry;
  /** The decrypt worker pool while started with `decryptWorkers` (Node); null on the main thread. */
  #workers: WorkerLease | null = null;

  constructor(options: PushServiceOptions = {}) {
    this.#options = options;
    this.#config = resolveOptions(options);
    this.#logger = this.#config.logger;
    this.#broadcasts = new Broadcasts(this.#logger);
    this.#bus = new ObserverBus(new PushService.#BusHooks(this));
    this.#connectionEvents = new PushService.#ConnectionEvents(this);
    const parts = new PushService.#Parts(this);
    this.#parts = parts;
    this.#lifecycle = new SiteLifecycle(parts);
    this.#delivery = new Delivery(parts, this.#lifecycle);
    this.#registry = new SubscriptionRegistry(parts);
  }

  // The service as each of its collaborators sees it: small objects whose methods live on the
  // prototype (closures for each hook were about 1 KB of every idle service).

  /** The observer bus's hooks: a push-message observer arrived, an observer failed. */
  static readonly #BusHooks = class implements ObserverHooks {
    readonly #service: PushService;

    constructor(service: PushService) {
      this.#service = service;
    }

    added(topic: PushTopic): void {
      if (topic === "push-message") this.#service.#delivery.observerAdded();
    }

    error(topic: PushTopic, error: unknown): void {
      this.#service.#logger.error(`push: a ${topic} observer failed: ${describeError(error)}`);
    }
  };

  /** The connection's delegate: what hello says, the hello reply, inbound messages, state changes. */
  static readonly #ConnectionEvents = class implements ConnectionDelegate {
    readonly #service: PushService;

    constructor(service: PushService) {
      this.#service = service;
    }

    hello(): Promise<HelloPayload> {
      return helloPayload(this.#service.#parts);
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

  /** The service's state and settings as its parts read them: delivery, lifecycle, registry, hello. */
  static readonly #Parts = class implements DeliveryContext, LifecycleContext, RegistryContext, HelloContext {
    readonly #service: PushService;

    constructor(service: PushService) {
      this.#service = service;
    }

    get bus(): ObserverBus {
      return this.#service.#bus;
    }

    get logger(): Logger {
      return this.#service.#logger;
    }

    get broadcasts(): Broadcasts {
      return this.#service.#broadcasts;
    }

    get lifecycle(): SiteLifecycle {
      return this.#service.#lifecycle;
    }

    get connection(): Connection | null {
      return this.#service.#connection;
    }

    get dataEnabled(): boolean {
      return this.#service.#dataEnabled;
    }

    get hasPermission(): PushServiceOptions["hasPermission"] {
      return this.#service.#options.hasPermission;
    }

    get quota(): QuotaOptions | undefined {
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

    started(): { db: PushDB; connection: Connection } {
      return this.#service.#requireStarted();
    }

    toSubscription(record: PushRecord): PushSubscription {
      return this.#service.#registry.toSubscription(record);
    }

    unregister(channelID: string, code: UnregisterCode): void {
      this.#service.#registry.unregisterInBackground(channelID, code);
    }

    send(generation: number, frame: string): void {
      this.#service.#connection?.sendOn(generation, frame);
    }

    decrypt(keys: DecryptionKeys, push: EncryptedPush): Promise<Uint8Array> {
      const workers = this.#service.#workers;
      return workers ? decryptWith(workers.backend, keys, push) : decrypt(keys, push);
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
    const Ctor = this.#options.WebSocket ?? (await loadDefaultWebSocket());
    this.#db = db;
    this.#uaid = await db.getUAID();
    this.#leaseWorkers();
    this.#connection = new Connection(connectionOptions(this.#config, Ctor), this.#connectionEvents);
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
  // Subscriptions (registry.ts)

  subscribe(options: SubscribeOptions): Promise<PushSubscription> {
    return this.#registry.subscribe(options);
  }

  getSubscription(scope: string): Promise<PushSubscription | null> {
    return this.#registry.getSubscription(scope);
  }

  subscriptions(): Promise<PushSubscription[]> {
    return this.#registry.subscriptions();
  }

  /** Forget the scope's subscription locally and tell the server; false when there was none. */
  unsubscribe(scope: string): Promise<boolean> {
    return this.#registry.unsubscribe(scope);
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

  #requireStarted(): { db: PushDB; connection: Connection } {
    if (!this.#db || !this.#connection) {
      throw invalidState("PushService is not started: call start() first");
    }
    return { db: this.#db, connection: this.#connection };
  }

  // -------------------------------------------------------------------------------------------
  // Connection events

  /** The hello reply: the uaid (hello.ts), the mode, hello broadcasts, then keys for old records. */
  async #handshake(reply: HelloReply): Promise<void> {
    const parts = this.#parts;
    await adoptUAID(parts, reply.uaid);
    this.#uaid = reply.uaid;
    this.#dataEnabled = reply.useWebPush;
    if (reply.broadcasts.size > 0 || reply.broadcastErrors.size > 0) {
      void this.#broadcasts
        .received(reply.broadcasts, reply.broadcastErrors, "hello")
        .catch((error) => this.#logger.error(`push: broadcast delivery failed: ${describeError(error)}`));
    }
    if (this.#dataEnabled) await backfillKeys(parts);
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

export type { PushEventMap };
