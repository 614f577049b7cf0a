/**
 * The observer bus: the one way events leave PushService for the app. Topics mirror Firefox's
 * observer topics. An observer's failure is contained here: it is reported, it never reaches the
 * service's own control flow, and it never stops delivery to the other observers.
 */

import type { PushErrorName } from "./errors.ts";
import type { ConnectionState } from "./service/connection-types.ts";
import type { PushMessageData, PushSubscription } from "./subscription.ts";
import type { ConnectFailure } from "./transport/failure.ts";

export interface PushMessageEvent {
  scope: string;
  subscription: PushSubscription;
  /** The server's `version` (Web Push), or the version number as a string (SimplePush). */
  messageId: string;
  /** null for a push without payload. */
  data: PushMessageData | null;
  /** SimplePush only: the version number the server sent. */
  version?: number;
}

export interface PushSubscriptionChangeEvent {
  scope: string;
  oldSubscription: PushSubscription | null;
}

export interface PushSubscriptionModifiedEvent {
  scope: string;
}

export interface StateChangeEvent {
  state: ConnectionState;
  previous: ConnectionState;
  /** Set when this change to ShutDown is a connection attempt that failed: why it failed. */
  error?: ConnectFailure;
}

/** A connection attempt failed (the socket never opened); a retry with backoff follows. */
export interface ConnectionErrorEvent {
  serverURL: string;
  error: ConnectFailure;
}

export interface DecryptErrorEvent {
  scope: string;
  messageId: string;
  error: Error & { code?: string; name: string | PushErrorName };
}

export interface PushEventMap {
  "push-message": PushMessageEvent;
  "push-subscription-change": PushSubscriptionChangeEvent;
  "push-subscription-modified": PushSubscriptionModifiedEvent;
  "state-change": StateChangeEvent;
  "connection-error": ConnectionErrorEvent;
  "decrypt-error": DecryptErrorEvent;
}

export type PushTopic = keyof PushEventMap;
export type Observer<T extends PushTopic> = (event: PushEventMap[T]) => unknown;

/** How one delivery went: which observers threw synchronously and which rejected. */
export interface DeliveryOutcome {
  threw: unknown[];
  rejected: unknown[];
}

/** What the bus tells its owner: an observer was added, an observer failed. */
export interface ObserverHooks {
  added(topic: PushTopic): void;
  error(topic: PushTopic, error: unknown): void;
}

export class ObserverBus {
  /** Made with the first observer: an idle service with none holds no map. */
  #observers: Map<PushTopic, Set<Observer<PushTopic>>> | null = null;
  /** Kept whole and called as methods, so the hooks may be a class instance. */
  readonly #hooks: ObserverHooks;

  constructor(hooks: ObserverHooks) {
    this.#hooks = hooks;
  }

  observe<T extends PushTopic>(topic: T, observer: Observer<T>): () => void {
    if (typeof observer !== "function") throw new TypeError(`observe("${topic}") needs a function`);
    this.#observers ??= new Map();
    let set = this.#observers.get(topic);
    if (!set) {
      set = new Set();
      this.#observers.set(topic, set);
    }
    // A wrapper per call, so the same function observed twice is removed once per dispose.
    const entry = ((event: PushEventMap[PushTopic]) =>
      observer(event as PushEventMap[T])) as Observer<PushTopic>;
    set.add(entry);
    this.#hooks.added(topic);
    return () => {
      set.delete(entry);
    };
  }

  count(topic: PushTopic): number {
    return this.#observers?.get(topic)?.size ?? 0;
  }

  /** Fire and forget: failures go to the error hook. */
  notify<T extends PushTopic>(topic: T, event: PushEventMap[T]): void {
    for (const observer of this.#snapshot(topic)) {
      try {
        const result = observer(event);
        if (isPromiseLike(result)) result.then(undefined, (error) => this.#hooks.error(topic, error));
      } catch (error) {
        this.#hooks.error(topic, error);
      }
    }
  }

  /** Call every observer and wait until all have settled; report who threw and who rejected. */
  async deliver<T extends PushTopic>(topic: T, event: PushEventMap[T]): Promise<DeliveryOutcome> {
    const outcome: DeliveryOutcome = { threw: [], rejected: [] };
    const pending: Promise<unknown>[] = [];
    for (const observer of this.#snapshot(topic)) {
      try {
        const result = observer(event);
        if (isPromiseLike(result)) {
          pending.push(Promise.resolve(result).then(undefined, (error) => void outcome.rejected.push(error)));
        }
      } catch (error) {
        outcome.threw.push(error);
      }
    }
    await Promise.all(pending);
    for (const error of [...outcome.threw, ...outcome.rejected]) this.#hooks.error(topic, error);
    return outcome;
  }

  #snapshot(topic: PushTopic): Observer<PushTopic>[] {
    const set = this.#observers?.get(topic);
    return set ? [...set] : [];
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}
