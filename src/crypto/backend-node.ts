/**
 * The node:crypto backend: ECDH, HKDF (HMAC-SHA-256 steps) and AES-128-GCM, all synchronous, so a
 * whole message costs one ECDH plus a few microseconds. Chosen through `#crypto-backend` on Node
 * and Electron main; the browser bundle never reaches this file. The decrypt worker threads
 * (decrypt-worker.ts) run this same code. The ECDH path is the runtime's fastest (ecdh-node.ts).
 */

import { createDecipheriv, createECDH, createHmac, randomBytes } from "node:crypto";
import type { CryptoBackend, DecryptJob, GeneratedKeyPair } from "./backend.ts";
import { decode } from "./base64url.ts";
import { badCrypto, DecryptError } from "./decrypt-error.ts";
import { chooseEcdhPath, type EcdhPath } from "./ecdh-node.ts";
import { KeyCache, privateKeyId } from "./key-cache.ts";
import { recordNonce } from "./nonce.ts";
import { leaseDecryptPool } from "./worker-pool.ts";

const TAG_LENGTH = 16;
const ONE = new Uint8Array([1]);

function hmac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** HKDF-Expand for one block (length <= 32): T(1) = HMAC(prk, info || 0x01). */
function expand(prk: Uint8Array, info: Uint8Array[], length: number): Buffer {
  const mac = createHmac("sha256", prk);
  for (const part of info) mac.update(part);
  return mac.update(ONE).digest().subarray(0, length);
}

/**
 * Node allocates a decipher's output outside its Buffer pool today; should a version ever hand
 * out a pooled slice, copy it rather than expose the pool's other bytes through `.buffer`.
 */
function owned(buffer: Buffer): Uint8Array {
  const exclusive = buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.length;
  return exclusive ? new Uint8Array(buffer.buffer, 0, buffer.length) : new Uint8Array(buffer);
}

/** A message's key schedule on one ECDH path, with that path's private keys cached by `d`. */
class Schedule<K> {
  readonly #path: EcdhPath<K>;
  readonly #keys = new KeyCache<K>();

  constructor(path: EcdhPath<K>) {
    this.#path = path;
  }

  sharedSecret(jwk: JsonWebKey, senderPublicKey: Uint8Array): Buffer {
    return this.#path.derive(this.#privateKey(jwk), senderPublicKey);
  }

  #privateKey(jwk: JsonWebKey): K {
    const id = privateKeyId(jwk);
    if (id === null || jwk.kty !== "EC" || jwk.crv !== "P-256") {
      throw badCrypto("Invalid subscription private key");
    }
    const cached = this.#keys.get(id);
    if (cached !== undefined) return cached;
    let d: Uint8Array;
    try {
      d = decode(id);
    } catch (cause) {
      throw badCrypto("Invalid subscription private key", cause);
    }
    if (d.length !== 32) throw badCrypto("Invalid subscription private key");
    const key = this.#path.importPrivate(d);
    this.#keys.set(id, key);
    return key;
  }
}

function decryptRecord(cek: Uint8Array, nonce: Uint8Array, record: Uint8Array): Uint8Array {
  const end = record.length - TAG_LENGTH;
  try {
    const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
    decipher.setAuthTag(record.subarray(end));
    const plaintext = decipher.update(record.subarray(0, end));
    decipher.final();
    return owned(plaintext);
  } catch (cause) {
    throw badCrypto("Bad encryption", cause);
  }
}

function decryptRecords(schedule: Schedule<unknown>, job: DecryptJob): Uint8Array[] {
  const shared = schedule.sharedSecret(job.privateKey, job.senderPublicKey);
  const ikm = job.authSecret ? expand(hmac(job.authSecret, shared), job.authInfo, 32) : shared;
  const prk = hmac(job.salt, ikm);
  const cek = expand(prk, job.cekInfo, 16);
  const baseNonce = expand(prk, job.nonceInfo, 12);
  const out: Uint8Array[] = [];
  for (let i = 0; i < job.records.length; i++) {
    const nonce = i === 0 ? baseNonce : recordNonce(baseNonce, i);
    out.push(decryptRecord(cek, nonce, job.records[i]!));
  }
  return out;
}

const PRIVATE_KEY_LENGTH = 32;

/** Big-endian scalar left-padded to 32 bytes (a raw ECDH private key may come without its leading zeros). */
function scalar(bytes: Buffer): Buffer {
  if (bytes.length === PRIVATE_KEY_LENGTH) return bytes;
  const padded = Buffer.alloc(PRIVATE_KEY_LENGTH);
  bytes.copy(padded, PRIVATE_KEY_LENGTH - bytes.length);
  return padded;
}

/**
 * Raw ECDH keys, the JWK fields built from them. Never generateKeyPairSync("ec") with a JWK export:
 * on Node 20 a GC inside KeyObject.export can run a KeyGenJob's destructor, which waits on a lock
 * the export holds, and the process hangs for good. createECDH takes no such path.
 */
function generateKeyPair(): Promise<GeneratedKeyPair> {
  const ecdh = createECDH("prime256v1");
  const point = ecdh.generateKeys();
  const d = scalar(ecdh.getPrivateKey()).toString("base64url");
  const privateKey: JsonWebKey = {
    kty: "EC",
    crv: "P-256",
    d,
    x: point.subarray(1, 33).toString("base64url"),
    y: point.subarray(33, 65).toString("base64url"),
  };
  const publicKey = new Uint8Array(65);
  publicKey.set(point);
  return Promise.resolve({ publicKey, privateKey });
}

export interface NodeBackend extends CryptoBackend {
  readonly name: "node";
  /** The ECDH path its decryptRecords takes. */
  readonly ecdhPath: EcdhPath["name"];
  /** Synchronous: a worker thread posts its result as is, and decryptWith takes no promise step. */
  decryptRecords(job: DecryptJob): Uint8Array[];
}

/** The node backend on a given ECDH path, without worker threads (tests and benchmarks compare the paths). */
export function nodeBackendOn(path: EcdhPath): NodeBackend {
  const schedule = new Schedule(path);
  return {
    name: "node",
    ecdhPath: path.name,
    generateKeyPair,
    randomBytes: (length) => Promise.resolve(new Uint8Array(randomBytes(length))),
    decryptRecords(job) {
      try {
        return decryptRecords(schedule, job);
      } catch (error) {
        throw error instanceof DecryptError ? error : badCrypto("Bad encryption", error);
      }
    },
  };
}

/**
 * The runtime's backend: its fastest ECDH path, and worker threads on request. Each thread loads
 * this module too (decrypt-worker.ts), so it decrypts with the same code on the same path.
 */
const mainThread = nodeBackendOn(chooseEcdhPath());
export const backend: NodeBackend = {
  ...mainThread,
  onWorkers: (threads) => leaseDecryptPool(mainThread, threads),
};
