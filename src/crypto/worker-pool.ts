/**
 * Decryption on worker threads (Node, Electron main): a small pool of workers, each running a
 * message's whole key schedule and its records, as the synchronous Node backend does, so the
 * ECDH of one message no longer blocks the main thread. One pool per thread count per process,
 * shared by every PushService, started on the first message; its workers are unref'd, so an
 * idle pool never keeps a process alive. Order, dedupe and acks stay with the delivery pipeline:
 * it awaits each message's decryption before its turn with the observers.
 *
 * The worker's code is a string run with `eval`: it needs nothing but node:crypto, so it works
 * the same from the sources, the compiled package and any bundle of it. The crypto test suites
 * run every vector on this backend too.
 */

import { Worker } from "node:worker_threads";
import type { CryptoBackend, DecryptJob, WorkerLease } from "./backend.ts";
import { decode } from "./base64url.ts";
import { badCrypto, DecryptError, type DecryptErrorCode } from "./decrypt-error.ts";
import { privateKeyId } from "./key-cache.ts";

/** The most threads a pool may have: decryption is CPU-bound, more than the cores only queues. */
export const MAX_DECRYPT_WORKERS = 16;

const WORKER_SOURCE = `
"use strict";
const { parentPort } = require("node:worker_threads");
const { createECDH, createHmac, createDecipheriv } = require("node:crypto");
const TAG_LENGTH = 16;
const ONE = new Uint8Array([1]);
const CACHE_LIMIT = 512;
const keys = new Map();

const ecdhFor = (d) => {
  const cached = keys.get(d);
  if (cached) {
    keys.delete(d);
    keys.set(d, cached);
    return cached;
  }
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(d, "base64url"));
  keys.set(d, ecdh);
  if (keys.size > CACHE_LIMIT) keys.delete(keys.keys().next().value);
  return ecdh;
};
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();
const expand = (prk, info, length) => {
  const mac = createHmac("sha256", prk);
  for (const part of info) mac.update(part);
  return mac.update(ONE).digest().subarray(0, length);
};
const recordNonce = (base, seq) => {
  const nonce = new Uint8Array(base);
  let rest = seq;
  for (let i = nonce.length - 1; i >= nonce.length - 6 && rest > 0; i--) {
    nonce[i] ^= rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return nonce;
};
const fail = (code, message) => Object.assign(new Error(message), { code });

const decryptRecords = (job) => {
  let ecdh;
  try {
    ecdh = ecdhFor(job.d);
  } catch {
    throw fail("BAD_CRYPTO", "Invalid subscription private key");
  }
  let shared;
  try {
    shared = ecdh.computeSecret(job.senderPublicKey);
  } catch {
    throw fail("BAD_DH_PARAM", "Invalid sender public key");
  }
  const ikm = job.authSecret ? expand(hmac(job.authSecret, shared), job.authInfo, 32) : shared;
  const prk = hmac(job.salt, ikm);
  const cek = expand(prk, job.cekInfo, 16);
  const baseNonce = expand(prk, job.nonceInfo, 12);
  const out = [];
  for (let i = 0; i < job.records.length; i++) {
    const record = job.records[i];
    const end = record.length - TAG_LENGTH;
    try {
      const decipher = createDecipheriv("aes-128-gcm", cek, i === 0 ? baseNonce : recordNonce(baseNonce, i));
      decipher.setAuthTag(record.subarray(end));
      const plaintext = decipher.update(record.subarray(0, end));
      decipher.final();
      out.push(new Uint8Array(plaintext));
    } catch {
      throw fail("BAD_CRYPTO", "Bad encryption");
    }
  }
  return out;
};

parentPort.on("message", (message) => {
  try {
    const plaintexts = decryptRecords(message.job);
    parentPort.postMessage({ id: message.id, plaintexts }, plaintexts.map((p) => p.buffer));
  } catch (error) {
    parentPort.postMessage({
      id: message.id,
      error: { code: error.code || "BAD_CRYPTO", message: error.code ? error.message : "Bad encryption" },
    });
  }
});
`;

/** A job as it crosses to a worker: the private key reduced to its scalar. */
interface WireJob extends Omit<DecryptJob, "privateKey"> {
  d: string;
}

type WorkerReply =
  | { id: number; plaintexts: Uint8Array[] }
  | { id: number; error: { code: DecryptErrorCode; message: string } };

interface Pending {
  resolve(plaintexts: Uint8Array[]): void;
  reject(error: Error): void;
}

class PoolWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #onDeath: (worker: PoolWorker) => void;

  constructor(onDeath: (worker: PoolWorker) => void) {
    this.#onDeath = onDeath;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true });
    this.#worker.unref();
    this.#worker.on("message", (reply: WorkerReply) => this.#settle(reply));
    this.#worker.on("error", (error) => this.#die(error));
    this.#worker.on("exit", () => this.#die(new Error("decrypt worker exited")));
  }

  get load(): number {
    return this.#pending.size;
  }

  run(id: number, job: WireJob): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, job });
    });
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if ("error" in reply) pending.reject(new DecryptError(reply.error.code, reply.error.message));
    else pending.resolve(reply.plaintexts);
  }

  /** A worker that died fails what it held (the messages stay unacked and come again). */
  #die(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#onDeath(this);
    for (const job of pending) job.reject(badCrypto("The decrypt worker failed", error));
  }
}

/** A fixed number of workers; each job goes to the least loaded one. */
export class DecryptPool {
  readonly threads: number;
  #workers: PoolWorker[] = [];
  #nextId = 1;

  constructor(threads: number) {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_DECRYPT_WORKERS) {
      throw new RangeError(`decrypt workers must be an integer from 1 to ${MAX_DECRYPT_WORKERS}`);
    }
    this.threads = threads;
  }

  run(job: DecryptJob): Promise<Uint8Array[]> {
    const d = privateKeyId(job.privateKey);
    // The same checks as the synchronous backend, before anything crosses to a thread.
    if (d === null || job.privateKey.kty !== "EC" || job.privateKey.crv !== "P-256") {
      return Promise.reject(badCrypto("Invalid subscription private key"));
    }
    try {
      if (decode(d).length !== 32) throw new Error("P-256 private key must be 32 bytes");
    } catch (cause) {
      return Promise.reject(badCrypto("Invalid subscription private key", cause));
    }
    const { privateKey: _, ...rest } = job;
    return this.#pick().run(this.#nextId++, { ...rest, d });
  }

  get running(): number {
    return this.#workers.length;
  }

  /** Stops the workers; the next job starts new ones. */
  async close(): Promise<void> {
    const workers = this.#workers;
    this.#workers = [];
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  #pick(): PoolWorker {
    if (this.#workers.length < this.threads) {
      const worker = new PoolWorker((dead) => {
        this.#workers = this.#workers.filter((w) => w !== dead);
      });
      this.#workers.push(worker);
      return worker;
    }
    let best = this.#workers[0]!;
    for (const worker of this.#workers) if (worker.load < best.load) best = worker;
    return best;
  }
}

const pools = new Map<number, { pool: DecryptPool; leases: number }>();

/**
 * A lease on the process's pool of `threads` workers, as a backend like `base` whose
 * decryptRecords runs on the pool. The workers stop when the last lease is released.
 */
export function leaseDecryptPool(base: CryptoBackend, threads: number): WorkerLease {
  let entry = pools.get(threads);
  if (!entry) {
    entry = { pool: new DecryptPool(threads), leases: 0 };
    pools.set(threads, entry);
  }
  entry.leases++;
  const { pool } = entry;
  let released = false;
  return {
    backend: {
      name: base.name,
      generateKeyPair: () => base.generateKeyPair(),
      randomBytes: (length) => base.randomBytes(length),
      decryptRecords: (job) => pool.run(job),
    },
    release() {
      if (released) return;
      released = true;
      const current = pools.get(threads);
      if (!current || current.pool !== pool || --current.leases > 0) return;
      pools.delete(threads);
      void pool.close();
    },
  };
}

/** Worker threads running in every pool of the process (diagnostics and tests). */
export function runningDecryptWorkers(): number {
  let running = 0;
  for (const { pool } of pools.values()) running += pool.running;
  return running;
}
