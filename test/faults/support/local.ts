/**
 * Shared pieces for faults run against the local push server: a VAPID key, a sender over http,
 * an app-side inbox that counts deliveries per payload, and event-driven waits.
 */

import webpush from "web-push";
import type { PushMessageEvent } from "../../../src/observers.ts";
import { sendPush } from "../../../src/sender/send.ts";
import type { PushServer } from "../../../src/server/index.ts";
import type { PushService } from "../../../src/service/push-service.ts";

const keys = webpush.generateVAPIDKeys();
export const vapidPublicKey = keys.publicKey;
export const vapidDetails = {
  subject: "mailto:faults@example.com",
  publicKey: keys.publicKey,
  privateKey: keys.privateKey,
};

export interface SubscriptionLike {
  toJSON(): unknown;
}

/** Send one push through the local server's HTTP endpoint; throws unless it was accepted (201). */
export async function send(
  subscription: SubscriptionLike,
  payload: string | null,
  options: { encoding?: "aes128gcm" | "aesgcm"; vapid?: boolean } = {},
): Promise<string> {
  const result = await sendPush(subscription.toJSON() as Parameters<typeof sendPush>[0], payload, {
    TTL: 3600,
    contentEncoding: options.encoding ?? "aes128gcm",
    ...(options.vapid === false ? {} : { vapidDetails }),
  });
  if (result.statusCode !== 201) throw new Error(`push refused: ${result.statusCode} ${result.body}`);
  return result.location?.split("/m/")[1] ?? "";
}

/** What the app saw: every push-message, counted per payload (or message id when data-less). */
export class Inbox {
  readonly events: PushMessageEvent[] = [];
  readonly counts = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  constructor(service: PushService, onMessage?: (event: PushMessageEvent, inbox: Inbox) => unknown) {
    service.observe("push-message", (event) => {
      this.events.push(event);
      const key = keyOf(event);
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      for (const wake of [...this.#waiters]) wake();
      return onMessage?.(event, this);
    });
  }

  get total(): number {
    return this.events.length;
  }

  get distinct(): number {
    return this.counts.size;
  }

  get duplicates(): number {
    let extra = 0;
    for (const count of this.counts.values()) extra += count - 1;
    return extra;
  }

  has(key: string): boolean {
    return this.counts.has(key);
  }

  /** Resolves once `condition` holds (checked now and after every delivery). */
  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        if (!condition()) return;
        this.#waiters.delete(wake);
        resolve();
      };
      this.#waiters.add(wake);
    });
  }

  /** Resolves once every key in `keys` was delivered at least once. */
  all(keys: readonly string[]): Promise<void> {
    return this.until(() => keys.every((key) => this.counts.has(key)));
  }
}

export function keyOf(event: PushMessageEvent): string {
  return event.data ? event.data.text() : `id:${event.messageId}`;
}

/** Resolves once `condition` holds, checking every `interval` ms; rejects after `timeout`. */
export async function waitFor(condition: () => boolean, what: string, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Every message the server holds has been acked (nothing stored, no connection owes an ack). */
export function storedMessages(server: PushServer): number {
  return server.stats().storedMessages;
}

/** Resolves on the service's next transition to `state`. */
export function nextState(service: PushService, state: string): Promise<void> {
  return new Promise((resolve) => {
    const dispose = service.observe("state-change", (event) => {
      if (event.state !== state) return;
      dispose();
      resolve();
    });
  });
}
