/**
 * Where the server's state lives: in memory only (the default), or also in a LevelDB directory
 * (`state` option, `push-agent serve --state DIR`) so uaids, channels, stored messages, broadcast
 * versions and the key that seals endpoint tokens survive a restart. The store keeps serving
 * from memory; every change goes to LevelDB in order, grouped into one batch per turn.
 *
 * Keys: `u!<uaid>` → read pointer, `c!<uaid>!<chid>`, `s!<uaid>!<sortkey, 16 digits>` and
 * `t!<uaid>!<chid>:<topic>` → a notification, `b!<id>` → broadcast version, `key` → the token
 * secret (hex). Every value is JSON.
 */

import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import type { ClassicLevel } from "classic-level";
import type { Logger } from "../log.ts";
import { BroadcastRegistry } from "./broadcasts.ts";
import type { ResolvedOptions } from "./options.ts";
import { MemoryStore, type Notification, type StoreJournal, topicKey, type UserRecord } from "./store.ts";
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
    const journal = new LevelJournal(db, opts.logger);
    const loaded = await load(db);
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
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

async function openLevel(location: string): Promise<Level> {
  await mkdir(location, { recursive: true });
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
  return db;
}

function code(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Changes in the order they were made; what piles up while a batch is written goes in the next. */
class LevelJournal implements StoreJournal {
  readonly #db: Level;
  readonly #logger: Logger;
  #queue: Op[] = [];
  #tail: Promise<void> = Promise.resolve();
  #scheduled = false;
  #closed = false;

  constructor(db: Level, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
  }

  putUser(uaid: string, currentTimestamp: number): void {
    this.#put(`u!${uaid}`, currentTimestamp);
  }

  deleteUser(user: UserRecord): void {
    this.#del(`u!${user.uaid}`);
    for (const chid of user.channels) this.deleteChannel(user.uaid, chid);
    for (const n of user.topicMessages.values()) this.deleteMessage(user.uaid, n);
    for (const n of user.timestampMessages.values()) this.deleteMessage(user.uaid, n);
  }

  putChannel(uaid: string, chid: string): void {
    this.#put(`c!${uaid}!${chid}`, 1);
  }

  deleteChannel(uaid: string, chid: string): void {
    this.#del(`c!${uaid}!${chid}`);
  }

  putMessage(uaid: string, n: Notification): void {
    this.#put(messageKey(uaid, n), n);
  }

  deleteMessage(uaid: string, n: Notification): void {
    this.#del(messageKey(uaid, n));
  }

  putBroadcast(id: string, version: string): void {
    this.#put(`b!${id}`, version);
  }

  putSecret(secret: Buffer): Buffer {
    this.#put(KEY_SECRET, secret.toString("hex"));
    return secret;
  }

  flushed(): Promise<void> {
    return this.#tail;
  }

  /** Write what is queued; a socket that closes after this has nothing left to keep. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#tail;
  }

  #put(key: string, value: unknown): void {
    this.#push({ type: "put", key, value: JSON.stringify(value) });
  }

  #del(key: string): void {
    this.#push({ type: "del", key });
  }

  #push(op: Op): void {
    if (this.#closed) return;
    this.#queue.push(op);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#tail = this.#tail.then(() => this.#write());
  }

  async #write(): Promise<void> {
    this.#scheduled = false;
    const ops = this.#queue;
    this.#queue = [];
    try {
      await this.#db.batch(ops);
    } catch (err) {
      // The server keeps serving from memory; only a restart would miss these changes.
      this.#logger.error(
        `push-server: writing state failed (${ops.length} changes): ${(err as Error).message}`,
      );
    }
  }
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
