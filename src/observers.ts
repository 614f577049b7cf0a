/**
 * The observer bus: the one way events leave PushService for the app. Topics mirror Firefox's
 * observer topics. An observer's failure is contained here: it is reported, it never reaches the
 * service's own control flow, and it never stops delivery to the other observers. A delivery
 * waits for its observers up to a deadline: one that never settles is reported as timed out,
 * so it cannot hold the service's pipeline for good.
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

/**
 * The store refused a write the delivery of a message needed (disk full, I/O error, a closed
 * database). The message was not acked: the server keeps it and sends it again, so the app may
 * see it twice, never not at all.
 */
export interface StoreErrorEvent {
  /** The scope of the message's subscription, when its record was read. */
  scope: string | null;
  messageId: string;
  error: Error;
}

export interface PushEventMap {
  "push-message": PushMessageEvent;
  "push-subscription-change": PushSubscriptionChangeEvent;
  "push-subscription-modified": PushSubscriptionModifiedEvent;
  "state-change": StateChangeEvent;
  "connection-error": ConnectionErrorEvent;
  "decrypt-error": DecryptErrorEvent;
  "store-error": StoreErrorEvent;
}

export type PushTopic = keyof PushEventMap;
export type Observer<T extends PushTopic> = (event: PushEventMap[T]) => unknown;

/** How one delivery went: which observers threw synchronously, rejected, or passed the deadline. */
export interface DeliveryOutcome {
  threw: unknown[];
  rejected: unknown[];
  /** Observers whose promise had not settled when the deadline passed. */
  timedOut: number;
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

  /**
   * Call every observer and wait until all have settled, or until `deadlineMs` passed; report
   * who threw, who rejected and how many were still pending. A late settlement is ignored.
   */
  async deliver<T extends PushTopic>(
    topic: T,
    event: PushEventMap[T],
    deadlineMs: number,
  ): Promise<DeliveryOutcome> {
    const outcome: DeliveryOutcome = { threw: [], rejected: [], timedOut: 0 };
    const pending: Promise<void>[] = [];
    const window = { open: true };
    for (const observer of this.#snapshot(topic)) {
      try {
        const result = observer(event);
        if (isPromiseLike(result)) pending.push(track(result, outcome, window));
      } catch (error) {
        outcome.threw.push(error);
      }
    }
    if (pending.length > 0) outcome.timedOut = await settleWithin(pending, deadlineMs);
    window.open = false;
    for (const error of [...outcome.threw, ...outcome.rejected]) this.#hooks.error(topic, error);
    if (outcome.timedOut > 0) {
      this.#hooks.error(
        topic,
        new Error(`${outcome.timedOut} observer(s) did not settle within ${deadlineMs} ms; going on`),
      );
    }
    return outcome;
  }

  #snapshot(topic: PushTopic): Observer<PushTopic>[] {
    const set = this.#observers?.get(topic);
    return set ? [...set] : [];
  }
}

/** Settles with `result`; a rejection while `window` is open is recorded in `outcome`. */
function track(
  result: PromiseLike<unknown>,
  outcome: DeliveryOutcome,
  window: { open: boolean },
): Promise<void> {
  // Always handled: a rejection after the deadline goes nowhere rather than crashing the host.
  return Promise.resolve(result).then(
    () => {},
    (error) => {
      if (window.open) outcome.rejected.push(error);
    },
  );
}

/** Waits for every promise or the deadline, whichever is first; returns how many were pending. */
async function settleWithin(pending: Promise<void>[], deadlineMs: number): Promise<number> {
  let unsettled = pending.length;
  const all = Promise.all(pending.map((p) => p.then(() => void unsettled--)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  try {
    await Promise.race([all, deadline]);
  } finally {
    clearTimeout(timer);
  }
  return unsettled;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}
