/**
 * The durable Node PushDB on LevelDB (classic-level), exported from `push-agent/node` only.
 *
 * The directory is private: 0700, its files 0600 (see private-dir.ts).
 *
 * Keys: `rec!<channelID>` → the record as JSON (binary fields base64url, Infinity quota as a
 * string), `scope!<scope>` → channelID (the unique scope index, written in the same batch as
 * its record), `meta!uaid` → uaid, `bc!<id>` → broadcast version.
 *
 * Writes: every mutation decides its changes in one in-process lane (so read-modify-write is
 * atomic and scope uniqueness holds across keys), then joins a group commit: changes decided
 * while a sync write is in flight, or in the same tick, go to disk together in ONE
 * `batch(..., { sync: true })`. A mutation resolves only once its batch has reached the disk.
 * Decided-but-unwritten changes live in an overlay that later decisions read through, so the
 * lane never waits for the disk (the group commit is level-commit.ts). Plain reads see
 * committed data only.
 *
 * A failed batch (disk full, I/O error) rejects every mutation in it and in the batch behind it,
 * so the caller never acks what is not on disk; the next mutation first reopens the handle.
 */

import { ClassicLevel } from "classic-level";
import { decode, encode } from "../crypto/base64url.ts";
import { GroupCommit, type Level, type Pending, type Value } from "./level-commit.ts";
import { makeFilesPrivate, makePrivateDir } from "./private-dir.ts";
import {
  ConstraintError,
  isValidRecord,
  type PushDB,
  type PushRecord,
  type RecordUpdate,
} from "./push-db.ts";

const REC = "rec!";
const SCOPE = "scope!";
const BC = "bc!";
const UAID_KEY = "meta!uaid";

const recKey = (channelID: string) => REC + channelID;
const scopeKey = (scope: string) => SCOPE + scope;

/** All keys that start with `prefix` (every prefix here ends in "!", whose successor is '"'). */
const prefixRange = (prefix: string) => ({ gte: prefix, lt: `${prefix.slice(0, -1)}"` });

export interface LevelPushDBOptions {
  /**
   * fsync every batch (default true): a write that resolved has reached the disk. Turning it
   * off trades that guarantee for speed (benchmarks, throwaway stores).
   */
  sync?: boolean;
}

/** Counters for tests and benchmarks; not part of the PushDB contract. */
export interface LevelPushDBStats {
  /** Batches written to LevelDB. */
  batches: number;
  /** Mutations (put, update, delete, ...) that wrote something. */
  writes: number;
}

export interface LevelPushDB extends PushDB {
  readonly location: string;
  readonly stats: Readonly<LevelPushDBStats>;
}

export async function openLevelPushDB(
  location: string,
  options: LevelPushDBOptions = {},
): Promise<LevelPushDB> {
  await makePrivateDir(location);
  const db: Level = new ClassicLevel<string, string>(location, {
    keyEncoding: "utf8",
    valueEncoding: "utf8",
  });
  try {
    await db.open();
  } catch (err) {
    throw openError(location, err);
  }
  await makeFilesPrivate(location);
  return new LevelStore(db, location, options.sync ?? true);
}

function openError(location: string, err: unknown): Error {
  const cause = causeOf(err) ?? err;
  const message =
    errorCode(err) === "LEVEL_LOCKED" || errorCode(cause) === "LEVEL_LOCKED"
      ? `PushDB at ${location} is locked: another live process (or an open store in this one) holds it`
      : `Cannot open PushDB at ${location}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new Error(message, { cause: err });
}

class LevelStore implements LevelPushDB {
  readonly stats: LevelPushDBStats = { batches: 0, writes: 0 };
  readonly #writer: GroupCommit;
  /** The lane: each mutation's decision starts after the previous one's ended. */
  #tail: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | null = null;
  readonly #db: Level;

  constructor(
    db: Level,
    readonly location: string,
    sync: boolean,
  ) {
    this.#db = db;
    this.#writer = new GroupCommit(db, sync, this.stats);
  }

  async getByChannelID(channelID: string): Promise<PushRecord | undefined> {
    this.#assertOpen();
    return parseRecord(await this.#db.get(recKey(channelID)));
  }

  async getByScope(scope: string): Promise<PushRecord | undefined> {
    this.#assertOpen();
    // One snapshot for both reads, so a record moving scopes in between is never half-seen.
    const snapshot = this.#db.snapshot();
    try {
      const channelID = await this.#db.get(scopeKey(scope), { snapshot });
      if (channelID === undefined) return undefined;
      const record = parseRecord(await this.#db.get(recKey(channelID), { snapshot }));
      return record?.scope === scope ? record : undefined;
    } finally {
      await snapshot.close();
    }
  }

  async getAll(): Promise<PushRecord[]> {
    this.#assertOpen();
    const values = await this.#db.values(prefixRange(REC)).all();
    return values.map((value) => decodeRecord(value));
  }

  async getAllUnexpired(): Promise<PushRecord[]> {
    return (await this.getAll()).filter((record) => record.quota > 0);
  }

  put(record: PushRecord): Promise<void> {
    if (!isValidRecord(record)) return Promise.reject(invalidRecord());
    return this.#transact(async (tx) => putRecord(tx, record));
  }

  update(channelID: string, fn: RecordUpdate): Promise<PushRecord | null | undefined> {
    return this.#transact(async (tx) => {
      const record = tx.getRecord(channelID);
      if (!record) return undefined;
      const next = fn(record);
      if (next === null) return null;
      if (!isValidRecord(next)) throw invalidRecord();
      // A changed key moves the record, as Firefox's update does.
      if (next.channelID !== channelID) deleteRecord(tx, channelID);
      putRecord(tx, next);
      return next;
    });
  }

  delete(channelID: string): Promise<PushRecord | undefined> {
    return this.#transact(async (tx) => deleteRecord(tx, channelID));
  }

  clearIf(predicate: (record: PushRecord) => boolean): Promise<PushRecord[]> {
    return this.#transact(async (tx) => {
      const removed = (await tx.records()).filter(predicate);
      for (const record of removed) deleteRecord(tx, record.channelID);
      return removed;
    });
  }

  async getUAID(): Promise<string | null> {
    this.#assertOpen();
    return (await this.#db.get(UAID_KEY)) ?? null;
  }

  setUAID(uaid: string | null): Promise<void> {
    return this.#transact(async (tx) => tx.set(UAID_KEY, uaid ?? undefined));
  }

  async getBroadcasts(): Promise<Record<string, string>> {
    this.#assertOpen();
    const entries = await this.#db.iterator(prefixRange(BC)).all();
    const out: Record<string, string> = {};
    for (const [key, version] of entries) out[key.slice(BC.length)] = version;
    return out;
  }

  setBroadcast(id: string, version: string): Promise<void> {
    return this.#transact(async (tx) => tx.set(BC + id, version));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#tail;
      await this.#writer.drain();
      await this.#db.close();
    })();
    return this.#closing;
  }

  /**
   * After a failed batch the handle is not written to again: LevelDB may have left half a record
   * in its log, and a record appended after it can vanish on the next open (seen on a full
   * tmpfs: writes that resolved after the space came back were gone after a restart). Reopening
   * replays the log up to the last whole record and starts a new one. Runs in the lane, so no
   * decision reads a closed handle; while it fails (disk still full) each mutation rejects.
   */
  async #reopen(): Promise<void> {
    if (this.#db.status === "open") await this.#db.close().catch(() => {});
    try {
      await this.#db.open();
    } catch (err) {
      throw openError(this.location, err);
    }
    await makeFilesPrivate(this.location);
    this.#writer.failure = null;
  }

  #assertOpen(): void {
    if (this.#closing) throw closedError(this.location);
  }

  /**
   * Decide a mutation in the lane, then wait for its batch to reach the disk. A mutation that
   * changed nothing still waits for the writes decided before it, since its answer may rest on them.
   */
  #transact<T>(body: (tx: Txn) => Promise<T>): Promise<T> {
    if (this.#closing) return Promise.reject(closedError(this.location));
    const decided = this.#tail.then(() => this.#decide(body));
    this.#tail = decided.catch(() => {});
    return decided.then(({ result, durable }) => durable.then(() => result));
  }

  async #decide<T>(body: (tx: Txn) => Promise<T>): Promise<{ result: T; durable: Promise<void> }> {
    if (this.#writer.failure !== null) await this.#reopen();
    const epoch = this.#writer.epoch;
    const tx = new Txn(this.#db, this.#writer.overlay);
    const result = await body(tx);
    // A failed batch discarded the overlay this decision may have read: don't build on it.
    if (epoch !== this.#writer.epoch) throw this.#writer.failure;
    const durable = tx.staged.size > 0 ? this.#writer.stage(tx.staged) : this.#writer.barrier();
    return { result, durable };
  }
}

function putRecord(tx: Txn, record: PushRecord): void {
  const owner = tx.get(scopeKey(record.scope));
  if (owner !== undefined && owner !== record.channelID) {
    throw new ConstraintError(`Another subscription already holds scope ${record.scope}`);
  }
  const previous = tx.getRecord(record.channelID);
  if (previous && previous.scope !== record.scope) tx.set(scopeKey(previous.scope), undefined);
  tx.set(recKey(record.channelID), encodeRecord(record));
  if (owner !== record.channelID) tx.set(scopeKey(record.scope), record.channelID);
}

function deleteRecord(tx: Txn, channelID: string): PushRecord | undefined {
  const record = tx.getRecord(channelID);
  if (!record) return undefined;
  tx.set(recKey(channelID), undefined);
  if (tx.get(scopeKey(record.scope)) === channelID) tx.set(scopeKey(record.scope), undefined);
  return record;
}

/** One mutation's view: its own staged changes over the overlay of unwritten ones over the disk. */
class Txn {
  readonly staged = new Map<string, Value>();
  readonly #db: Level;
  readonly #overlay: ReadonlyMap<string, Pending>;

  constructor(db: Level, overlay: ReadonlyMap<string, Pending>) {
    this.#db = db;
    this.#overlay = overlay;
  }

  /**
   * Synchronous on purpose: a point read from LevelDB's cache costs microseconds, while an
   * async read would cost a thread-pool round trip per mutation inside the serial lane and
   * split a burst of writes over many batches.
   */
  get(key: string): Value {
    if (this.staged.has(key)) return this.staged.get(key);
    const pending = this.#overlay.get(key);
    if (pending) return pending.value;
    // Not pending means written already, so the disk has it.
    return this.#db.getSync(key);
  }

  set(key: string, value: Value): void {
    this.staged.set(key, value);
  }

  getRecord(channelID: string): PushRecord | undefined {
    return parseRecord(this.get(recKey(channelID)));
  }

  async records(): Promise<PushRecord[]> {
    // Copy the overlay before the iterator takes its snapshot: an entry that leaves the
    // overlay meanwhile was written, so the snapshot has it.
    const pending = [...this.#overlay].filter(([key]) => key.startsWith(REC));
    const merged = new Map(await this.#db.iterator(prefixRange(REC)).all());
    for (const [key, { value }] of pending) setOrDelete(merged, key, value);
    for (const [key, value] of this.staged) if (key.startsWith(REC)) setOrDelete(merged, key, value);
    return [...merged.values()].map((value) => decodeRecord(value));
  }
}

function setOrDelete(map: Map<string, string>, key: string, value: Value): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

/** The JSON form on disk: JSON has neither bytes nor Infinity. */
interface StoredRecord
  extends Omit<PushRecord, "p256dhPublicKey" | "authenticationSecret" | "appServerKey" | "quota"> {
  p256dhPublicKey: string | null;
  authenticationSecret: string | null;
  appServerKey: string | null;
  quota: number | "Infinity";
}

function encodeRecord(record: PushRecord): string {
  const stored: StoredRecord = {
    channelID: record.channelID,
    pushEndpoint: record.pushEndpoint,
    scope: record.scope,
    p256dhPublicKey: encodeBytes(record.p256dhPublicKey),
    p256dhPrivateKey: record.p256dhPrivateKey,
    authenticationSecret: encodeBytes(record.authenticationSecret),
    appServerKey: encodeBytes(record.appServerKey),
    recentMessageIDs: record.recentMessageIDs,
    pushCount: record.pushCount,
    lastPush: record.lastPush,
    ctime: record.ctime,
    quota: record.quota === Number.POSITIVE_INFINITY ? "Infinity" : record.quota,
    version: record.version,
    systemRecord: record.systemRecord,
  };
  return JSON.stringify(stored);
}

function decodeRecord(json: string): PushRecord {
  const stored = JSON.parse(json) as StoredRecord;
  return {
    ...stored,
    p256dhPublicKey: decodeBytes(stored.p256dhPublicKey),
    authenticationSecret: decodeBytes(stored.authenticationSecret),
    appServerKey: decodeBytes(stored.appServerKey),
    quota: stored.quota === "Infinity" ? Number.POSITIVE_INFINITY : stored.quota,
  };
}

function parseRecord(json: Value): PushRecord | undefined {
  return json === undefined ? undefined : decodeRecord(json);
}

const encodeBytes = (bytes: Uint8Array | null) => (bytes === null ? null : encode(bytes));
const decodeBytes = (text: string | null) => (text === null ? null : decode(text));

const invalidRecord = () => new TypeError("A PushRecord needs a channelID, a scope and a quota >= 0");
const closedError = (location: string) => new Error(`PushDB at ${location} is closed`);

function errorCode(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

function causeOf(err: unknown): unknown {
  return err instanceof Error ? err.cause : undefined;
}
