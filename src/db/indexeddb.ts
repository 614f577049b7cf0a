/**
 * The IndexedDB PushDB (through idb): the browser store, also used under Node with an injected
 * IDBFactory (fake-indexeddb in tests). Browser-safe: no Node built-ins here.
 *
 * Layout: database "pushapi" (name overridable), store "pushapi" keyed by channelID with a
 * unique "scope" index and a "quota" index (as Firefox's PushDB), and a "meta" store holding
 * the uaid and the broadcast versions.
 */

import { type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames, wrap } from "idb";
import type { IDBFactoryLike, TransactionDurability } from "../web-types.ts";
import {
  ConstraintError,
  isValidRecord,
  type PushDB,
  type PushRecord,
  type RecordUpdate,
} from "./push-db.ts";

const RECORDS = "pushapi";
const META = "meta";
const UAID_KEY = "uaid";
const BROADCASTS_KEY = "broadcasts";
const SCHEMA_VERSION = 1;

type MetaValue = string | Record<string, string>;

interface PushSchema extends DBSchema {
  [RECORDS]: { key: string; value: PushRecord; indexes: { scope: string; quota: number } };
  [META]: { key: string; value: MetaValue };
}

type Store = StoreNames<PushSchema>;
type Mode = "readonly" | "readwrite";
type Tx<M extends Mode> = IDBPTransaction<PushSchema, Store[], M>;

export interface IndexedDBPushDBOptions {
  /** The factory to open the database with; defaults to `globalThis.indexedDB`. */
  indexedDB?: IDBFactoryLike;
  /** Database name, default "pushapi"; give each PushService on one origin its own. */
  name?: string;
  /**
   * Transaction durability for writes, default "strict": a write that returned has been flushed
   * to disk, which is what acking a message after its store write relies on.
   */
  durability?: TransactionDurability;
}

export async function openIndexedDBPushDB(options: IndexedDBPushDBOptions = {}): Promise<PushDB> {
  // The DOM type inside: assertIdbCanWrap checks it is the runtime's own IDBFactory.
  const factory = (options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB) as
    | IDBFactory
    | undefined;
  if (!factory) {
    throw new Error(
      "No IndexedDB in this runtime: pass options.indexedDB (an IDBFactory) or use another PushDB",
    );
  }
  const db = await openDatabase(factory, options.name ?? "pushapi");
  return new IndexedDBPushDB(db, options.durability ?? "strict");
}

function openDatabase(factory: IDBFactory, name: string): Promise<IDBPDatabase<PushSchema>> {
  assertIdbCanWrap(factory);
  // idb's openDB always uses the global indexedDB, so the request is opened here and wrapped.
  const request = factory.open(name, SCHEMA_VERSION);
  request.addEventListener("upgradeneeded", () => createSchema(request.result));
  return wrap(request).then((opened) => {
    const db = opened as unknown as IDBPDatabase<PushSchema>;
    // Another connection (another tab) wants a newer schema: step aside rather than block it.
    db.addEventListener("versionchange", () => db.close());
    return db;
  });
}

/**
 * idb recognises IndexedDB objects by `instanceof` the global classes (IDBRequest, IDBDatabase,
 * IDBTransaction, IDBObjectStore, IDBIndex, IDBCursor). A factory from another implementation
 * than the globals (fake-indexeddb in plain Node) would otherwise fail obscurely later.
 */
function assertIdbCanWrap(factory: IDBFactory): void {
  const globals = globalThis as { IDBFactory?: typeof IDBFactory; IDBRequest?: typeof IDBRequest };
  if (globals.IDBFactory && factory instanceof globals.IDBFactory && globals.IDBRequest) return;
  throw new Error(
    "The IndexedDB factory is not an instance of the global IDBFactory, and idb checks objects against " +
      "the global IDB classes: install them as globals (in Node: import 'fake-indexeddb/auto')",
  );
}

function createSchema(db: IDBDatabase): void {
  if (!db.objectStoreNames.contains(RECORDS)) {
    const records = db.createObjectStore(RECORDS, { keyPath: "channelID" });
    records.createIndex("scope", "scope", { unique: true });
    records.createIndex("quota", "quota", { unique: false });
  }
  if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
}

class IndexedDBPushDB implements PushDB {
  readonly #db: IDBPDatabase<PushSchema>;
  readonly #durability: IDBTransactionDurability;

  constructor(db: IDBPDatabase<PushSchema>, durability: IDBTransactionDurability) {
    this.#db = db;
    this.#durability = durability;
  }

  getByChannelID(channelID: string): Promise<PushRecord | undefined> {
    return this.#db.get(RECORDS, channelID);
  }

  getByScope(scope: string): Promise<PushRecord | undefined> {
    return this.#db.getFromIndex(RECORDS, "scope", scope);
  }

  getAll(): Promise<PushRecord[]> {
    return this.#db.getAll(RECORDS);
  }

  async getAllUnexpired(): Promise<PushRecord[]> {
    // One getAll and a filter, not a cursor over the quota index: expired records are few, and
    // a cursor step over equal index keys is linear in fake-indexeddb, which made a start with
    // 10,000 subscriptions take a minute there. (IDBKeyRange is not global with an injected
    // factory either.)
    return (await this.#db.getAll(RECORDS)).filter((record) => record.quota > 0);
  }

  async put(record: PushRecord): Promise<void> {
    assertValid(record);
    return this.#run([RECORDS], "readwrite", async (tx) => {
      await putRecord(tx, record);
    });
  }

  update(channelID: string, fn: RecordUpdate): Promise<PushRecord | null | undefined> {
    return this.#run([RECORDS], "readwrite", async (tx) => {
      const store = tx.objectStore(RECORDS);
      const record = await store.get(channelID);
      if (!record) return undefined;
      const next = fn(record);
      if (next === null) return null;
      assertValid(next);
      // A changed key moves the record, as Firefox's update does.
      if (next.channelID !== channelID) await store.delete(channelID);
      await putRecord(tx, next);
      return next;
    });
  }

  delete(channelID: string): Promise<PushRecord | undefined> {
    return this.#run([RECORDS], "readwrite", async (tx) => {
      const store = tx.objectStore(RECORDS);
      const record = await store.get(channelID);
      if (record) await store.delete(channelID);
      return record;
    });
  }

  clearIf(predicate: (record: PushRecord) => boolean): Promise<PushRecord[]> {
    return this.#run([RECORDS], "readwrite", async (tx) => {
      const removed: PushRecord[] = [];
      let cursor = await tx.objectStore(RECORDS).openCursor();
      while (cursor) {
        if (predicate(cursor.value)) {
          removed.push(cursor.value);
          await cursor.delete();
        }
        cursor = await cursor.continue();
      }
      return removed;
    });
  }

  async getUAID(): Promise<string | null> {
    const uaid = await this.#db.get(META, UAID_KEY);
    return typeof uaid === "string" ? uaid : null;
  }

  setUAID(uaid: string | null): Promise<void> {
    return this.#run([META], "readwrite", async (tx) => {
      const meta = tx.objectStore(META);
      if (uaid === null) await meta.delete(UAID_KEY);
      else await meta.put(uaid, UAID_KEY);
    });
  }

  async getBroadcasts(): Promise<Record<string, string>> {
    return asBroadcasts(await this.#db.get(META, BROADCASTS_KEY));
  }

  setBroadcast(id: string, version: string): Promise<void> {
    return this.#run([META], "readwrite", async (tx) => {
      const meta = tx.objectStore(META);
      const broadcasts = asBroadcasts(await meta.get(BROADCASTS_KEY));
      broadcasts[id] = version;
      await meta.put(broadcasts, BROADCASTS_KEY);
    });
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  /**
   * Run `body` in one transaction and resolve only once the transaction completed (so a write
   * that resolved is committed). Any failure aborts the whole transaction.
   */
  async #run<M extends Mode, T>(stores: Store[], mode: M, body: (tx: Tx<M>) => Promise<T>): Promise<T> {
    const options = mode === "readwrite" ? { durability: this.#durability } : {};
    const tx = this.#db.transaction(stores, mode, options) as Tx<M>;
    const done = tx.done;
    done.catch(() => {}); // observed below; this only keeps an abort from being reported as unhandled
    try {
      const result = await body(tx);
      await done;
      return result;
    } catch (err) {
      abortQuietly(tx);
      throw translateError(err);
    }
  }
}

async function putRecord(tx: Tx<"readwrite">, record: PushRecord): Promise<void> {
  try {
    await tx.objectStore(RECORDS).put(compactRecord(record));
  } catch (err) {
    if (isNamed(err, "ConstraintError")) {
      throw new ConstraintError(`Another subscription already holds scope ${record.scope}`, { cause: err });
    }
    throw err;
  }
}

function assertValid(record: PushRecord): void {
  if (!isValidRecord(record)) throw new TypeError("A PushRecord needs a channelID, a scope and a quota >= 0");
}

/**
 * Structured clone copies a typed array's whole underlying buffer; a key that is a view into a
 * larger buffer (a pooled Buffer, a slice of a frame) would store all of it. Store exact copies.
 */
function compactRecord(record: PushRecord): PushRecord {
  return {
    ...record,
    p256dhPublicKey: compactBytes(record.p256dhPublicKey),
    authenticationSecret: compactBytes(record.authenticationSecret),
    appServerKey: compactBytes(record.appServerKey),
  };
}

function compactBytes(bytes: Uint8Array | null): Uint8Array | null {
  if (bytes === null) return null;
  const exact =
    bytes.constructor === Uint8Array &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength;
  return exact ? bytes : new Uint8Array(bytes);
}

function asBroadcasts(value: MetaValue | undefined): Record<string, string> {
  return value !== undefined && typeof value === "object" ? { ...value } : {};
}

function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already finished or aborted by the failed request.
  }
}

function translateError(err: unknown): unknown {
  if (err instanceof ConstraintError || !isNamed(err, "ConstraintError")) return err;
  return new ConstraintError("A subscription already holds this scope", { cause: err });
}

function isNamed(err: unknown, name: string): boolean {
  return typeof err === "object" && err !== null && (err as { name?: unknown }).name === name;
}
