/**
 * PushService: the public face of the user agent, W3C- and Firefox-shaped. It starts and stops
 * the parts and hands each call to the part that owns it: subscriptions to the registry
 * (registry.ts), the hello reply's consequences to hello.ts, notifications to the delivery
 * pipeline (delivery.ts), permissions, quota and clearing to the lifecycle rules (lifecycle.ts),
 * broadcasts to broadcasts.ts. What the parts share (store, connection, mode, decrypt workers,
 * the reconnect after a store failure) lives in service-state.ts. The socket and its timers live
 * in connection.ts; storage behind PushDB; crypto in ../crypto; events leave through the observer bus.
 */

import type { PushDB } from "../db/push-db.ts";
import { abort, invalidState, PushError } from "../errors.ts";
import { describeError } from "../log.ts";
import { webSocketFor } from "../net/socket.ts";
import {
  type Observer,
  ObserverBus,
  type ObserverHooks,
  type PushEventMap,
  type PushTopic,
} from "../observers.ts";
import type { HelloReply } from "../protocol/messages.ts";
import type { PushSubscription } from "../subscription.ts";
import type { ConnectFailure } from "../transport/failure.ts";
import { type BroadcastHandler, Broadcasts } from "./broadcasts.ts";
import { Connection } from "./connection.ts";
import type { ConnectionDelegate, ConnectionState, InboundMessage } from "./connection-types.ts";
import { Delivery } from "./delivery.ts";
import { adoptUAID, backfillKeys, type HelloPayload, helloPayload } from "./hello.ts";
import type { ClearPattern, PermissionState } from "./lifecycle.ts";
import {
  connectionOptions,
  type PushServiceOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import { requireScope, type SubscribeOptions } from "./registry.ts";
import { ServiceState } from "./service-state.ts";

export type { PushServiceOptions } from "./options.ts";
export type { SubscribeOptions } from "./registry.ts";

/** The W3C PushManager shape, bound to one scope. */
export interface PushManager {
  subscribe(options?: Omit<SubscribeOptions, "scope">): Promise<PushSubscription>;
  getSubscription(): Promise<PushSubscription | null>;
  permissionState(options?: unknown): Promise<"granted" | "denied" | "prompt">;
}

export class PushService {
  readonly #options: PushServiceOptions;
  readonly #config: ResolvedOptions;
  readonly #bus: ObserverBus;
  readonly #connectionEvents: ConnectionDelegate;
  #starting: Promise<void> | null = null;
  #uaid: string | null = null;
  #readyWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  #online = true;
  /** The store, connection, mode and settings the parts read (service-state.ts). */
  readonly #state: ServiceState;
  readonly #delivery: Delivery;

  constructor(options: PushServiceOptions = {}) {
    this.#options = options;
    this.#config = resolveOptions(options);
    const broadcasts = new Broadcasts(this.#config.logger);
    this.#bus = new ObserverBus(new PushService.#BusHooks(this));
    this.#connectionEvents = new PushService.#ConnectionEvents(this);
    this.#state = new ServiceState(options, this.#config, this.#bus, broadcasts);
    this.#delivery = new Delivery(this.#state, this.#state.lifecycle);
  }

  // The service as its collaborators see it: small objects whose methods live on the prototype
  // (closures for each hook were about 1 KB of every idle service). The parts see ServiceState.

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
      this.#service.#state.logger.error(`push: a ${topic} observer failed: ${describeError(error)}`);
    }
  };

  /** The connection's delegate: what hello says, the hello reply, inbound messages, state changes. */
  static readonly #ConnectionEvents = class implements ConnectionDelegate {
    readonly #service: PushService;

    constructor(service: PushService) {
      this.#service = service;
    }

    hello(): Promise<HelloPayload> {
      return helloPayload(this.#service.#state);
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

  get state(): ConnectionState {
    return this.#state.connection?.state ?? "ShutDown";
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
    try {
      await this.#startOn(db);
    } catch (error) {
      await this.#abandonStart(db, error);
      throw error;
    }
  }

  async #startOn(db: PushDB): Promise<void> {
    const Ctor = await webSocketFor(this.#options);
    this.#state.db = db;
    this.#uaid = await db.getUAID();
    this.#state.leaseWorkers();
    const connection = new Connection(connectionOptions(this.#config, Ctor), this.#connectionEvents);
    this.#state.connection = connection;
    await this.#state.broadcasts.attach(db, connection);
    if (!this.#online) connection.setOnline(false);
    connection.connect();
    void this.dropExpired().catch((error) =>
      this.#state.logger.warn(`push: dropping expired subscriptions failed: ${describeError(error)}`),
    );
  }

  /** start() failed after the store opened: close what it opened, and tell ready() waiters why. */
  async #abandonStart(db: PushDB, error: unknown): Promise<void> {
    this.#teardownParts();
    this.#rejectReadyWaiters(abort(`PushService failed to start: ${describeError(error)}`, error));
    this.#state.db = null;
    if (this.#options.db) return;
    await db
      .close()
      .catch((closeError) =>
        this.#state.logger.warn(
          `push: closing the store after a failed start failed: ${describeError(closeError)}`,
        ),
      );
  }

  /** Everything start() set going except the store: timers, socket, broadcasts, threads, held messages. */
  #teardownParts(): void {
    this.#state.lifecycle.stop();
    this.#delivery.stop();
    this.#state.cancelRecycle();
    this.#state.connection?.shutdown();
    this.#state.connection = null;
    this.#state.broadcasts.detach();
    this.#state.releaseWorkers();
  }

  #rejectReadyWaiters(error: Error): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
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
    this.#state.connection?.probe("the network changed");
  }

  /**
   * `false`: the device is offline (the browser's `offline` event): the socket is closed and no
   * connection is attempted until `setOnline(true)`, which connects at once with the backoff
   * reset. Before start() it sets the state start() begins in.
   */
  setOnline(online: boolean): void {
    if (typeof online !== "boolean") throw new TypeError("setOnline(online) needs a boolean");
    this.#online = online;
    this.#state.connection?.setOnline(online);
  }

  /** false after setOnline(false), until setOnline(true). */
  get online(): boolean {
    return this.#online;
  }

  /**
   * Resolves the next time the connection is Ready (at once if it is Ready now). Rejects with an
   * InvalidStateError when the service is not started (before start(), after stop()), and with
   * an AbortError when it stops or its start fails while waiting: a ready() always settles.
   */
  ready(): Promise<void> {
    if (this.state === "Ready") return Promise.resolve();
    if (!this.#starting) {
      return Promise.reject(invalidState("PushService is not started: call start() before ready()"));
    }
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** Close the socket, cancel every timer, let held messages go unacked, close the store. */
  async stop(): Promise<void> {
    const starting = this.#starting;
    if (!starting) return;
    await starting.catch(() => {});
    this.#starting = null;
    this.#teardownParts();
    this.#rejectReadyWaiters(abort("PushService stopped"));
    const db = this.#state.db;
    this.#state.db = null;
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
    await this.#state.broadcasts.add(id, version, handler);
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions (registry.ts)

  subscribe(options: SubscribeOptions): Promise<PushSubscription> {
    return this.#state.registry.subscribe(options);
  }

  getSubscription(scope: string): Promise<PushSubscription | null> {
    return this.#state.registry.getSubscription(scope);
  }

  subscriptions(): Promise<PushSubscription[]> {
    return this.#state.registry.subscriptions();
  }

  /** Forget the scope's subscription locally and tell the server; false when there was none. */
  unsubscribe(scope: string): Promise<boolean> {
    return this.#state.registry.unsubscribe(scope);
  }

  pushManager(scope: string): PushManager {
    requireScope(scope);
    return {
      subscribe: (options) => this.subscribe({ ...options, scope }),
      getSubscription: () => this.getSubscription(scope),
      permissionState: async () => ((await this.#state.lifecycle.permitted(scope)) ? "granted" : "denied"),
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
    this.#state.started();
    await this.#state.lifecycle.permissionChanged(requireScope(scope), state);
  }

  /** The embedder shows a notification for `scope`'s origin: pushes to it cost no quota meanwhile. */
  notificationShown(scope: string): void {
    this.#state.lifecycle.notificationShown(requireScope(scope));
  }

  notificationClosed(scope: string): void {
    this.#state.lifecycle.notificationClosed(requireScope(scope));
  }

  /**
   * Drop expired subscriptions whose site was visited since their last push (Firefox's
   * idle-daily job); each gets push-subscription-change. Also run at start().
   */
  async dropExpired(): Promise<void> {
    this.#state.started();
    await this.#state.lifecycle.dropExpired();
  }

  /**
   * Forget subscriptions with a site's data: a scope prefix, an exact origin, or a registrable
   * domain with its subdomains; no pattern forgets everything. Active ones are unregistered
   * (code 200); push-subscription-change fires for those that had permission.
   */
  async clear(pattern: ClearPattern = {}): Promise<void> {
    this.#state.started();
    await this.#state.lifecycle.clear(pattern);
  }

  // -------------------------------------------------------------------------------------------
  // Connection events

  /** The hello reply: the uaid (hello.ts), the mode, hello broadcasts, then keys for old records. */
  async #handshake(reply: HelloReply): Promise<void> {
    await adoptUAID(this.#state, reply.uaid);
    this.#uaid = reply.uaid;
    this.#state.dataEnabled = reply.useWebPush;
    if (reply.broadcasts.size > 0 || reply.broadcastErrors.size > 0) {
      void this.#state.broadcasts
        .received(reply.broadcasts, reply.broadcastErrors, "hello")
        .catch((error) =>
          this.#state.logger.error(`push: broadcast delivery failed: ${describeError(error)}`),
        );
    }
    if (this.#state.dataEnabled) await backfillKeys(this.#state);
  }

  #onStateChange(state: ConnectionState, previous: ConnectionState, error?: ConnectFailure): void {
    this.#state.broadcasts.connectionChanged(state);
    this.#bus.notify("state-change", error ? { state, previous, error } : { state, previous });
    if (error) this.#bus.notify("connection-error", { serverURL: this.#config.serverURL, error });
    if (state !== "Ready") return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** Broadcasts go to their listeners; notifications to the delivery pipeline. */
  #onMessage(message: InboundMessage): void {
    const connection = this.#state.connection;
    if (!connection) return;
    if (message.type === "broadcast") {
      void this.#state.broadcasts
        .received(message.broadcasts, message.broadcastErrors, "broadcast")
        .catch((error) =>
          this.#state.logger.error(`push: broadcast delivery failed: ${describeError(error)}`),
        );
      return;
    }
    if (message.type === "notification")
      this.#delivery.receive(message, connection.generation, this.#state.dataEnabled);
  }
}

export type { PushEventMap };
