/**
 * The memory store's form of a record: CompactRecord keeps the plain fields one by one (every
 * stored record shares one hidden class) and the key material packed (packed-keys.ts) when it
 * has the usual shape, else as given. Its key fields are getters that build a fresh copy on
 * every read, so a stored record still reads as a PushRecord (MemoryStorage.records exposes them).
 * Records go in and out as copies, as they would through a real store: field by field rather
 * than structuredClone, which took a fifth of the per-message time in the end-to-end benchmark.
 */

import type { JsonWebKeyLike } from "../web-types.ts";
import {
  type PackedKeys,
  packedAuthSecret,
  packedPrivateKey,
  packedPublicKey,
  packKeys,
} from "./packed-keys.ts";
import type { PushRecord } from "./push-db.ts";

/** Key material not of the usual shape, kept as given. */
interface LooseKeys {
  publicKey: Uint8Array | null;
  privateKey: JsonWebKeyLike | null;
  auth: Uint8Array | null;
}

export class CompactRecord implements PushRecord {
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
  readonly keys: PackedKeys | LooseKeys;

  /** A copy of `record`: nothing the caller keeps is shared with the store. */
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
    return typeof keys === "string" ? packedPublicKey(keys) : (keys.publicKey?.slice() ?? null);
  }

  get p256dhPrivateKey(): JsonWebKeyLike | null {
    const keys = this.keys;
    if (typeof keys === "string") return packedPrivateKey(keys);
    return keys.privateKey && copyJwk(keys.privateKey);
  }

  get authenticationSecret(): Uint8Array | null {
    const keys = this.keys;
    return typeof keys === "string" ? packedAuthSecret(keys) : (keys.auth?.slice() ?? null);
  }
}

/** What comes out of the store: a fresh plain PushRecord, equal to the one that went in. */
export function plainRecord(stored: PushRecord): PushRecord {
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

function copyJwk(jwk: JsonWebKey): JsonWebKey {
  const out: JsonWebKey = { ...jwk };
  if (jwk.key_ops) out.key_ops = [...jwk.key_ops];
  if (jwk.oth) out.oth = jwk.oth.map((prime) => ({ ...prime }));
  return out;
}
