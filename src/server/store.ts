/**
 * The datastore (what Bigtable is to autopush): user records with their channels, the storage
 * read pointer, and stored notifications, served from memory. Topic messages live in one slot
 * per (channel, topic); timestamp messages are kept in sortkey order, and sortkeys come from one
 * monotonic clock, so insertion order is delivery order. With a journal (`--state`), every change
 * is also handed to it, in order, so the state can be rebuilt after a restart. A journal that
 * cannot write says so (`failure`); a save it could not keep is taken back with `unsave`.
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

/** Where a durable store writes each change; `restore` feeds the result back after a restart. */
export interface StoreJournal {
  putUser(uaid: string, currentTimestamp: number): void;
  /** The whole user: its record, channels and messages. */
  deleteUser(user: UserRecord): void;
  putChannel(uaid: string, chid: string): void;
  deleteChannel(uaid: string, chid: string): void;
  putMessage(uaid: string, n: Notification): void;
  deleteMessage(uaid: string, n: Notification): void;
  /**
   * Resolves once every change handed over so far is durable; rejects with a StateWriteError
   * when the write that carried them failed, or while writes are failing.
   */
  flushed(): Promise<void>;
  /** Set while the disk refuses writes (from the first failed write until one succeeds again). */
  readonly failure: StateWriteError | undefined;
}

/** The durable state refused a write. `code` is the errno name (ENOSPC, EIO, ...) when known. */
export class StateWriteError extends Error {
  override name = "StateWriteError";
  constructor(
    readonly code: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`the server could not write its state (${code}: ${reason})`, options);
  }
}

/** What a save pushed out to make its place: the unread topic message it replaced, or the oldest one. */
export interface Saved {
  displaced: Notification | undefined;
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
  readonly #journal: StoreJournal | undefined;

  constructor(maxPerUser: number, logger: Logger, journal?: StoreJournal) {
    this.#maxPerUser = maxPerUser;
    this.#logger = logger;
    this.#journal = journal;
  }

  /** Whether changes outlive the process (a journal is attached). */
  get durable(): boolean {
    return this.#journal !== undefined;
  }

  /** Resolves once every change so far is durable (at once without a journal). */
  flushed(): Promise<void> {
    return this.#journal?.flushed() ?? Promise.resolve();
  }

  /** Why writes are failing, while they are; a change made now would not be kept. */
  get failure(): StateWriteError | undefined {
    return this.#journal?.failure;
  }

  /** Put back users read from a journal; nothing is journalled again. */
  restore(users: Iterable<UserRecord>): void {
    for (const user of users) this.#users.set(user.uaid, user);
  }

  /** The highest sortkey stored, so a restarted clock never reuses one. */
  highestSortkey(): number {
    let highest = 0;
    for (const user of this.#users.values()) {
      highest = Math.max(highest, user.currentTimestamp);
      for (const n of user.timestampMessages.values()) highest = Math.max(highest, n.sortkey);
    }
    return highest;
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
    this.#journal?.putUser(uaid, 0);
    return user;
  }

  /** True when the channel is new (false: it was registered already). */
  addChannel(uaid: string, chid: string): boolean {
    const user = this.addUser(uaid);
    if (user.channels.has(chid)) return false;
    user.channels.add(chid);
    this.#journal?.putChannel(uaid, chid);
    return true;
  }

  removeUser(uaid: string): void {
    const user = this.#users.get(uaid);
    if (!user) return;
    this.#users.delete(uaid);
    this.#journal?.deleteUser(user);
  }

  /** Drops the channel and whatever is stored for it, so nothing is delivered for a dead subscription. */
  removeChannel(uaid: string, chid: string): void {
    const user = this.#users.get(uaid);
    if (!user?.channels.delete(chid)) return;
    this.#journal?.deleteChannel(uaid, chid);
    for (const map of messageMaps(user)) {
      for (const [key, n] of map) if (n.chid === chid) this.#delete(user, map, key, n);
    }
  }

  /** Store a notification (undefined: no such channel); a topic message replaces the unread one with the same topic. */
  save(uaid: string, n: Notification): Saved | undefined {
    const user = this.#users.get(uaid);
    if (!user?.channels.has(n.chid)) return undefined;
    if (n.topic !== undefined) {
      const key = topicKey(n.chid, n.topic);
      const replaced = user.topicMessages.get(key);
      if (replaced) user.topicMessages.delete(key);
      const displaced = replaced ?? this.#makeRoom(user);
      user.topicMessages.set(key, n);
      this.#journal?.putMessage(uaid, n);
      return { displaced };
    }
    const displaced = this.#makeRoom(user);
    user.timestampMessages.set(n.sortkey, n);
    this.#journal?.putMessage(uaid, n);
    return { displaced };
  }

  /**
   * Take back a save the journal could not keep (its push was refused): the message goes, and
   * what it displaced comes back unless something newer took its place meanwhile.
   */
  unsave(uaid: string, n: Notification, saved: Saved): void {
    const user = this.#users.get(uaid);
    if (!user) return;
    if (n.topic !== undefined) this.removeTopicMessage(uaid, n.chid, n.topic, n.version);
    else this.removeTimestampMessage(uaid, n.version);
    const back = saved.displaced;
    if (!back || !user.channels.has(back.chid)) return;
    if (back.topic !== undefined) {
      const key = topicKey(back.chid, back.topic);
      if (user.topicMessages.has(key)) return;
      user.topicMessages.set(key, back);
    } else {
      if (back.sortkey <= user.currentTimestamp || user.timestampMessages.has(back.sortkey)) return;
      // Reads rely on insertion order being sortkey order.
      const entries = [...user.timestampMessages, [back.sortkey, back] as const];
      user.timestampMessages = new Map(entries.sort(([a], [b]) => a - b));
    }
    this.#journal?.putMessage(uaid, back);
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
    if (n && (version === undefined || n.version === version)) this.#delete(user, user.topicMessages, key, n);
  }

  removeTimestampMessage(uaid: string, version: string): void {
    const user = this.#users.get(uaid);
    if (!user) return;
    for (const [key, n] of user.timestampMessages) {
      if (n.version === version) this.#delete(user, user.timestampMessages, key, n);
    }
  }

  /** Move the read pointer past an acked batch; what lies behind it is never read again. */
  incrementStorage(uaid: string, sortkey: number): void {
    const user = this.#users.get(uaid);
    if (!user || sortkey <= user.currentTimestamp) return;
    user.currentTimestamp = sortkey;
    this.#journal?.putUser(uaid, sortkey);
    for (const [key, n] of user.timestampMessages) {
      if (n.sortkey > sortkey) break;
      this.#delete(user, user.timestampMessages, key, n);
    }
  }

  /** Periodic clean-up so messages for users who never come back do not pile up. */
  sweepExpired(nowSec: number): number {
    let removed = 0;
    for (const user of this.#users.values()) {
      for (const map of messageMaps(user)) {
        for (const [key, n] of map) {
          if (!isExpired(n, nowSec)) continue;
          this.#delete(user, map, key, n);
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

  /** Forget what is in memory (at close); a journal keeps its copy. */
  clear(): void {
    this.#users.clear();
  }

  #delete<K>(user: UserRecord, map: Map<K, Notification>, key: K, n: Notification): void {
    map.delete(key);
    this.#journal?.deleteMessage(user.uaid, n);
  }

  /** Drops the oldest message when the user is at the cap, and returns it. */
  #makeRoom(user: UserRecord): Notification | undefined {
    if (user.topicMessages.size + user.timestampMessages.size < this.#maxPerUser) return undefined;
    let dropped: Notification;
    const oldest = user.timestampMessages.entries().next();
    if (!oldest.done) {
      dropped = oldest.value[1];
      this.#delete(user, user.timestampMessages, oldest.value[0], dropped);
    } else {
      const [key, n] = user.topicMessages.entries().next().value as [string, Notification];
      dropped = n;
      this.#delete(user, user.topicMessages, key, n);
    }
    this.#logger.warn(
      `push-server: storage full for uaid ${user.uaid.slice(0, 8)}…, dropped the oldest message`,
    );
    return dropped;
  }
}

function messageMaps(user: UserRecord): Map<unknown, Notification>[] {
  return [user.topicMessages, user.timestampMessages] as Map<unknown, Notification>[];
}

export function topicKey(chid: string, topic: string): string {
  return `${chid}:${topic}`;
}
