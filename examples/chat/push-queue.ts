/**
 * The background push sender. A request handler only calls announce(latestId) and returns; one
 * worker sends the pushes, so a slow or unreachable push service never slows down posting a
 * message. Subscriptions the push service calls gone (404, 410) are removed.
 *
 * The queue holds at most one job: a push only says "there is news up to id N", so a newer job
 * supersedes an older one that has not started yet. A burst of messages costs one round of pushes.
 */

import type { Logger } from "push-agent";
import { sendPush } from "push-agent/server";
import { describeError, type PushHint, shortEndpoint } from "./shared.ts";
import type { ChatStore, Subscriber } from "./store.ts";

export interface VapidDetails {
  /** A mailto: or https: contact for the push service's operators. */
  subject: string;
  publicKey: string;
  privateKey: string;
}

export interface PushQueueOptions {
  store: ChatStore;
  vapid: VapidDetails;
  /** Seconds the push service keeps a push for an offline client. */
  ttl: number;
  /** ms before one push request is given up. */
  requestTimeout: number;
  logger: Logger;
}

export interface PushQueueStats {
  /** Pushes the push service accepted. */
  sent: number;
  /** Pushes refused for another reason, or not answered. */
  failed: number;
  /** Subscriptions removed after a 404 or 410. */
  pruned: number;
}

/** Pushes in flight at once during one round. */
const CONCURRENCY = 8;
/**
 * One topic for every push: while a client is offline its push service keeps only the newest
 * push with a given topic, which is all a hint-carrying push needs.
 */
const TOPIC = "chat";

export class PushQueue {
  readonly #options: PushQueueOptions;
  readonly stats: PushQueueStats = { sent: 0, failed: 0, pruned: 0 };
  #pending: number | null = null;
  #worker: Promise<void> | null = null;
  #stopped = false;

  constructor(options: PushQueueOptions) {
    this.#options = options;
  }

  /** Tell every subscriber, soon, that messages up to `latest` exist. */
  announce(latest: number): void {
    if (this.#stopped) return;
    this.#pending = Math.max(latest, this.#pending ?? 0);
    this.#worker ??= this.#run().finally(() => {
      this.#worker = null;
    });
  }

  /** Resolves when no job is pending or running. */
  async idle(): Promise<void> {
    while (this.#worker) await this.#worker;
  }

  /** Refuse new jobs, finish the queued one. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.idle();
  }

  async #run(): Promise<void> {
    while (this.#pending !== null) {
      const latest = this.#pending;
      this.#pending = null;
      await this.#pushToAll({ latest });
    }
  }

  async #pushToAll(hint: PushHint): Promise<void> {
    const payload = JSON.stringify(hint);
    const targets = this.#options.store.subscribers();
    let next = 0;
    const lane = async () => {
      while (next < targets.length) await this.#push(targets[next++]!, payload);
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, targets.length) }, lane));
  }

  async #push(subscriber: Subscriber, payload: string): Promise<void> {
    const { endpoint } = subscriber.subscription;
    let status: number;
    try {
      status = await this.#send(subscriber, payload);
    } catch (error) {
      this.stats.failed++;
      this.#options.logger.warn(`chat: push to ${shortEndpoint(endpoint)} failed: ${describeError(error)}`);
      return;
    }
    if (status >= 200 && status < 300) {
      this.stats.sent++;
      return;
    }
    if (status === 404 || status === 410) {
      // The subscription is gone for good (unsubscribed, expired, app uninstalled): stop pushing to it.
      this.stats.pruned++;
      this.#options.store.removeSubscriber(endpoint);
      this.#options.logger.info(`chat: removed ${subscriber.nickname}'s subscription (${status})`);
      return;
    }
    this.stats.failed++;
    this.#options.logger.warn(`chat: push to ${shortEndpoint(endpoint)} answered ${status}`);
  }

  /** Encrypted for the subscriber, VAPID-signed, collapsible by topic (push-agent/server's sendPush). */
  async #send(subscriber: Subscriber, payload: string): Promise<number> {
    const { vapid, ttl, requestTimeout } = this.#options;
    const result = await sendPush(subscriber.subscription, payload, {
      TTL: ttl,
      topic: TOPIC,
      urgency: "normal",
      vapidDetails: vapid,
      signal: AbortSignal.timeout(requestTimeout),
    });
    return result.statusCode;
  }
}
