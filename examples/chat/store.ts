/**
 * The chat app server's state: the latest MAX_MESSAGES messages with increasing ids, and the
 * push subscriptions keyed by endpoint. It lives in memory; given a file, every change is also
 * written there (atomically, coalesced while a write is in flight) and read back at start.
 */

import type { Logger } from "push-agent";
import { readJSONFile, writeJSONFileAtomic } from "./json-file.ts";
import { type ChatMessage, describeError, isMessage, isNickname, MAX_MESSAGES } from "./shared.ts";

/** What a client posts: PushSubscription.toJSON(), the shape `web-push` sends to. */
export interface SubscriptionJSON {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface Subscriber {
  nickname: string;
  subscription: SubscriptionJSON;
}

interface Snapshot {
  nextId: number;
  messages: ChatMessage[];
  subscribers: Subscriber[];
}

export class ChatStore {
  #nextId = 1;
  #messages: ChatMessage[] = [];
  readonly #subscribers = new Map<string, Subscriber>();
  readonly #file: string | undefined;
  readonly #logger: Logger;
  #dirty = false;
  #saving: Promise<void> | null = null;

  private constructor(file: string | undefined, logger: Logger) {
    this.#file = file;
    this.#logger = logger;
  }

  static async open(file: string | undefined, logger: Logger): Promise<ChatStore> {
    const store = new ChatStore(file, logger);
    if (file) store.#load(file, await readJSONFile(file));
    return store;
  }

  /** The newest id handed out; 0 before the first message. */
  get latest(): number {
    return this.#nextId - 1;
  }

  get messageCount(): number {
    return this.#messages.length;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  addMessage(from: string, text: string): ChatMessage {
    const message = { id: this.#nextId++, from, text, at: Date.now() };
    this.#messages.push(message);
    if (this.#messages.length > MAX_MESSAGES) this.#messages.splice(0, this.#messages.length - MAX_MESSAGES);
    this.#save();
    return message;
  }

  /** Oldest first. Messages older than the kept window are gone: a client that was away long sees the latest. */
  messagesAfter(after: number): ChatMessage[] {
    return this.#messages.filter((message) => message.id > after);
  }

  /** Insert or replace by endpoint; true when the endpoint was new. */
  putSubscriber(subscriber: Subscriber): boolean {
    const isNew = !this.#subscribers.has(subscriber.subscription.endpoint);
    this.#subscribers.set(subscriber.subscription.endpoint, subscriber);
    this.#save();
    return isNew;
  }

  removeSubscriber(endpoint: string): boolean {
    const removed = this.#subscribers.delete(endpoint);
    if (removed) this.#save();
    return removed;
  }

  /** A copy: the push queue walks it while requests add and remove subscribers. */
  subscribers(): Subscriber[] {
    return [...this.#subscribers.values()];
  }

  /** Resolves once every change made so far is on disk. */
  async flush(): Promise<void> {
    while (this.#saving) await this.#saving;
  }

  #save(): void {
    if (!this.#file) return;
    this.#dirty = true;
    this.#saving ??= this.#writeLoop(this.#file).finally(() => {
      this.#saving = null;
    });
  }

  /** One write at a time; changes made meanwhile go out together in the next one. */
  async #writeLoop(file: string): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      const snapshot: Snapshot = {
        nextId: this.#nextId,
        messages: this.#messages,
        subscribers: this.subscribers(),
      };
      try {
        await writeJSONFileAtomic(file, snapshot);
      } catch (error) {
        this.#logger.error(`chat: saving ${file} failed: ${describeError(error)}`);
      }
    }
  }

  #load(file: string, value: unknown): void {
    if (value === undefined) return;
    const snapshot = value as Partial<Snapshot> | null;
    const valid =
      Number.isSafeInteger(snapshot?.nextId) &&
      Array.isArray(snapshot?.messages) &&
      snapshot.messages.every(isMessage) &&
      Array.isArray(snapshot.subscribers) &&
      snapshot.subscribers.every(isSubscriber);
    if (!valid) throw new Error(`${file} is not a chat store`);
    this.#messages = snapshot.messages!.slice(-MAX_MESSAGES);
    // Ids are never reused, even if the file was edited by hand.
    this.#nextId = Math.max(snapshot.nextId!, (this.#messages.at(-1)?.id ?? 0) + 1);
    for (const subscriber of snapshot.subscribers!) {
      this.#subscribers.set(subscriber.subscription.endpoint, subscriber);
    }
  }
}

/** Checks the shape a client posts; the caller turns false into a 400. */
export function isSubscriber(value: unknown): value is Subscriber {
  const subscriber = value as Partial<Subscriber> | null;
  return isNickname(subscriber?.nickname) && isSubscription(subscriber.subscription);
}

function isSubscription(value: unknown): value is SubscriptionJSON {
  const subscription = value as Partial<SubscriptionJSON> | null;
  if (typeof subscription?.endpoint !== "string" || !isHttpURL(subscription.endpoint)) return false;
  const keys = subscription.keys;
  return isKey(keys?.p256dh, 65) && isKey(keys?.auth, 16);
}

function isHttpURL(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** A base64url string decoding to exactly `length` bytes: `web-push` cannot encrypt to anything else. */
function isKey(value: unknown, length: number): boolean {
  return (
    typeof value === "string" &&
    /^[A-Za-z0-9_-]+$/.test(value) &&
    Buffer.from(value, "base64url").length === length
  );
}
