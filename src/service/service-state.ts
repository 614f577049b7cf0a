/**
 * ServiceState: what a PushService shares with its parts (delivery, lifecycle, registry, hello).
 * It holds the open store, the connection, the mode the hello reply set, the decrypt workers and
 * the reconnect planned after a store failure, and reads the settings the parts need. PushService
 * (push-service.ts) starts and stops them; the parts see this one object through their context
 * interfaces, whose methods live on the prototype (a closure for each hook was about 1 KB of
 * every idle service).
 */

import { backend as defaultBackend } from "#crypto-backend";
import type { WorkerLease } from "../crypto/backend.ts";
import { type DecryptionKeys, decrypt, decryptWith, type EncryptedPush } from "../crypto/decrypt.ts";
import type { PushDB, PushRecord } from "../db/push-db.ts";
import { invalidState } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ObserverBus, StoreErrorEvent } from "../observers.ts";
import type { UnregisterCode } from "../protocol/messages.ts";
import type { PushSubscription } from "../subscription.ts";
import type { Broadcasts } from "./broadcasts.ts";
import type { Connection } from "./connection.ts";
import type { DeliveryContext } from "./delivery.ts";
import type { HelloContext } from "./hello.ts";
import { type LifecycleContext, type QuotaOptions, SiteLifecycle } from "./lifecycle.ts";
import { type PushServiceOptions, type ResolvedOptions, timerDelay } from "./options.ts";
import { type RegistryContext, SubscriptionRegistry } from "./registry.ts";

export class ServiceState implements DeliveryContext, LifecycleContext, RegistryContext, HelloContext {
  readonly #options: PushServiceOptions;
  readonly #config: ResolvedOptions;
  readonly bus: ObserverBus;
  readonly logger: Logger;
  readonly broadcasts: Broadcasts;
  readonly lifecycle: SiteLifecycle;
  readonly registry: SubscriptionRegistry;
  #db: PushDB | null = null;
  #connection: Connection | null = null;
  /** Web Push mode (the hello reply said use_webpush); false means legacy SimplePush. */
  #dataEnabled = true;
  /** The decrypt worker pool while started with `decryptWorkers` (Node); null on the main thread. */
  #workers: WorkerLease | null = null;
  /** A reconnect planned after a store failure, so the server sends the unacked message again. */
  #recycleTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    options: PushServiceOptions,
    config: ResolvedOptions,
    bus: ObserverBus,
    broadcasts: Broadcasts,
  ) {
    this.#options = options;
    this.#config = config;
    this.bus = bus;
    this.logger = config.logger;
    this.broadcasts = broadcasts;
    this.lifecycle = new SiteLifecycle(this);
    this.registry = new SubscriptionRegistry(this);
  }

  get db(): PushDB | null {
    return this.#db;
  }

  set db(db: PushDB | null) {
    this.#db = db;
  }

  get connection(): Connection | null {
    return this.#connection;
  }

  set connection(connection: Connection | null) {
    this.#connection = connection;
  }

  get dataEnabled(): boolean {
    return this.#dataEnabled;
  }

  set dataEnabled(enabled: boolean) {
    this.#dataEnabled = enabled;
  }

  get hasPermission(): PushServiceOptions["hasPermission"] {
    return this.#options.hasPermission;
  }

  get quota(): QuotaOptions | undefined {
    return this.#options.quota;
  }

  get quotaUpdateDelay(): number {
    return this.#config.quotaUpdateDelay;
  }

  get maxRecentMessageIDs(): number {
    return this.#config.maxRecentMessageIDs;
  }

  get observerTimeout(): number {
    return this.#config.observerTimeout;
  }

  get maxHeldMessages(): number {
    return this.#config.maxHeldMessages;
  }

  get maxHeldBytes(): number {
    return this.#config.maxHeldBytes;
  }

  store(): PushDB | null {
    return this.#db;
  }

  started(): { db: PushDB; connection: Connection } {
    if (!this.#db || !this.#connection) {
      throw invalidState("PushService is not started: call start() first");
    }
    return { db: this.#db, connection: this.#connection };
  }

  toSubscription(record: PushRecord): PushSubscription {
    return this.registry.toSubscription(record);
  }

  unregister(channelID: string, code: UnregisterCode): void {
    this.registry.unregisterInBackground(channelID, code);
  }

  send(generation: number, frame: string): void {
    this.#connection?.sendOn(generation, frame);
  }

  decrypt(keys: DecryptionKeys, push: EncryptedPush): Promise<Uint8Array> {
    const workers = this.#workers;
    return workers ? decryptWith(workers.backend, keys, push) : decrypt(keys, push);
  }

  /** Decryption on worker threads when asked for and the runtime has them. */
  leaseWorkers(): void {
    const threads = this.#config.decryptWorkers;
    if (threads === 0 || this.#workers) return;
    if (!defaultBackend.onWorkers) {
      this.logger.info("push: decryptWorkers ignored: this runtime's crypto is asynchronous already");
      return;
    }
    this.#workers = defaultBackend.onWorkers(threads);
  }

  /** Messages still decrypting are left unacked (the server re-sends them); the threads may end. */
  releaseWorkers(): void {
    this.#workers?.release();
    this.#workers = null;
  }

  /**
   * A store operation of a delivery failed (disk full, I/O error): the message was not acked.
   * The embedder hears of it (store-error, the logger), and the connection starts over after
   * the backoff's delay for this many failures in a row, so the server sends the message again
   * without a store that stays broken making it a loop.
   */
  storeFailed(event: StoreErrorEvent, consecutive: number): void {
    const where = event.scope ?? "a subscription";
    this.logger.error(
      `push: the store failed while delivering a message for ${where}; not acked, the server sends it again: ${event.error.message}`,
    );
    this.bus.notify("store-error", event);
    if (this.#recycleTimer || !this.#connection) return;
    const { retryBaseInterval, pingInterval } = this.#config;
    const delay = timerDelay(Math.min(retryBaseInterval * 2 ** (consecutive - 1), pingInterval));
    this.#recycleTimer = setTimeout(() => {
      this.#recycleTimer = null;
      this.#connection?.recycle("a message was left unacked after a store failure");
    }, delay);
  }

  cancelRecycle(): void {
    if (this.#recycleTimer) clearTimeout(this.#recycleTimer);
    this.#recycleTimer = null;
  }
}
