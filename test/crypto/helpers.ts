/**
 * Test helpers for the decryptor: subscriptions made with node:crypto directly, and encryptors
 * from independent implementations (http_ece, web-push) plus a minimal aesgcm128 encoder.
 */

import { createCipheriv, createECDH, createHmac, type ECDH, randomBytes } from "node:crypto";
import * as ece from "http_ece";
import webpush from "web-push";
import type { CryptoBackend } from "../../src/crypto/backend.ts";
import { backend as nodeBackend, nodeBackendOn } from "../../src/crypto/backend-node.ts";
import { backend as webBackend } from "../../src/crypto/backend-web.ts";
import type { DecryptionKeys, EncryptedPush, PushHeaders } from "../../src/crypto/decrypt.ts";
import { ECDH_OBJECT, KEYOBJECT_RAW, KEYOBJECT_SPKI } from "../../src/crypto/ecdh-node.ts";

/** Every backend, and every ECDH path of the node backend this runtime has (one is its default). */
export const backends: [string, CryptoBackend][] = [
  [`node (${nodeBackend.ecdhPath})`, nodeBackend],
  ["web", webBackend],
  ["node on 2 worker threads", nodeBackend.onWorkers!(2).backend],
  ["node, ECDH by computeSecret", nodeBackendOn(ECDH_OBJECT)],
  ["node, ECDH by KeyObject (SPKI)", nodeBackendOn(KEYOBJECT_SPKI)],
  ...(KEYOBJECT_RAW
    ? [["node, ECDH by KeyObject (raw)", nodeBackendOn(KEYOBJECT_RAW)] as [string, CryptoBackend]]
    : []),
];

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export interface TestSubscription extends DecryptionKeys {
  ecdh: ECDH;
}

/** A subscription's keys, built without the code under test. */
export function makeSubscription(): TestSubscription {
  const ecdh = createECDH("prime256v1");
  const publicKey = new Uint8Array(ecdh.generateKeys());
  const privateKey: JsonWebKey = {
    kty: "EC",
    crv: "P-256",
    // getPrivateKey() drops leading zero bytes; a JWK's d is always the full 32 bytes.
    d: b64(new Uint8Array(Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()]).subarray(-32))),
    x: b64(publicKey.subarray(1, 33)),
    y: b64(publicKey.subarray(33)),
  };
  return { ecdh, publicKey, privateKey, authSecret: new Uint8Array(randomBytes(16)) };
}

export type Encoding = "aes128gcm" | "aesgcm";

export interface EceOptions {
  rs?: number;
  pad?: number;
}

/** Encrypts with http_ece as an application server would; headers as autopush relays them. */
export function encryptWithEce(
  sub: TestSubscription,
  encoding: Encoding,
  payload: Uint8Array,
  options: EceOptions = {},
): EncryptedPush {
  const sender = createECDH("prime256v1");
  const senderPublic = sender.generateKeys();
  const salt = randomBytes(16);
  const data = ece.encrypt(Buffer.from(payload), {
    version: encoding,
    dh: b64(sub.publicKey),
    privateKey: sender,
    salt,
    authSecret: b64(sub.authSecret),
    ...(options.rs === undefined ? {} : { rs: options.rs }),
    ...(options.pad === undefined ? {} : { pad: options.pad }),
  });
  if (encoding === "aes128gcm") return { data: new Uint8Array(data), headers: { encoding } };
  const rs = options.rs === undefined ? "" : `;rs=${options.rs}`;
  return {
    data: new Uint8Array(data),
    headers: { encoding, encryption: `salt=${b64(salt)}${rs}`, crypto_key: `dh=${b64(senderPublic)}` },
  };
}

/** Encrypts with web-push's encrypt() (always rs 4096). */
export function encryptWithWebPush(
  sub: TestSubscription,
  encoding: Encoding,
  payload: Uint8Array,
): EncryptedPush {
  const out = webpush.encrypt(b64(sub.publicKey), b64(sub.authSecret), Buffer.from(payload), encoding);
  const data = new Uint8Array(out.cipherText);
  if (encoding === "aes128gcm") return { data, headers: { encoding } };
  const headers: PushHeaders = {
    encoding,
    encryption: `salt=${out.salt}`,
    crypto_key: `dh=${senderKeyText(out.localPublicKey as unknown)}`,
  };
  return { data, headers };
}

/** @types/web-push says string; web-push returns the sender key as a Buffer. */
function senderKeyText(key: unknown): string {
  return typeof key === "string" ? key : b64(key as Uint8Array);
}

function hkdf(salt: Uint8Array, ikm: Uint8Array, info: string | Uint8Array, length: number): Buffer {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  return createHmac("sha256", prk)
    .update(info)
    .update(Buffer.from([1]))
    .digest()
    .subarray(0, length);
}

/**
 * aesgcm128 (the oldest draft) sender, for round trips: the installed http_ece dropped it. Checked
 * against the http_ece@0.7.2 vectors in fixtures/. rs counts padded plaintext per record.
 */
export function encryptAesgcm128(
  sub: TestSubscription,
  payload: Uint8Array,
  rs = 4096,
  padPerRecord = 0,
): EncryptedPush {
  const records: Uint8Array[] = [];
  const perRecord = rs - 1 - padPerRecord;
  for (let start = 0; ; start += perRecord) {
    const chunk = payload.subarray(start, start + perRecord);
    const record = new Uint8Array(1 + padPerRecord + chunk.length);
    record[0] = padPerRecord;
    record.set(chunk, 1 + padPerRecord);
    records.push(record);
    // A plaintext that fills its last record exactly needs one more, padding-only record.
    if (chunk.length < perRecord) break;
  }
  return aesgcm128FromRecords(sub, records, rs);
}

export function randomPayload(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

export interface Sender {
  ecdh: ECDH;
  salt: Uint8Array;
}

export function makeSender(): Sender {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { ecdh, salt: new Uint8Array(randomBytes(16)) };
}

function sealRecords(key: Buffer, baseNonce: Buffer, records: Uint8Array[]): Buffer {
  return Buffer.concat(
    records.flatMap((record, seq) => {
      const nonce = Buffer.from(baseNonce);
      nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
      const cipher = createCipheriv("aes-128-gcm", key, nonce);
      return [cipher.update(record), cipher.final(), cipher.getAuthTag()];
    }),
  );
}

/**
 * aes128gcm with caller-made record plaintexts (delimiters and padding included), to build
 * messages no correct sender would: the RFC 8291 key schedule on node:crypto.
 */
export function aes128gcmFromRecords(
  sub: DecryptionKeys,
  records: Uint8Array[],
  rs: number,
  sender: Sender = makeSender(),
): Uint8Array {
  const senderPublic = sender.ecdh.getPublicKey();
  const shared = sender.ecdh.computeSecret(sub.publicKey);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), sub.publicKey, senderPublic]);
  const prkKey = createHmac("sha256", sub.authSecret).update(shared).digest();
  const ikm = createHmac("sha256", prkKey)
    .update(keyInfo)
    .update(Buffer.from([1]))
    .digest();
  const key = hkdf(sender.salt, ikm, "Content-Encoding: aes128gcm\0", 16);
  const nonce = hkdf(sender.salt, ikm, "Content-Encoding: nonce\0", 12);
  const header = Buffer.alloc(21);
  Buffer.from(sender.salt).copy(header);
  header.writeUInt32BE(rs, 16);
  header[20] = senderPublic.length;
  return new Uint8Array(Buffer.concat([header, senderPublic, sealRecords(key, nonce, records)]));
}

/** aesgcm128 (oldest draft) with caller-made record plaintexts (1-byte padding length included). */
export function aesgcm128FromRecords(
  sub: DecryptionKeys,
  records: Uint8Array[],
  rs: number,
  sender: Sender = makeSender(),
): EncryptedPush {
  const shared = sender.ecdh.computeSecret(sub.publicKey);
  const key = hkdf(sender.salt, shared, "Content-Encoding: aesgcm128", 16);
  const nonce = hkdf(sender.salt, shared, "Content-Encoding: nonce", 12);
  return {
    data: new Uint8Array(sealRecords(key, nonce, records)),
    headers: {
      encoding: "aesgcm128",
      encryption: `salt=${b64(sender.salt)};rs=${rs}`,
      encryption_key: `dh=${b64(sender.ecdh.getPublicKey())}`,
    },
  };
}

/** aesgcm (draft-04) with caller-made record plaintexts (2-byte padding length included). */
export function aesgcmFromRecords(
  sub: DecryptionKeys,
  records: Uint8Array[],
  rs: number,
  sender: Sender = makeSender(),
): EncryptedPush {
  const senderPublic = sender.ecdh.getPublicKey();
  const shared = sender.ecdh.computeSecret(sub.publicKey);
  const ikm = hkdf(sub.authSecret, shared, "Content-Encoding: auth\0", 32);
  const len = (k: Uint8Array) => Buffer.from([k.length >> 8, k.length & 0xff]);
  const context = Buffer.concat([
    Buffer.from("P-256\0"),
    len(sub.publicKey),
    sub.publicKey,
    len(senderPublic),
    senderPublic,
  ]);
  const key = hkdf(sender.salt, ikm, Buffer.concat([Buffer.from("Content-Encoding: aesgcm\0"), context]), 16);
  const nonce = hkdf(
    sender.salt,
    ikm,
    Buffer.concat([Buffer.from("Content-Encoding: nonce\0"), context]),
    12,
  );
  return {
    data: new Uint8Array(sealRecords(key, nonce, records)),
    headers: {
      encoding: "aesgcm",
      encryption: `salt=${b64(sender.salt)};rs=${rs}`,
      crypto_key: `dh=${b64(senderPublic)}`,
    },
  };
}

export const bytesOf = (...values: number[]) => new Uint8Array(values);
export const utf8 = (text: string) => new TextEncoder().encode(text);
export const fromB64 = (text: string) => new Uint8Array(Buffer.from(text, "base64url"));
export { b64 };
