/**
 * The in-memory datastore (what Bigtable is to autopush): user records with their channels, the
 * storage read pointer, and stored notifications. Topic messages live in one slot per
 * (channel, topic); timestamp messages are kept in sortkey order, and sortkeys come from one
 * monotonic clock, so insertion order is delivery order.
 */

import type { Logger } from "../log.ts";

/** A notification as routed and stored; `chid` is 32 hex, `data` unpadded base64url. */
export interface Notification {
  chid: string;
  version: string;
  ttl: number;
  topic?: string;
  /** Seconds since the epoch, for expiry. */
  timestamp: number;
  /** Milliseconds since the epoch, unique and increasing: ordering and the read pointer. */
  sortkey: number;
  data?: string;
  headers?: Record<string, string>;
}

export interface UserRecord {
  uaid: string;
  channels: Set<string>;
  /** Timestamp messages with a sortkey at or below this were delivered and acked. */
  currentTimestamp: number;
  topicMessages: Map<string, Notification>;
  timestampMessages: Map<number, Notification>;
}

export const TOPIC_BATCH = 11;
export const TIMESTAMP_BATCH = 10;

export function isExpired(n: Notification, nowSec: number): boolean {
  return nowSec >= n.timestamp + n.ttl;
}

export class MemoryStore {
  readonly #users = new Map<string, UserRecord>();
  readonly #maxPerUser: number;
  readonly #logger: Logger;

  constructor(maxPerUser: number, logger: Logger) {
    this.#maxPerUser = maxPerUser;
    this.#logger = logger;
  }

  getUser(uaid: string): UserRecord | undefined {
    return this.#users.get(uaid);
  }

  addUser(uaid: string): UserRecord {
    const existing = this.#users.get(uaid);
    if (existing) return existing;
    const user: UserRecord = {
      uaid,
      channels: new Set(),
      currentTimestamp: 0,
      topicMessages: new Map(),
      timestampMessages: new Map(),
    };
    this.#users.set(uaid, user);
    return user;
  }

  removeUser(uaid: string): void {
    this.#users.delete(uaid);
  }

  /** Drops the channel and whatever is stored for it, so nothing is delivered for a dead subscription. */
  removeChannel(uaid: string, chid: string): void {
    const user = this.#users.get(uaid);
    if (!user) return;
    user.channels.delete(chid);
    for (const [key, n] of user.topicMessages) if (n.chid === chid) user.topicMessages.delete(key);
    for (const [key, n] of user.timestampMessages) if (n.chid === chid) user.timestampMessages.delete(key);
  }

  /** Store a notification; a topic message replaces the unread one with the same topic. */
  save(uaid: string, n: Notification): boolean {
    const user = this.#users.get(uaid);
    if (!user?.channels.has(n.chid)) return false;
    if (n.topic !== undefined) {
      const key = topicKey(n.chid, n.topic);
      const replacing = user.topicMessages.delete(key);
      if (!replacing) this.#makeRoom(user);
      user.topicMessages.set(key, n);
      return true;
    }
    this.#makeRoom(user);
    user.timestampMessages.set(n.sortkey, n);
    return true;
  }

  fetchTopicMessages(uaid: string): Notification[] {
    const user = this.#users.get(uaid);
    if (!user) return [];
    return [...user.topicMessages.values()].slice(0, TOPIC_BATCH);
  }

  /** The next batch of timestamp messages with a sortkey after `after` (default: the read pointer). */
  fetchTimestampMessages(uaid: string, after?: number): Notification[] {
    const user = this.#users.get(uaid);
    if (!user) return [];
    const from = after ?? user.currentTimestamp;
    const batch: Notification[] = [];
    for (const n of user.timestampMessages.values()) {
      if (n.sortkey <= from) continue;
      batch.push(n);
      if (batch.length === TIMESTAMP_BATCH) break;
    }
    return batch;
  }

  /** Delete a topic message, only if the slot still holds that version (a newer one may have replaced it). */
  removeTopicMessage(uaid: string, chid: string, topic: string, version?: string): void {
    const user = this.#users.get(uaid);
    if (!user) return;
    const key = topicKey(chid, topic);
    const n = user.topicMessages.get(key);
    if (n && (version === undefined || n.version === version)) user.topicMessages.delete(key);
  }

  removeTimestampMessage(uaid: string, version: string): void {
    const user = this.#users.get(uaid);
    if (!user) return;
    for (const [key, n] of user.timestampMessages) {
      if (n.version === version) user.timestampMessages.delete(key);
    }
  }

  /** Move the read pointer past an acked batch; what lies behind it is never read again. */
  incrementStorage(uaid: string, sortkey: number): void {
    const user = this.#users.get(uaid);
    if (!user || sortkey <= user.currentTimestamp) return;
    user.currentTimestamp = sortkey;
    for (const [key, n] of user.timestampMessages) {
      if (n.sortkey > sortkey) break;
      user.timestampMessages.delete(key);
    }
  }

  /** Periodic clean-up so messages for users who never come back do not pile up. */
  sweepExpired(nowSec: number): number {
    let removed = 0;
    for (const user of this.#users.values()) {
      for (const map of [user.topicMessages, user.timestampMessages] as Map<unknown, Notification>[]) {
        for (const [key, n] of map) {
          if (!isExpired(n, nowSec)) continue;
          map.delete(key);
          removed++;
        }
      }
    }
    return removed;
  }

  counts(): { users: number; channels: number; storedMessages: number } {
    let channels = 0;
    let storedMessages = 0;
    for (const user of this.#users.values()) {
      channels += user.channels.size;
      storedMessages += user.topicMessages.size + user.timestampMessages.size;
    }
    return { users: this.#users.size, channels, storedMessages };
  }

  clear(): void {
    this.#users.clear();
  }

  #makeRoom(user: UserRecord): void {
    if (user.topicMessages.size + user.timestampMessages.size < this.#maxPerUser) return;
    const oldest = user.timestampMessages.keys().next();
    if (!oldest.done) user.timestampMessages.delete(oldest.value);
    else user.topicMessages.delete(user.topicMessages.keys().next().value as string);
    this.#logger.warn(
      `push-server: storage full for uaid ${user.uaid.slice(0, 8)}…, dropped the oldest message`,
    );
  }
}

function topicKey(chid: string, topic: string): string {
  return `${chid}:${topic}`;
}
