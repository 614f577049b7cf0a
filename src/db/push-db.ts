/**
 * The PushDB contract: what a store must do for PushService. Two implementations ship
 * (IndexedDB through idb, LevelDB through classic-level on `push-agent/node`); an embedder
 * may pass any object that implements this interface and passes test/db/contract.ts.
 */

import type { JsonWebKeyLike } from "../web-types.ts";

/** One subscription, keyed by channelID and unique by scope. Field names follow Firefox's PushRecord. */
export interface PushRecord {
  /** The channel id, as the server echoed it in the register reply. */
  channelID: string;
  pushEndpoint: string;
  scope: string;
  /** Raw uncompressed P-256 public key (65 bytes); null until keys exist (SimplePush mode). */
  p256dhPublicKey: Uint8Array | null;
  /** The private key as a JWK; never logged, only read to decrypt. */
  p256dhPrivateKey: JsonWebKeyLike | null;
  /** 16 random bytes. */
  authenticationSecret: Uint8Array | null;
  /** The application server's raw P-256 public key, or null. */
  appServerKey: Uint8Array | null;
  /** Message ids (the server's `version`), newest first, at most maxRecentMessageIDs long. */
  recentMessageIDs: string[];
  pushCount: number;
  /** ms epoch of the last accepted push; 0 when none. */
  lastPush: number;
  /** ms epoch of creation. */
  ctime: number;
  /** Remaining pushes before expiry: Infinity when unlimited, 0 when expired. */
  quota: number;
  /** Legacy SimplePush version; null in Web Push mode. */
  version: number | null;
  /** True for subscriptions the embedder owns (no permission or quota checks). */
  systemRecord: boolean;
}

/** The record has a full key set (a P-256 pair and a 16-byte auth secret): it can decrypt. */
export function hasKeys(record: PushRecord): boolean {
  return Boolean(
    record.p256dhPublicKey && record.p256dhPrivateKey && record.authenticationSecret?.byteLength === 16,
  );
}

/**
 * A function that changes a record inside one atomic read-modify-write. Returning null aborts
 * the update (the record stays as it was) and makes `update` resolve null.
 */
export type RecordUpdate = (record: PushRecord) => PushRecord | null;

export interface PushDB {
  getByChannelID(channelID: string): Promise<PushRecord | undefined>;
  getByScope(scope: string): Promise<PushRecord | undefined>;
  getAll(): Promise<PushRecord[]>;
  /** Records with quota > 0 (Infinity included). */
  getAllUnexpired(): Promise<PushRecord[]>;
  /**
   * Insert or replace the record keyed by its channelID. Rejects with a ConstraintError-named
   * error when another channelID already holds the same scope. Resolves once durable.
   */
  put(record: PushRecord): Promise<void>;
  /** Atomic read-modify-write; resolves undefined for an unknown channelID, null when `fn` aborts. */
  update(channelID: string, fn: RecordUpdate): Promise<PushRecord | null | undefined>;
  /** Remove and return the record; undefined when there was none. */
  delete(channelID: string): Promise<PushRecord | undefined>;
  /** Remove every record for which `predicate` is true and return them. */
  clearIf(predicate: (record: PushRecord) => boolean): Promise<PushRecord[]>;
  getUAID(): Promise<string | null>;
  setUAID(uaid: string | null): Promise<void>;
  /** Broadcast listener id → stored version. */
  getBroadcasts(): Promise<Record<string, string>>;
  setBroadcast(id: string, version: string): Promise<void>;
  /** Close the underlying handles; nothing of the store keeps the process alive afterwards. */
  close(): Promise<void>;
}

export class ConstraintError extends Error {
  override name = "ConstraintError";
}

export function isValidRecord(record: PushRecord): boolean {
  return (
    typeof record.channelID === "string" &&
    record.channelID.length > 0 &&
    typeof record.scope === "string" &&
    record.scope.length > 0 &&
    typeof record.quota === "number" &&
    record.quota >= 0
  );
}
