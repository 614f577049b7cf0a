/**
 * PushDB in memory: for load-test agents, tests, and embedders that keep state elsewhere. Its
 * contents live in a MemoryStorage object, so "reopening" the same storage works like a restart
 * of the process that owns it. Records are kept compact (compact-record.ts): an idle agent's
 * store is most of its memory. Browser-safe.
 */

import { CompactRecord, plainRecord } from "./compact-record.ts";
import {
  ConstraintError,
  isValidRecord,
  type PushDB,
  type PushRecord,
  type RecordUpdate,
} from "./push-db.ts";

/** The data behind one or more successive MemoryPushDB handles. */
export interface MemoryStorage {
  records: Map<string, PushRecord>;
  scopes: Map<string, string>;
  uaid: string | null;
  broadcasts: Map<string, string>;
}

export function createMemoryStorage(): MemoryStorage {
  return { records: new Map(), scopes: new Map(), uaid: null, broadcasts: new Map() };
}

function checkRecord(record: PushRecord): void {
  if (!isValidRecord(record)) throw new TypeError("Scope, channelID and quota are required!");
}

class MemoryPushDB implements PushDB {
  #storage: MemoryStorage | null;

  constructor(storage: MemoryStorage) {
    this.#storage = storage;
  }

  get #data(): MemoryStorage {
    if (!this.#storage) throw new Error("PushDB is closed");
    return this.#storage;
  }

  async getByChannelID(channelID: string): Promise<PushRecord | undefined> {
    const record = this.#data.records.get(channelID);
    return record && plainRecord(record);
  }

  async getByScope(scope: string): Promise<PushRecord | undefined> {
    const channelID = this.#data.scopes.get(scope);
    return channelID === undefined ? undefined : this.getByChannelID(channelID);
  }

  async getAll(): Promise<PushRecord[]> {
    return [...this.#data.records.values()].map(plainRecord);
  }

  async getAllUnexpired(): Promise<PushRecord[]> {
    return [...this.#data.records.values()].filter((record) => record.quota > 0).map(plainRecord);
  }

  async put(record: PushRecord): Promise<void> {
    checkRecord(record);
    this.#write(new CompactRecord(record));
  }

  async update(channelID: string, fn: RecordUpdate): Promise<PushRecord | null | undefined> {
    const current = this.#data.records.get(channelID);
    if (!current) return undefined;
    const next = fn(plainRecord(current));
    if (next === null) return null;
    checkRecord(next);
    if (next.channelID !== channelID) this.#remove(channelID);
    // `next` came from the caller's own copy, so it can go back as is; the store keeps another.
    this.#write(new CompactRecord(next));
    return next;
  }

  async delete(channelID: string): Promise<PushRecord | undefined> {
    const removed = this.#remove(channelID);
    return removed && plainRecord(removed);
  }

  async clearIf(predicate: (record: PushRecord) => boolean): Promise<PushRecord[]> {
    const matching = [...this.#data.records.values()].filter((record) => predicate(plainRecord(record)));
    return matching.map((record) => plainRecord(this.#remove(record.channelID)!));
  }

  async getUAID(): Promise<string | null> {
    return this.#data.uaid;
  }

  async setUAID(uaid: string | null): Promise<void> {
    this.#data.uaid = uaid;
  }

  async getBroadcasts(): Promise<Record<string, string>> {
    return Object.fromEntries(this.#data.broadcasts);
  }

  async setBroadcast(id: string, version: string): Promise<void> {
    this.#data.broadcasts.set(id, version);
  }

  async close(): Promise<void> {
    this.#storage = null;
  }

  /** Scope uniqueness is checked before anything changes, so a clash leaves the store as it was. */
  #write(record: PushRecord): void {
    const { records, scopes } = this.#data;
    const owner = scopes.get(record.scope);
    if (owner !== undefined && owner !== record.channelID) {
      throw new ConstraintError(`Another subscription already holds scope ${record.scope}`);
    }
    const previous = records.get(record.channelID);
    if (previous && previous.scope !== record.scope) scopes.delete(previous.scope);
    records.set(record.channelID, record);
    scopes.set(record.scope, record.channelID);
  }

  #remove(channelID: string): PushRecord | undefined {
    const { records, scopes } = this.#data;
    const record = records.get(channelID);
    if (!record) return undefined;
    records.delete(channelID);
    if (scopes.get(record.scope) === channelID) scopes.delete(record.scope);
    return record;
  }
}

/** A store in memory; pass the same `storage` again to reopen what an earlier handle wrote. */
export function openMemoryPushDB(storage: MemoryStorage = createMemoryStorage()): PushDB {
  return new MemoryPushDB(storage);
}
