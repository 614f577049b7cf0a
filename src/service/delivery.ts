/**
 * The delivery pipeline: a notification frame becomes a call to the app's push-message observers
 * and an ack. Per message: in-flight duplicate check → wait until the app observes → live,
 * visited record (else 102) → dedupe against recentMessageIDs (102) → decrypt (101 and
 * decrypt-error) → permission (102) → observers, in arrival order per channel → record the id →
 * nack 301/302 for failed observers → ack 100. The id is written only after the app has the
 * message and the ack only after the write: a crash anywhere means a re-send, never a loss.
 */

import { decode } from "../crypto/base64url.ts";
import { DecryptError, type Decryptor } from "../crypto/decrypt.ts";
import { hasKeys, type PushDB, type PushRecord } from "../db/push-db.ts";
import { describeError, type Logger } from "../log.ts";
import type { DeliveryOutcome, ObserverBus } from "../observers.ts";
import {
  type AckCode,
  ackFrame,
  type LegacyNotification,
  nackFrame,
  type SimplePushUpdate,
  type WebPushNotification,
} from "../protocol/messages.ts";
import { PushMessageData, type PushSubscription } from "../subscription.ts";
import { applyReceivedPush, isExpired, type SiteLifecycle } from "./lifecycle.ts";

/** What delivery needs from the service around it. */
export interface DeliveryContext {
  /** The open store; null once the service stopped (messages in flight are then left unacked). */
  store(): PushDB | null;
  bus: ObserverBus;
  logger: Logger;
  /** Send a frame on the socket of `generation`, if that socket is still the current one. */
  send(generation: number, frame: string): void;
  toSubscription(record: PushRecord): PushSubscription;
  maxRecentMessageIDs: number;
  /** Decryption with the runtime's backend, on the main thread or on worker threads. */
  decrypt: Decryptor;
}

/** A message's place in its channel's observer stage: wait for `previous`, then `release()` (idempotent). */
interface DeliveryTurn {
  previous: Promise<void>;
  release(): void;
}

export class Delivery {
  readonly #ctx: DeliveryContext;
  readonly #lifecycle: SiteLifecycle;
  #observerWaiters: (() => void)[] = [];
  /**
   * channelID|messageId of messages being handled, with the generations of every socket a copy
   * came in on: a copy arriving meanwhile waits for the first one's outcome, so the server never
   * hears "done" (any ack code drops the message) before the app has finished with it.
   */
  // Both maps exist only while messages are in flight: an idle service holds none.
  #inFlight: Map<string, Set<number>> | null = null;
  /** Per channel, the tail of the observer stage: deliveries to the app keep arrival order. */
  #deliveryTails: Map<string, Promise<void>> | null = null;

  constructor(context: DeliveryContext, lifecycle: SiteLifecycle) {
    this.#ctx = context;
    this.#lifecycle = lifecycle;
  }

  /** A notification frame, read by the mode the hello reply set (as Firefox does). */
  receive(message: WebPushNotification | LegacyNotification, generation: number, webPush: boolean): void {
    if (webPush !== (message.updates === null)) {
      this.#ctx.logger.warn(
        `push: ignoring a notification that does not fit ${webPush ? "Web Push" : "SimplePush"} mode`,
      );
      return;
    }
    if (message.updates) {
      for (const update of message.updates) {
        void this.#handle(update.channelID, update.version, generation, (turn) =>
          this.#processSimplePush(update, generation, turn.previous),
        );
      }
      return;
    }
    void this.#handle(message.channelID, message.messageId, generation, (turn) =>
      this.#process(message, generation, turn),
    );
  }

  /**
   * The frame around both pipelines: a copy of a message still in flight shares its ack, the
   * observer stage keeps arrival order per channel, and the ack goes out with the returned code.
   */
  async #handle(
    channelID: string,
    version: string | number,
    generation: number,
    process: (turn: DeliveryTurn) => Promise<AckCode | null>,
  ): Promise<void> {
    const flightKey = `${channelID.toLowerCase()}|${typeof version}:${version}`;
    const copies = this.#inFlight?.get(flightKey);
    if (copies) {
      this.#ctx.logger.debug("push: holding the ack of a copy of a message still being handled");
      copies.add(generation);
      return;
    }
    const generations = new Set([generation]);
    this.#inFlight ??= new Map();
    const flights = this.#inFlight;
    flights.set(flightKey, generations);
    const turn = this.#takeDeliveryTurn(channelID);
    try {
      const code = await process(turn);
      // Every socket a copy came in on hears the outcome; sends on dead sockets are dropped.
      if (code !== null) for (const g of generations) this.#ack(g, channelID, version, code);
    } catch (error) {
      // Unacked on purpose: the server re-sends it, so an unexpected failure loses nothing.
      if (this.#ctx.store()) this.#ctx.logger.error(`push: delivery failed: ${describeError(error)}`);
    } finally {
      turn.release();
      flights.delete(flightKey);
      if (flights.size === 0 && this.#inFlight === flights) this.#inFlight = null;
    }
  }

  /**
   * The steps both pipelines start with: wait until the app observes, then find a live record
   * whose site was visited. Returns the record, an ack code (102), or null when stopped.
   */
  async #admit(
    channelID: string,
  ): Promise<{ db: PushDB; record: PushRecord; lastVisit: number } | AckCode | null> {
    if (this.#ctx.bus.count("push-message") === 0) await this.#whenObserved();
    const db = this.#ctx.store();
    if (!db) return null;
    const record = await db.getByChannelID(channelID);
    if (!record || isExpired(record)) {
      this.#ctx.logger.debug("push: notification for an unknown or expired channel");
      return 102;
    }
    const visit = this.#lifecycle.lastVisit(record);
    const lastVisit = typeof visit === "number" ? visit : await visit;
    if (lastVisit === Number.NEGATIVE_INFINITY) {
      this.#ctx.logger.debug(`push: ignoring a message sent to unvisited ${record.scope}`);
      return 102;
    }
    return { db, record, lastVisit };
  }

  /** Returns the ack code, or null when nothing is to be sent. */
  async #process(
    message: WebPushNotification,
    generation: number,
    turn: DeliveryTurn,
  ): Promise<AckCode | null> {
    const admitted = await this.#admit(message.channelID);
    if (admitted === null || typeof admitted === "number") return admitted;
    const { record, lastVisit } = admitted;
    if (record.recentMessageIDs.includes(message.messageId)) {
      this.#ctx.logger.debug("push: dropping a duplicate message");
      return 102;
    }
    const data = await this.#decryptPayload(record, message);
    if (data instanceof Error) {
      this.#ctx.bus.notify("decrypt-error", {
        scope: record.scope,
        messageId: message.messageId,
        error: data,
      });
      this.#ctx.logger.warn(`push: failed to decrypt a message for ${record.scope}: ${data.message}`);
      return 101;
    }
    const permitted = this.#lifecycle.permitted(record.scope);
    if (permitted !== true && !(await permitted)) {
      this.#ctx.logger.debug(`push: no permission for ${record.scope}; not delivered`);
      return 102;
    }
    await turn.previous;
    const outcome = await this.#ctx.bus.deliver("push-message", {
      scope: record.scope,
      subscription: this.#ctx.toSubscription(record),
      messageId: message.messageId,
      data,
    });
    // The next message of the channel may go to the app while this one's write is on its way:
    // writes of messages in flight then share a store batch (one fsync for the durable store).
    // The ack still waits for this write.
    turn.release();
    if (!(await this.#recordDelivery(record.channelID, message.messageId, lastVisit))) return null;
    this.#ctx.bus.notify("push-subscription-modified", { scope: record.scope });
    this.#lifecycle.scheduleQuotaCost(record);
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
    if (!(await this.#lifecycle.permitted(record.scope))) return 102;
    await previous;
    // An update queued behind a newer one for the same channel is stale by now.
    const current = await db.getByChannelID(channelID);
    if (!current || !isNewerVersion(current, version)) return 102;
    const messageId = String(version);
    const outcome = await this.#ctx.bus.deliver("push-message", {
      scope: record.scope,
      subscription: this.#ctx.toSubscription(record),
      messageId,
      data: null,
      version,
    });
    const now = Date.now();
    const updated = await db.update(channelID, (current) =>
      isNewerVersion(current, version) ? { ...applyReceivedPush(current, lastVisit, now), version } : null,
    );
    if (updated === undefined || this.#ctx.store() === null) return null;
    this.#ctx.bus.notify("push-subscription-modified", { scope: record.scope });
    if (updated) this.#lifecycle.scheduleQuotaCost(record);
    this.#nackFailures(outcome, generation, messageId);
    return 100;
  }

  async #decryptPayload(
    record: PushRecord,
    message: WebPushNotification,
  ): Promise<PushMessageData | null | Error> {
    if (message.data === null) return null;
    if (!hasKeys(record)) return new DecryptError("BAD_CRYPTO", "The subscription has no keys");
    const turn = nextSliceIfSpent();
    if (turn) await turn;
    try {
      const plaintext = await this.#ctx.decrypt(
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
      return new DecryptError("BAD_DATA", `Bad payload: ${describeError(error)}`);
    }
  }

  /** Record the id only after the app has it: a crash before this line means a re-send, never a loss. */
  async #recordDelivery(channelID: string, messageId: string, lastVisit: number): Promise<boolean> {
    const db = this.#ctx.store();
    if (!db) return false;
    const max = this.#ctx.maxRecentMessageIDs;
    const now = Date.now();
    const updated = await db.update(channelID, (record) => ({
      ...applyReceivedPush(record, lastVisit, now),
      recentMessageIDs:
        max > 0 ? [messageId, ...record.recentMessageIDs.filter((id) => id !== messageId)].slice(0, max) : [],
    }));
    // A record unsubscribed while the app handled the message: still acked (the app got it).
    return updated !== null && this.#ctx.store() !== null;
  }

  #takeDeliveryTurn(channelID: string): DeliveryTurn {
    this.#deliveryTails ??= new Map();
    const tails = this.#deliveryTails;
    const previous = tails.get(channelID) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    tails.set(channelID, mine);
    return {
      previous,
      release: () => {
        release();
        if (tails.get(channelID) !== mine) return;
        tails.delete(channelID);
        if (tails.size === 0 && this.#deliveryTails === tails) this.#deliveryTails = null;
      },
    };
  }

  /** Messages wait, unacked, until the app observes push-message: an app that observes late loses nothing. */
  #whenObserved(): Promise<void> {
    if (this.#ctx.bus.count("push-message") > 0) return Promise.resolve();
    return new Promise((resolve) => this.#observerWaiters.push(resolve));
  }

  /** Call when a push-message observer is added: held messages go on. */
  observerAdded(): void {
    const waiters = this.#observerWaiters;
    this.#observerWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #ack(generation: number, channelID: string, version: string | number, code: AckCode): void {
    this.#ctx.send(generation, ackFrame(channelID, version, code));
  }

  #nackFailures(outcome: DeliveryOutcome, generation: number, messageId: string): void {
    if (outcome.threw.length > 0) this.#nack(generation, messageId, 301);
    else if (outcome.rejected.length > 0) this.#nack(generation, messageId, 302);
  }

  #nack(generation: number, messageId: string, code: 301 | 302): void {
    this.#ctx.send(generation, nackFrame(messageId, code));
  }
}

/**
 * Decryption work of one turn of the event loop, across every PushService of the process, stops
 * after SLICE_MS; the rest waits for the next turn. On the synchronous backend a message's ECDH
 * runs right where it arrives, so 2,000 services reconnecting at once (the soak test) handed one
 * poll phase 4,000 ECDHs, and the event loop stood still for 1.8 s: no timer, no other socket.
 */
const SLICE_MS = 10;
const nextTick: (callback: () => void) => void =
  typeof setImmediate === "function" ? setImmediate : (callback) => setTimeout(callback, 0);
let sliceOpen = false;
let sliceStart = 0;
let nextSlice: Promise<void> | null = null;

function nextSliceIfSpent(): Promise<void> | null {
  const now = performance.now();
  if (!sliceOpen) {
    sliceOpen = true;
    sliceStart = now;
    nextTick(() => {
      sliceOpen = false;
    });
    return null;
  }
  if (now - sliceStart < SLICE_MS) return null;
  nextSlice ??= new Promise((resolve) =>
    nextTick(() => {
      nextSlice = null;
      sliceOpen = false;
      resolve();
    }),
  );
  return nextSlice;
}

function isNewerVersion(record: PushRecord, version: number): boolean {
  return record.version === null || record.version < version;
}
