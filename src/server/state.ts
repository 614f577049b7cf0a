/**
 * Where the server's state lives: in memory only (the default), or also in a LevelDB directory
 * (`state` option, `push-agent serve --state DIR`) so uaids, channels, stored messages, broadcast
 * versions and the key that seals endpoint tokens survive a restart. The store keeps serving
 * from memory; every change goes to LevelDB in order, grouped into one batch per turn.
 *
 * Keys: `u!<uaid>` → read pointer, `c!<uaid>!<chid>`, `s!<uaid>!<sortkey, 16 digits>` and
 * `t!<uaid>!<chid>:<topic>` → a notification, `b!<id>` → broadcast version, `key` → the token
 * secret (hex). Every value is JSON. The directory is private: 0700, its files 0600.
 */

import { randomBytes } from "node:crypto";
import type { ClassicLevel } from "classic-level";
import { makeFilesPrivate, makePrivateDir } from "../db/private-dir.ts";
import type { Logger } from "../log.ts";
import { BroadcastRegistry } from "./broadcasts.ts";
import type { ResolvedOptions } from "./options.ts";
import {
  MemoryStore,
  type Notification,
  StateWriteError,
  type StoreJournal,
  topicKey,
  type UserRecord,
} from "./store.ts";
import { TokenCodec } from "./tokens.ts";

export interface ServerState {
  store: MemoryStore;
  codec: TokenCodec;
  broadcasts: BroadcastRegistry;
  /** Waits for pending writes, then releases the directory. */
  close(): Promise<void>;
}

type Level = ClassicLevel<string, string>;
type Op = { type: "put"; key: string; value: string } | { type: "del"; key: string };

const KEY_SECRET = "key";
const SORTKEY_DIGITS = 16;

export async function openServerState(opts: ResolvedOptions): Promise<ServerState> {
  if (opts.state === undefined) {
    const store = new MemoryStore(opts.maxStoredPerUser, opts.logger);
    return {
      store,
      codec: new TokenCodec(opts.cryptoKey),
      broadcasts: new BroadcastRegistry(opts.broadcasts),
      close: async () => store.clear(),
    };
  }
  return openLevelState(opts.state, opts);
}

async function openLevelState(location: string, opts: ResolvedOptions): Promise<ServerState> {
  const db = await openLevel(location);
  try {
    const loaded = await load(db);
    const journal = new LevelJournal(db, () => openLevel(location), opts.logger, opts.stateRetryInterval);
    const store = new MemoryStore(opts.maxStoredPerUser, opts.logger, journal);
    store.restore(loaded.users.values());
    // Stored versions first; versions configured at start win, so a config change takes effect.
    const broadcasts = new BroadcastRegistry({ ...loaded.broadcasts, ...opts.broadcasts });
    for (const [id, version] of Object.entries(opts.broadcasts)) journal.putBroadcast(id, version);
    broadcasts.onChange((changed) => {
      for (const [id, version] of changed) journal.putBroadcast(id, version);
    });
    const secret = opts.cryptoKey ?? loaded.secret ?? journal.putSecret(randomBytes(32));
    opts.logger.info(
      `push-server: state in ${location}: ${loaded.users.size} uaids, ${store.counts().storedMessages} stored messages`,
    );
    return {
      store,
      codec: new TokenCodec(secret),
      broadcasts,
      close: async () => {
        await journal.close();
        store.clear();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

async function openLevel(location: string): Promise<Level> {
  // It holds the token secret: whoever reads it can mint endpoints.
  await makePrivateDir(location);
  // Loaded on demand: the native binding is only needed when the state is kept on disk.
  const { ClassicLevel } = await import("classic-level");
  const db: Level = new ClassicLevel<string, string>(location, {
    keyEncoding: "utf8",
    valueEncoding: "utf8",
  });
  try {
    await db.open();
  } catch (err) {
    const locked = JSON.stringify([code(err), code((err as Error).cause)]).includes("LEVEL_LOCKED");
    throw new Error(
      locked
        ? `push server state ${location} is in use by another process`
        : `cannot open push server state ${location}: ${(((err as Error).cause as Error) ?? err).message}`,
      { cause: err },
    );
  }
  await makeFilesPrivate(location);
  return db;
}

function code(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Changes go to LevelDB newest-per-key, one batch at a time; what piles up while a batch is
 * written goes in the next (a batch is atomic, so only a key's last value matters).
 *
 * A failed batch puts the journal in a failing state: its changes are kept, every waiter gets
 * the StateWriteError, and the handle is never written to again, because LevelDB may have left
 * half a record in its log and a record appended after that one can vanish on the next open.
 * Every `retryInterval` the journal reopens the directory (which replays the log up to the last
 * whole record) and writes what it kept; the first success ends the failing state.
 */
class LevelJournal implements StoreJournal {
  #db: Level | undefined;
  readonly #reopen: () => Promise<Level>;
  readonly #logger: Logger;
  readonly #retryInterval: number;
  /** Changes not yet on disk, newest per key (undefined: delete). */
  #pending = new Map<string, string | undefined>();
  #pendingWaiters: Waiter[] = [];
  #inflightWaiters: Waiter[] = [];
  #writing: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  #failure: StateWriteError | undefined;
  #failedAt = 0;
  /** Causes already logged in this failing spell: each is logged once. */
  readonly #logged = new Set<string>();
  #retryTimer: NodeJS.Timeout | undefined;
  #recovering: Promise<void> | undefined;

  constructor(db: Level, reopen: () => Promise<Level>, logger: Logger, retryInterval: number) {
    this.#db = db;
    this.#reopen = reopen;
    this.#logger = logger;
    this.#retryInterval = retryInterval;
  }

  get failure(): StateWriteError | undefined {
    return this.#failure;
  }

  putUser(uaid: string, currentTimestamp: number): void {
    this.#put(`u!${uaid}`, currentTimestamp);
  }

  deleteUser(user: UserRecord): void {
    this.#set(`u!${user.uaid}`, undefined);
    for (const chid of user.channels) this.deleteChannel(user.uaid, chid);
    for (const n of user.topicMessages.values()) this.deleteMessage(user.uaid, n);
    for (const n of user.timestampMessages.values()) this.deleteMessage(user.uaid, n);
  }

  putChannel(uaid: string, chid: string): void {
    this.#put(`c!${uaid}!${chid}`, 1);
  }

  deleteChannel(uaid: string, chid: string): void {
    this.#set(`c!${uaid}!${chid}`, undefined);
  }

  putMessage(uaid: string, n: Notification): void {
    this.#put(messageKey(uaid, n), n);
  }

  deleteMessage(uaid: string, n: Notification): void {
    this.#set(messageKey(uaid, n), undefined);
  }

  putBroadcast(id: string, version: string): void {
    this.#put(`b!${id}`, version);
  }

  putSecret(secret: Buffer): Buffer {
    this.#put(KEY_SECRET, secret.toString("hex"));
    return secret;
  }

  flushed(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending.size > 0) return waitOn(this.#pendingWaiters);
    if (this.#writing) return waitOn(this.#inflightWaiters);
    return Promise.resolve();
  }

  /** Write what is queued, then release the directory; what a failing disk never took is reported. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#writing;
    await this.#recovering;
    if (this.#pending.size > 0) {
      this.#logger.error(
        `push-server: ${this.#pending.size} state changes never reached the disk (${this.#failure?.code ?? "closed"}); a restart will not see them`,
      );
    }
    await this.#db?.close();
    this.#db = undefined;
  }

  #put(key: string, value: unknown): void {
    this.#set(key, JSON.stringify(value));
  }

  #set(key: string, value: string | undefined): void {
    if (this.#closed) return;
    this.#pending.set(key, value);
    if (this.#scheduled || this.#writing || this.#failure) return;
    // Changes made in the same turn share the batch.
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#writing ??= this.#drain().finally(() => {
        this.#writing = undefined;
      });
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0 && !this.#failure && this.#db) {
      const changes = this.#pending;
      const waiters = this.#pendingWaiters;
      this.#pending = new Map();
      this.#pendingWaiters = [];
      this.#inflightWaiters = waiters;
      try {
        await this.#db.batch(toOps(changes));
      } catch (err) {
        this.#keep(changes);
        this.#fail(err, [...waiters, ...this.#pendingWaiters.splice(0)]);
        return;
      } finally {
        this.#inflightWaiters = [];
      }
      for (const waiter of waiters) waiter.resolve();
    }
  }

  /** Put changes that did not reach the disk back under anything newer. */
  #keep(changes: Map<string, string | undefined>): void {
    for (const [key, value] of this.#pending) changes.set(key, value);
    this.#pending = changes;
  }

  #fail(err: unknown, waiters: Waiter[]): void {
    const failure = stateWriteError(err);
    if (!this.#failure) this.#failedAt = Date.now();
    this.#failure = failure;
    if (!this.#logged.has(failure.code)) {
      this.#logged.add(failure.code);
      this.#logger.error(
        `push-server: writing state failed (${failure.code}: ${errorText(err)}); stored pushes get 503 and registrations status 500 until a write succeeds, retrying every ${this.#retryInterval} ms`,
      );
    }
    for (const waiter of waiters) waiter.reject(failure);
    this.#scheduleRecovery();
  }

  #scheduleRecovery(): void {
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#recovering = this.#recover().finally(() => {
        this.#recovering = undefined;
      });
    }, this.#retryInterval);
    this.#retryTimer.unref();
  }

  async #recover(): Promise<void> {
    const changes = this.#pending;
    this.#pending = new Map();
    const waiters = this.#pendingWaiters.splice(0);
    try {
      const failed = this.#db;
      this.#db = undefined;
      // A handle that failed may fail to close as well; its lock goes with it either way.
      await failed?.close().catch(() => {});
      this.#db = await this.#reopen();
      await this.#db.batch(toOps(changes));
    } catch (err) {
      this.#keep(changes);
      this.#fail(err, waiters);
      return;
    }
    const seconds = ((Date.now() - this.#failedAt) / 1000).toFixed(1);
    this.#failure = undefined;
    this.#logged.clear();
    this.#logger.info(
      `push-server: writing state works again after ${seconds} s (${changes.size} kept changes written)`,
    );
    for (const waiter of waiters) waiter.resolve();
    if (this.#pending.size > 0 && !this.#closed)
      this.#writing ??= this.#drain().finally(() => {
        this.#writing = undefined;
      });
  }
}

function waitOn(waiters: Waiter[]): Promise<void> {
  return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
}

function toOps(changes: Map<string, string | undefined>): Op[] {
  const ops: Op[] = [];
  for (const [key, value] of changes) {
    ops.push(value === undefined ? { type: "del", key } : { type: "put", key, value });
  }
  return ops;
}

/** strerror texts as LevelDB words them, for errors that carry no errno code. */
const ERRNO_TEXTS: [code: string, text: string][] = [
  ["ENOSPC", "No space left on device"],
  ["EDQUOT", "Disk quota exceeded"],
  ["EIO", "Input/output error"],
  ["EROFS", "Read-only file system"],
  ["EACCES", "Permission denied"],
  ["EPERM", "Operation not permitted"],
  ["EMFILE", "Too many open files"],
  ["ENOENT", "No such file or directory"],
];

/** The errno behind a failed write: from the error's code, or from the text LevelDB passes on. */
export function stateWriteError(err: unknown): StateWriteError {
  const own = code(err);
  const known = ERRNO_TEXTS.find(([c]) => c === own);
  if (known) return new StateWriteError(known[0], known[1].toLowerCase(), { cause: err });
  const text = errorText(err);
  const match = ERRNO_TEXTS.find(([, t]) => text.includes(t));
  if (match) return new StateWriteError(match[0], match[1].toLowerCase(), { cause: err });
  return new StateWriteError(typeof own === "string" ? own : "EUNKNOWN", "write failed", { cause: err });
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}

function messageKey(uaid: string, n: Notification): string {
  if (n.topic !== undefined) return `t!${uaid}!${topicKey(n.chid, n.topic)}`;
  return `s!${uaid}!${String(n.sortkey).padStart(SORTKEY_DIGITS, "0")}`;
}

interface Loaded {
  users: Map<string, UserRecord>;
  broadcasts: Record<string, string>;
  secret: Buffer | undefined;
}

/** Read the whole directory back; entries that do not parse are skipped with the rest kept. */
async function load(db: Level): Promise<Loaded> {
  const loaded: Loaded = { users: new Map(), broadcasts: {}, secret: undefined };
  const channels: [string, string][] = [];
  const messages: [string, Notification][] = [];
  for await (const [key, raw] of db.iterator()) {
    const value = parse(raw);
    const [kind, uaid, rest] = key.split("!");
    if (key === KEY_SECRET && typeof value === "string") loaded.secret = Buffer.from(value, "hex");
    else if (kind === "b" && uaid !== undefined && typeof value === "string") loaded.broadcasts[uaid] = value;
    else if (kind === "u" && uaid !== undefined && typeof value === "number") {
      loaded.users.set(uaid, newUser(uaid, value));
    } else if (kind === "c" && uaid !== undefined && rest !== undefined) channels.push([uaid, rest]);
    else if ((kind === "s" || kind === "t") && uaid !== undefined && isNotification(value)) {
      messages.push([uaid, value]);
    }
  }
  for (const [uaid, chid] of channels) loaded.users.get(uaid)?.channels.add(chid);
  // Keys iterate in order, so each user's timestamp messages come back in sortkey order.
  for (const [uaid, n] of messages) {
    const user = loaded.users.get(uaid);
    if (!user?.channels.has(n.chid)) continue;
    if (n.topic !== undefined) user.topicMessages.set(topicKey(n.chid, n.topic), n);
    else user.timestampMessages.set(n.sortkey, n);
  }
  return loaded;
}

function newUser(uaid: string, currentTimestamp: number): UserRecord {
  return {
    uaid,
    channels: new Set(),
    currentTimestamp,
    topicMessages: new Map(),
    timestampMessages: new Map(),
  };
}

function parse(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function isNotification(value: unknown): value is Notification {
  if (typeof value !== "object" || value === null) return false;
  const n = value as Partial<Notification>;
  return (
    typeof n.chid === "string" &&
    typeof n.version === "string" &&
    typeof n.ttl === "number" &&
    typeof n.timestamp === "number" &&
    typeof n.sortkey === "number"
  );
}
