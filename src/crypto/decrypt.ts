/**
 * Push message decryption: aes128gcm (RFC 8188 + RFC 8291), aesgcm (draft-ietf-webpush-encryption-04)
 * and aesgcm128 (the oldest draft). This file owns header parsing, record splitting and padding;
 * a backend (node:crypto or WebCrypto, picked by `#crypto-backend`) runs the key schedule and AES-GCM.
 * Every failure rejects with a DecryptError whose message says what is wrong, as Firefox's do.
 */

import { backend as defaultBackend } from "#crypto-backend";
import type { JsonWebKeyLike } from "../web-types.ts";
import type { CryptoBackend, DecryptJob } from "./backend.ts";
import { Base64urlError, decode } from "./base64url.ts";
import { badCrypto, DecryptError } from "./decrypt-error.ts";
import { parseEncryptionHeader, parseKeyHeader, selectSenderKey } from "./header-params.ts";

export { DecryptError, type DecryptErrorCode } from "./decrypt-error.ts";

/** The `headers` of an autopush notification frame. */
export interface PushHeaders {
  encoding?: string;
  encryption?: string;
  crypto_key?: string;
  encryption_key?: string;
}

export interface EncryptedPush {
  data: Uint8Array;
  headers: PushHeaders | null | undefined;
}

/** What decryption needs of a subscription (a SubscriptionKeys fits). */
export interface DecryptionKeys {
  /** The subscription's 65-byte uncompressed P-256 public key (p256dh). */
  publicKey: Uint8Array;
  privateKey: JsonWebKeyLike;
  authSecret: Uint8Array;
}

export type Decryptor = (keys: DecryptionKeys, push: EncryptedPush) => Promise<Uint8Array>;

const TAG_LENGTH = 16;
const KEY_LENGTH = 65;
const SALT_LENGTH = 16;
const AES128GCM_HEADER = 21;
/** draft-ietf-httpbis-encryption-encoding: rs is at most 2^36 - 31. */
const MAX_LEGACY_RS = 68719476705;
const DEFAULT_LEGACY_RS = 4096;

const utf8 = new TextEncoder();
const bytes = (text: string) => utf8.encode(text);

const INFO = {
  webpush: bytes("WebPush: info\0"),
  aes128gcm: bytes("Content-Encoding: aes128gcm\0"),
  nonce: bytes("Content-Encoding: nonce\0"),
  auth: bytes("Content-Encoding: auth\0"),
  aesgcm: bytes("Content-Encoding: aesgcm\0"),
  p256: bytes("P-256\0"),
  aesgcm128: bytes("Content-Encoding: aesgcm128"),
  nonce128: bytes("Content-Encoding: nonce"),
};

/** A parsed message: the backend's job and how to strip each record's padding. */
interface Plan {
  job: DecryptJob;
  unpad: (plaintext: Uint8Array, last: boolean) => Uint8Array;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The 2-byte big-endian length of a 65-byte key, as the aesgcm context spells it. */
const KEY_LENGTH_PREFIX = new Uint8Array([0, KEY_LENGTH]);

function checkSenderKey(key: Uint8Array): Uint8Array {
  if (key.length !== KEY_LENGTH || key[0] !== 0x04) {
    throw new DecryptError("BAD_DH_PARAM", "Invalid sender public key");
  }
  return key;
}

// --- aes128gcm -------------------------------------------------------------------------------

function unpadAes128gcm(plaintext: Uint8Array, last: boolean): Uint8Array {
  let i = plaintext.length - 1;
  while (i >= 0 && plaintext[i] === 0) i--;
  if (i < 0) throw new DecryptError("BAD_PADDING", "Zero plaintext");
  if (plaintext[i] !== (last ? 2 : 1)) throw new DecryptError("BAD_PADDING", "Padding is wrong!");
  return plaintext.subarray(0, i);
}

function planAes128gcm(keys: DecryptionKeys, data: Uint8Array): Plan {
  if (data.length < AES128GCM_HEADER) throw badCrypto("Truncated header");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const salt = data.subarray(0, SALT_LENGTH);
  const rs = view.getUint32(SALT_LENGTH);
  const idlen = data[20]!;
  if (rs < 18) throw new DecryptError("BAD_RS_PARAM", "Record sizes smaller than 18 are invalid");
  if (idlen !== KEY_LENGTH) throw new DecryptError("BAD_DH_PARAM", "Invalid sender public key");
  const start = AES128GCM_HEADER + KEY_LENGTH;
  if (data.length <= start) throw badCrypto("Truncated payload");
  const sender = checkSenderKey(data.subarray(AES128GCM_HEADER, start));
  const records: Uint8Array[] = [];
  for (let offset = start; offset < data.length; offset += rs) {
    records.push(data.subarray(offset, Math.min(offset + rs, data.length)));
  }
  // Only the last record can be short; it still needs a tag and a delimiter.
  if (records[records.length - 1]!.length <= TAG_LENGTH) throw badCrypto("Truncated payload");
  return {
    job: {
      privateKey: keys.privateKey,
      senderPublicKey: sender,
      authSecret: keys.authSecret,
      authInfo: [INFO.webpush, keys.publicKey, sender],
      salt,
      cekInfo: [INFO.aes128gcm],
      nonceInfo: [INFO.nonce],
      records,
    },
    unpad: unpadAes128gcm,
  };
}

// --- aesgcm and aesgcm128 --------------------------------------------------------------------

interface LegacyScheme {
  padSize: 1 | 2;
  keyHeader: "crypto_key" | "encryption_key";
  missingKeyHeader: DecryptError;
  plan(keys: DecryptionKeys, sender: Uint8Array, salt: Uint8Array): Omit<DecryptJob, "records">;
}

const AESGCM: LegacyScheme = {
  padSize: 2,
  keyHeader: "crypto_key",
  get missingKeyHeader() {
    return new DecryptError("BAD_CRYPTO_KEY_HEADER", "Missing Crypto-Key header");
  },
  plan(keys, sender, salt) {
    // Both keys are 65 bytes (checked), so their length prefixes are the same constant.
    const context = [INFO.p256, KEY_LENGTH_PREFIX, keys.publicKey, KEY_LENGTH_PREFIX, sender];
    return {
      privateKey: keys.privateKey,
      senderPublicKey: sender,
      authSecret: keys.authSecret,
      authInfo: [INFO.auth],
      salt,
      cekInfo: [INFO.aesgcm, ...context],
      nonceInfo: [INFO.nonce, ...context],
    };
  },
};

const AESGCM128: LegacyScheme = {
  padSize: 1,
  keyHeader: "encryption_key",
  get missingKeyHeader() {
    return new DecryptError("BAD_ENCRYPTION_KEY_HEADER", "Missing Encryption-Key header");
  },
  // The oldest draft has no auth secret and no key context.
  plan(keys, sender, salt) {
    return {
      privateKey: keys.privateKey,
      senderPublicKey: sender,
      authSecret: null,
      authInfo: [],
      salt,
      cekInfo: [INFO.aesgcm128],
      nonceInfo: [INFO.nonce128],
    };
  },
};

/** dh and salt are base64url without padding; autopush strips `=`, so padding means tampering. */
function decodeParam(value: string, error: () => DecryptError): Uint8Array {
  try {
    return decode(value, { padding: "reject" });
  } catch (cause) {
    if (cause instanceof Base64urlError) throw error();
    throw cause;
  }
}

function parseRecordSize(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LEGACY_RS;
  const rs = /^[0-9]{1,12}$/.test(value) ? Number(value) : Number.NaN;
  if (!(rs >= 1 && rs <= MAX_LEGACY_RS)) throw new DecryptError("BAD_RS_PARAM", "Invalid rs parameter");
  return rs;
}

function headerText(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function unpadLegacy(padSize: 1 | 2) {
  return (plaintext: Uint8Array): Uint8Array => {
    if (plaintext.length < padSize) throw new DecryptError("BAD_PADDING", "Decoded array is too short!");
    const pad = padSize === 2 ? (plaintext[0]! << 8) | plaintext[1]! : plaintext[0]!;
    if (pad > plaintext.length - padSize) throw new DecryptError("BAD_PADDING", "Padding is wrong!");
    for (let i = padSize; i < padSize + pad; i++) {
      if (plaintext[i] !== 0) throw new DecryptError("BAD_PADDING", "Padding is wrong!");
    }
    return plaintext.subarray(padSize + pad);
  };
}

function planLegacy(
  keys: DecryptionKeys,
  data: Uint8Array,
  headers: PushHeaders,
  scheme: LegacyScheme,
): Plan {
  const keyHeader = headerText(headers[scheme.keyHeader]);
  if (keyHeader === undefined) throw scheme.missingKeyHeader;
  const encryptionHeader = headerText(headers.encryption);
  if (encryptionHeader === undefined) {
    throw new DecryptError("BAD_ENCRYPTION_HEADER", "Missing encryption header");
  }
  const encryption = parseEncryptionHeader(encryptionHeader);
  const dhText = selectSenderKey(parseKeyHeader(keyHeader), encryption.get("keyid"));
  const saltText = encryption.get("salt");
  if (!dhText) throw new DecryptError("BAD_DH_PARAM", "Missing dh parameter");
  if (!saltText) throw new DecryptError("BAD_SALT_PARAM", "Missing salt parameter");
  const rs = parseRecordSize(encryption.get("rs"));
  const sender = checkSenderKey(
    decodeParam(dhText, () => new DecryptError("BAD_DH_PARAM", "Invalid dh parameter")),
  );
  const salt = decodeParam(saltText, () => new DecryptError("BAD_SALT_PARAM", "Invalid salt parameter"));
  if (salt.length !== SALT_LENGTH) throw new DecryptError("BAD_SALT_PARAM", "Invalid salt parameter");

  // A record is rs bytes of padded plaintext plus its tag. A message that ends exactly on a record
  // boundary has lost its final (possibly padding-only) record. That includes an empty body:
  // Firefox takes it as "no data", but autopush never relays encryption headers without a body,
  // so only a truncated message looks like that, and truncation must not yield a plaintext.
  const chunk = rs + TAG_LENGTH;
  if (data.length % chunk === 0) throw badCrypto("Encrypted data truncated");
  const records: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += chunk) {
    records.push(data.subarray(offset, Math.min(offset + chunk, data.length)));
  }
  if (records[records.length - 1]!.length < TAG_LENGTH) throw badCrypto("Encrypted data truncated");
  return { job: { ...scheme.plan(keys, sender, salt), records }, unpad: unpadLegacy(scheme.padSize) };
}

// --- entry points ----------------------------------------------------------------------------

function checkInputs(keys: DecryptionKeys, push: EncryptedPush): void {
  if (!(push.data instanceof Uint8Array)) throw new DecryptError("BAD_DATA", "Push data is not a byte array");
  if (
    !keys ||
    !(keys.publicKey instanceof Uint8Array) ||
    keys.publicKey.length !== KEY_LENGTH ||
    !(keys.authSecret instanceof Uint8Array) ||
    typeof keys.privateKey !== "object" ||
    keys.privateKey === null
  ) {
    throw badCrypto("Invalid subscription keys");
  }
}

function plan(keys: DecryptionKeys, push: EncryptedPush): Plan {
  const headers = push?.headers;
  const encoding = headerText(headers?.encoding);
  if (!headers || encoding === undefined) {
    throw new DecryptError("BAD_ENCODING_HEADER", "Missing Content-Encoding header");
  }
  checkInputs(keys, push);
  switch (encoding.trim().toLowerCase()) {
    case "aes128gcm":
      return planAes128gcm(keys, push.data);
    case "aesgcm":
      return planLegacy(keys, push.data, headers, AESGCM);
    case "aesgcm128":
      return planLegacy(keys, push.data, headers, AESGCM128);
    default:
      throw new DecryptError("BAD_ENCODING_HEADER", `Unsupported Content-Encoding: ${encoding}`);
  }
}

function asDecryptError(error: unknown): DecryptError {
  return error instanceof DecryptError ? error : badCrypto("Bad encryption", error);
}

function finish(plaintexts: Uint8Array[], unpad: Plan["unpad"]): Uint8Array {
  // The common single record needs no copy: backends hand out plaintexts that own their memory.
  if (plaintexts.length === 1) return unpad(plaintexts[0]!, true);
  const last = plaintexts.length - 1;
  // Unpad every record before returning anything: a bad record fails the whole message.
  return concat(plaintexts.map((plaintext, i) => unpad(plaintext, i === last)));
}

/**
 * Decrypts with an explicit backend; every failure is a DecryptError. Not an async function: with
 * the synchronous Node backend the returned promise is the only async step of a message.
 */
export function decryptWith(
  backend: CryptoBackend,
  keys: DecryptionKeys,
  push: EncryptedPush,
): Promise<Uint8Array> {
  try {
    const { job, unpad } = plan(keys, push);
    const result = backend.decryptRecords(job);
    if (result instanceof Promise) {
      return result.then(
        (plaintexts) => finish(plaintexts, unpad),
        (error: unknown) => Promise.reject(asDecryptError(error)),
      );
    }
    return Promise.resolve(finish(result, unpad));
  } catch (error) {
    return Promise.reject(asDecryptError(error));
  }
}

/** A decrypt function bound to one backend (tests run every case on both). */
export function createDecryptor(backend: CryptoBackend): Decryptor {
  return (keys, push) => decryptWith(backend, keys, push);
}

/** Decrypts a push message for a subscription with the runtime's backend. */
export function decrypt(keys: DecryptionKeys, push: EncryptedPush): Promise<Uint8Array> {
  return decryptWith(defaultBackend, keys, push);
}
