/**
 * The contract both crypto backends (node:crypto and WebCrypto) satisfy. Types only: decrypt.ts
 * owns the content-coding logic and hands a backend one job per message, so the Node backend can
 * run the whole key schedule and every record synchronously (no promise per step).
 */

import type { JsonWebKeyLike } from "../web-types.ts";

export type MaybePromise<T> = T | Promise<T>;

/**
 * One message's key schedule and records. Every scheme fits this shape:
 *   shared = ECDH(privateKey, senderPublicKey)
 *   ikm    = authSecret ? HKDF(salt=authSecret, ikm=shared, authInfo, 32) : shared
 *   cek    = HKDF(salt, ikm, cekInfo, 16);  nonce = HKDF(salt, ikm, nonceInfo, 12)
 *   record i = AES-128-GCM-decrypt(cek, nonce XOR i, ciphertext || 16-byte tag)
 */
export interface DecryptJob {
  /** The subscription's private key; backends cache what they import from it, keyed by `d`. */
  privateKey: JsonWebKeyLike;
  /** Uncompressed P-256 point (65 bytes, 0x04 prefix), already length-checked. */
  senderPublicKey: Uint8Array;
  /** null for aesgcm128, whose key schedule has no auth secret step. */
  authSecret: Uint8Array | null;
  /** HKDF infos as the parts to concatenate: per-message parts are not copied together. */
  authInfo: Uint8Array[];
  salt: Uint8Array;
  cekInfo: Uint8Array[];
  nonceInfo: Uint8Array[];
  /** Each record's ciphertext followed by its tag; every one is at least 16 bytes. */
  records: Uint8Array[];
}

export interface GeneratedKeyPair {
  /** 65-byte uncompressed point. */
  publicKey: Uint8Array;
  /** JWK with at least kty, crv, d, x, y. */
  privateKey: JsonWebKeyLike;
}

export interface CryptoBackend {
  readonly name: "node" | "web";
  generateKeyPair(): Promise<GeneratedKeyPair>;
  randomBytes(length: number): Promise<Uint8Array>;
  /**
   * Runs a job; resolves with one plaintext (still padded) per record, in order, each a plain
   * Uint8Array owning its ArrayBuffer (never a view into a shared pool), so decrypt can hand it
   * out without a copy. Rejects (or throws) a DecryptError: BAD_DH_PARAM for an unusable sender
   * key, BAD_CRYPTO for a bad tag or an unusable private key.
   */
  decryptRecords(job: DecryptJob): MaybePromise<Uint8Array[]>;
}
