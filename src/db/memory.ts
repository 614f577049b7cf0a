/**
 * PushDB in memory: for load-test agents, tests, and embedders that keep state elsewhere. Its
 * contents live in a MemoryStorage object, so "reopening" the same storage works like a restart
 * of the process that owns it. Browser-safe.
 */

import { Base64urlError, decode, encode } from "../crypto/base64url.ts";
import type { JsonWebKeyLike } from "../web-types.ts";
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

/**
 * Records go in and out as copies (StoredRecord and unpack), as they would through a real store. Field by field rather
 * than structuredClone: this runs on every push, and structuredClone of a record with its
 * recent message ids took a fifth of the per-message time in the end-to-end benchmark.
 */
function copyJwk(jwk: JsonWebKey): JsonWebKey {
  const out: JsonWebKey = { ...jwk };
  if (jwk.key_ops) out.key_ops = [...jwk.key_ops];
  if (jwk.oth) out.oth = jwk.oth.map((prime) => ({ ...prime }));
  return out;
}

const PUBLIC_KEY_LENGTH = 65;
const AUTH_SECRET_LENGTH = 16;
const SCALAR_LENGTH = 32;
const AUTH_END = PUBLIC_KEY_LENGTH + AUTH_SECRET_LENGTH;
const JWK_FIELDS = "kty,crv,d,x,y";

/** Key material not of the usual shape, kept as given. */
interface LooseKeys {
  publicKey: Uint8Array | null;
  privateKey: JsonWebKeyLike | null;
  auth: Uint8Array | null;
}

/**
 * A record as the store keeps it. Key material of the usual shape (a 65-byte public key, a
 * 16-byte auth secret, a JWK of exactly { kty: "EC", crv: "P-256", d, x, y } whose x and y are the
 * public key's) is packed into one string, one byte per character: public key, auth secret, then
 * the private scalar. 113 characters instead of two typed arrays, a JWK object and its three
 * strings is about 0.5 KB less per record, most of an idle agent's store (issue 15). The key
 * fields are getters that rebuild a fresh copy on every read, so the stored record still reads as
 * a PushRecord; fields copied one by one into a class give every stored record one hidden class.
 */
class StoredRecord implements PushRecord {
  readonly channelID: string;
  readonly pushEndpoint: string;
  readonly scope: string;
  readonly appServerKey: Uint8Array | null;
  readonly recentMessageIDs: string[];
  readonly pushCount: number;
  readonly lastPush: number;
  readonly ctime: number;
  readonly quota: number;
  readonly version: number | null;
  readonly systemRecord: boolean;
  /** The packed string, or the key material as given. */
  readonly keys: string | LooseKeys;

  constructor(record: PushRecord) {
    this.channelID = record.channelID;
    this.pushEndpoint = record.pushEndpoint;
    this.scope = record.scope;
    this.appServerKey = record.appServerKey?.slice() ?? null;
    this.recentMessageIDs = [...record.recentMessageIDs];
    this.pushCount = record.pushCount;
    this.lastPush = record.lastPush;
    this.ctime = record.ctime;
    this.quota = record.quota;
    this.version = record.version;
    this.systemRecord = record.systemRecord;
    this.keys = packKeys(record) ?? {
      publicKey: record.p256dhPublicKey?.slice() ?? null,
      privateKey: record.p256dhPrivateKey ? copyJwk(record.p256dhPrivateKey) : null,
      auth: record.authenticationSecret?.slice() ?? null,
    };
  }

  get p256dhPublicKey(): Uint8Array | null {
    const keys = this.keys;
    return typeof keys === "string" ? bytesOf(keys, 0, PUBLIC_KEY_LENGTH) : (keys.publicKey?.slice() ?? null);
  }

  get p256dhPrivateKey(): JsonWebKeyLike | null {
    const keys = this.keys;
    if (typeof keys !== "string") return keys.privateKey && copyJwk(keys.privateKey);
    return {
      kty: "EC",
      crv: "P-256",
      d: encode(bytesOf(keys, AUTH_END, AUTH_END + SCALAR_LENGTH)),
      x: encode(bytesOf(keys, 1, 33)),
      y: encode(bytesOf(keys, 33, PUBLIC_KEY_LENGTH)),
    };
  }

  get authenticationSecret(): Uint8Array | null {
    const keys = this.keys;
    return typeof keys === "string"
      ? bytesOf(keys, PUBLIC_KEY_LENGTH, AUTH_END)
      : (keys.auth?.slice() ?? null);
  }
}

/** What comes out: a fresh plain PushRecord, equal to the one that went in. */
function unpack(stored: PushRecord): PushRecord {
  return {
    channelID: stored.channelID,
    pushEndpoint: stored.pushEndpoint,
    scope: stored.scope,
    p256dhPublicKey: stored.p256dhPublicKey,
    p256dhPrivateKey: stored.p256dhPrivateKey,
    authenticationSecret: stored.authenticationSecret,
    appServerKey: stored.appServerKey?.slice() ?? null,
    recentMessageIDs: [...stored.recentMessageIDs],
    pushCount: stored.pushCount,
    lastPush: stored.lastPush,
    ctime: stored.ctime,
    quota: stored.quota,
    version: stored.version,
    systemRecord: stored.systemRecord,
  };
}

/** The key material as one string, or null when it is not of the shape a read rebuilds exactly. */
function packKeys(record: PushRecord): string | null {
  const { p256dhPublicKey: publicKey, authenticationSecret: auth, p256dhPrivateKey: jwk } = record;
  if (publicKey?.length !== PUBLIC_KEY_LENGTH || auth?.length !== AUTH_SECRET_LENGTH || !jwk) return null;
  if (Object.keys(jwk).join(",") !== JWK_FIELDS || jwk.kty !== "EC" || jwk.crv !== "P-256") return null;
  if (jwk.x !== encode(publicKey.subarray(1, 33)) || jwk.y !== encode(publicKey.subarray(33, 65)))
    return null;
  const scalar = scalarOf(jwk);
  if (!scalar) return null;
  const all = new Uint8Array(AUTH_END + SCALAR_LENGTH);
  all.set(publicKey);
  all.set(auth, PUBLIC_KEY_LENGTH);
  all.set(scalar, AUTH_END);
  // One flat string: a concatenation would keep its parts as a rope.
  return String.fromCharCode.apply(null, all as unknown as number[]);
}

/** The private scalar's bytes, if `d` is their canonical base64url. */
function scalarOf(jwk: JsonWebKeyLike): Uint8Array | null {
  if (typeof jwk.d !== "string") return null;
  try {
    const scalar = decode(jwk.d, { padding: "reject" });
    return scalar.length === SCALAR_LENGTH && encode(scalar) === jwk.d ? scalar : null;
  } catch (error) {
    if (error instanceof Base64urlError) return null;
    throw error;
  }
}

function bytesOf(chars: string, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = chars.charCodeAt(i);
  return out;
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
    return record && unpack(record);
  }

  async getByScope(scope: string): Promise<PushRecord | undefined> {
    const channelID = this.#data.scopes.get(scope);
    return channelID === undefined ? undefined : this.getByChannelID(channelID);
  }

  async getAll(): Promise<PushRecord[]> {
    return [...this.#data.records.values()].map(unpack);
  }

  async getAllUnexpired(): Promise<PushRecord[]> {
    return [...this.#data.records.values()].filter((record) => record.quota > 0).map(unpack);
  }

  async put(record: PushRecord): Promise<void> {
    checkRecord(record);
    this.#write(new StoredRecord(record));
  }

  async update(channelID: string, fn: RecordUpdate): Promise<PushRecord | null | undefined> {
    const current = this.#data.records.get(channelID);
    if (!current) return undefined;
    const next = fn(unpack(current));
    if (next === null) return null;
    checkRecord(next);
    if (next.channelID !== channelID) this.#remove(channelID);
    // `next` came from the caller's own copy, so it can go back as is; the store keeps another.
    this.#write(new StoredRecord(next));
    return next;
  }

  async delete(channelID: string): Promise<PushRecord | undefined> {
    const removed = this.#remove(channelID);
    return removed && unpack(removed);
  }

  async clearIf(predicate: (record: PushRecord) => boolean): Promise<PushRecord[]> {
    const matching = [...this.#data.records.values()].filter((record) => predicate(unpack(record)));
    return matching.map((record) => unpack(this.#remove(record.channelID)!));
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
