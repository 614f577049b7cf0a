/**
 * The WebCrypto backend for browsers, Electron renderers and workers: `crypto.subtle`, or
 * @peculiar/webcrypto loaded lazily where a runtime has none. Imported private keys are cached
 * per subscription. Nothing here imports a Node built-in.
 */

import type { CryptoBackend, DecryptJob, GeneratedKeyPair } from "./backend.ts";
import { badCrypto, badSenderKey, DecryptError } from "./decrypt-error.ts";
import { KeyCache, privateKeyId } from "./key-cache.ts";
import { recordNonce } from "./nonce.ts";

const P256 = { name: "ECDH", namedCurve: "P-256" } as const;

interface WebCrypto {
  subtle: SubtleCrypto;
  getRandomValues<T extends ArrayBufferView | null>(array: T): T;
}

let cryptoPromise: Promise<WebCrypto> | undefined;

/** The runtime's WebCrypto, else @peculiar/webcrypto; resolved once, on first use. */
function webCrypto(): Promise<WebCrypto> {
  cryptoPromise ??= loadWebCrypto();
  return cryptoPromise;
}

/**
 * @peculiar/webcrypto is built on node:crypto. The specifier is a variable so bundlers leave it
 * out of browser bundles (browsers always have crypto.subtle); only a runtime without WebCrypto
 * ever loads it.
 */
const WEBCRYPTO_POLYFILL = "@peculiar/webcrypto";

async function loadWebCrypto(): Promise<WebCrypto> {
  const native = (globalThis as { crypto?: WebCrypto }).crypto;
  if (native?.subtle) return native;
  // Browsers hide crypto.subtle outside secure contexts; a polyfill there would only mislead.
  if ((globalThis as { isSecureContext?: boolean }).isSecureContext === false) {
    throw new Error("WebCrypto needs a secure context (https, localhost or file://); this page is not one");
  }
  try {
    const { Crypto } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ WEBCRYPTO_POLYFILL)) as {
      Crypto: new () => WebCrypto;
    };
    return new Crypto();
  } catch (cause) {
    throw new Error("No WebCrypto: crypto.subtle is missing and @peculiar/webcrypto could not be loaded", {
      cause,
    });
  }
}

/** WebCrypto takes ArrayBuffer-backed views only; copy the rare SharedArrayBuffer-backed one. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

const privateKeys = new KeyCache<Promise<CryptoKey>>();

/** Only the fields WebCrypto needs: stored JWKs may carry key_ops/ext that would clash. */
function importableJwk(jwk: JsonWebKey, d: string): JsonWebKey {
  return { kty: jwk.kty, crv: jwk.crv, d, x: jwk.x, y: jwk.y, ext: true };
}

function importPrivateKey(subtle: SubtleCrypto, jwk: JsonWebKey): Promise<CryptoKey> {
  const id = privateKeyId(jwk);
  if (id === null || jwk.kty !== "EC" || jwk.crv !== "P-256") {
    return Promise.reject(badCrypto("Invalid subscription private key"));
  }
  const cached = privateKeys.get(id);
  if (cached) return cached;
  const imported = subtle
    .importKey("jwk", importableJwk(jwk, id), P256, false, ["deriveBits"])
    .catch((cause) => {
      // A failed import must not stay cached: the next message would fail the same way for nothing.
      privateKeys.delete(id);
      throw badCrypto("Invalid subscription private key", cause);
    });
  privateKeys.set(id, imported);
  return imported;
}

async function sharedSecret(
  subtle: SubtleCrypto,
  privateKey: CryptoKey,
  sender: Uint8Array,
): Promise<Uint8Array> {
  let publicKey: CryptoKey;
  try {
    publicKey = await subtle.importKey("raw", own(sender), P256, false, []);
  } catch (cause) {
    throw badSenderKey(cause);
  }
  try {
    return new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256));
  } catch (cause) {
    throw badSenderKey(cause);
  }
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function hkdf(
  subtle: SubtleCrypto,
  salt: Uint8Array,
  ikm: Uint8Array,
  info: Uint8Array[],
  length: number,
): Promise<Uint8Array> {
  const key = await subtle.importKey("raw", own(ikm), "HKDF", false, ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-256", salt: own(salt), info: concat(info) };
  const bits = await subtle.deriveBits(params, key, length * 8);
  return new Uint8Array(bits);
}

async function decryptRecord(
  subtle: SubtleCrypto,
  cek: CryptoKey,
  nonce: Uint8Array,
  record: Uint8Array,
): Promise<Uint8Array> {
  try {
    return new Uint8Array(
      await subtle.decrypt({ name: "AES-GCM", iv: own(nonce), tagLength: 128 }, cek, own(record)),
    );
  } catch (cause) {
    throw badCrypto("Bad encryption", cause);
  }
}

async function decryptRecords(job: DecryptJob): Promise<Uint8Array[]> {
  const { subtle } = await webCrypto();
  const privateKey = await importPrivateKey(subtle, job.privateKey);
  const shared = await sharedSecret(subtle, privateKey, job.senderPublicKey);
  const ikm = job.authSecret ? await hkdf(subtle, job.authSecret, shared, job.authInfo, 32) : shared;
  const [cekBits, baseNonce] = await Promise.all([
    hkdf(subtle, job.salt, ikm, job.cekInfo, 16),
    hkdf(subtle, job.salt, ikm, job.nonceInfo, 12),
  ]);
  const cek = await subtle.importKey("raw", own(cekBits), "AES-GCM", false, ["decrypt"]);
  return Promise.all(
    job.records.map((record, i) => decryptRecord(subtle, cek, recordNonce(baseNonce, i), record)),
  );
}

async function generateKeyPair(): Promise<GeneratedKeyPair> {
  const { subtle } = await webCrypto();
  const pair = await subtle.generateKey(P256, true, ["deriveBits"]);
  const [raw, privateKey] = await Promise.all([
    subtle.exportKey("raw", pair.publicKey),
    subtle.exportKey("jwk", pair.privateKey),
  ]);
  return { publicKey: new Uint8Array(raw), privateKey };
}

async function randomBytes(length: number): Promise<Uint8Array> {
  const crypto = await webCrypto();
  return crypto.getRandomValues(new Uint8Array(length));
}

export const backend: CryptoBackend = {
  name: "web",
  generateKeyPair,
  randomBytes,
  async decryptRecords(job) {
    try {
      return await decryptRecords(job);
    } catch (error) {
      throw error instanceof DecryptError ? error : badCrypto("Bad encryption", error);
    }
  },
};
