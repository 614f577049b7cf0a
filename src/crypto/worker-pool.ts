/**
 * Decryption on worker threads (Node, Electron main): a small pool of workers, each running a
 * message's whole key schedule and its records with the node backend, as the main thread does,
 * so the ECDH of one message no longer blocks the main thread. One pool per thread count per
 * process, shared by every PushService, started on the first message; its workers are unref'd,
 * so an idle pool never keeps a process alive. Order, dedupe and acks stay with the delivery
 * pipeline: it awaits each message's decryption before its turn with the observers.
 *
 * The threads run decrypt-worker.ts, a module of this package: dist/crypto/decrypt-worker.js
 * from the built package, and from the sources (tsx, vitest) the .ts file with tsx as its loader.
 * Where the module cannot start (an app that bundled this file without it), the pool says so
 * once with a process warning and decrypts on the calling thread instead: nothing is lost.
 */

import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { CryptoBackend, DecryptJob, WorkerLease } from "./backend.ts";
import { badCrypto, DecryptError } from "./decrypt-error.ts";
import { MAX_DECRYPT_WORKERS, type WorkerReply, type WorkerRequest } from "./worker-messages.ts";

export { MAX_DECRYPT_WORKERS } from "./worker-messages.ts";

/** Starts one thread on decrypt-worker; replaced by tests. */
export type StartWorker = () => Worker;

/** The worker module beside this one: compiled JavaScript, or TypeScript run through tsx. */
export const startDecryptWorker: StartWorker = () => {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./decrypt-worker.js", import.meta.url));
  // From the sources the thread registers tsx itself: workers do not inherit the parent's module
  // hooks, and Node 20 ignores those a worker's --import or tsx's loader entry registers.
  const entry = new URL("./decrypt-worker.ts", import.meta.url).href;
  const boot = `import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true });
};

/** The file URL of tsx's ESM API (its `import` export; require.resolve would give the CommonJS one). */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve("tsx/package.json");
  const exports = (require(manifest) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(path.join(path.dirname(manifest), exports["./esm/api"]!.import.default)).href;
}

interface Pending {
  job: DecryptJob;
  resolve(plaintexts: Uint8Array[]): void;
  reject(error: Error): void;
}

/** How a worker ended: whether its module had loaded (or it was stopped), and the jobs it held. */
interface Death {
  started: boolean;
  error: Error;
  pending: Pending[];
}

class PoolWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #onDeath: (worker: PoolWorker, death: Death) => void;
  #started = false;
  #dead = false;

  constructor(start: StartWorker, onDeath: (worker: PoolWorker, death: Death) => void) {
    this.#onDeath = onDeath;
    this.#worker = start();
    this.#worker.unref();
    this.#worker.on("message", (reply: WorkerReply) => this.#settle(reply));
    this.#worker.on("error", (error) => this.#die(error));
    this.#worker.on("exit", () => this.#die(new Error("decrypt worker exited")));
  }

  get load(): number {
    return this.#pending.size;
  }

  run(id: number, job: DecryptJob): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { job, resolve, reject });
      this.#worker.postMessage({ id, job } satisfies WorkerRequest);
    });
  }

  /** A stopped worker counts as started: stopping is no reason to leave the threads. */
  terminate(): Promise<number> {
    this.#started = true;
    return this.#worker.terminate();
  }

  #settle(reply: WorkerReply): void {
    if ("ready" in reply) {
      this.#started = true;
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if ("error" in reply) pending.reject(new DecryptError(reply.error.code, reply.error.message));
    else pending.resolve(reply.plaintexts);
  }

  #die(error: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#onDeath(this, { started: this.#started, error, pending });
  }
}

/** The private key as it crosses to a thread: only what the backend reads of it. */
function wireJob(job: DecryptJob): DecryptJob {
  const { kty, crv, d } = job.privateKey ?? {};
  return { ...job, privateKey: { kty, crv, d } };
}

/**
 * A fixed number of workers; each job goes to the least loaded one. A worker that died while
 * working fails what it held (the messages stay unacked and come again); one whose module never
 * loaded hands its jobs, and every later one, to `base` on the calling thread.
 */
export class DecryptPool {
  readonly threads: number;
  readonly #base: CryptoBackend;
  readonly #start: StartWorker;
  #workers: PoolWorker[] = [];
  #nextId = 1;
  /** Why the worker module could not start; null while it can. */
  #startError: Error | null = null;

  constructor(threads: number, base: CryptoBackend, start: StartWorker = startDecryptWorker) {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_DECRYPT_WORKERS) {
      throw new RangeError(`decrypt workers must be an integer from 1 to ${MAX_DECRYPT_WORKERS}`);
    }
    this.threads = threads;
    this.#base = base;
    this.#start = start;
  }

  run(job: DecryptJob): Promise<Uint8Array[]> {
    if (this.#startError) return this.#onBase(job);
    return this.#pick().run(this.#nextId++, wireJob(job));
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

  async #onBase(job: DecryptJob): Promise<Uint8Array[]> {
    return this.#base.decryptRecords(job);
  }

  #pick(): PoolWorker {
    if (this.#workers.length < this.threads) {
      const worker = new PoolWorker(this.#start, (dead, death) => this.#buried(dead, death));
      this.#workers.push(worker);
      return worker;
    }
    let best = this.#workers[0]!;
    for (const worker of this.#workers) if (worker.load < best.load) best = worker;
    return best;
  }

  #buried(dead: PoolWorker, { started, error, pending }: Death): void {
    this.#workers = this.#workers.filter((w) => w !== dead);
    if (started) {
      for (const job of pending) job.reject(badCrypto("The decrypt worker failed", error));
      return;
    }
    if (!this.#startError) {
      this.#startError = error;
      process.emitWarning(
        `push-agent: decrypt worker threads could not start (${error.message}); decrypting on the main thread`,
        { code: "PUSH_AGENT_DECRYPT_WORKERS" },
      );
    }
    for (const { job, resolve, reject } of pending) this.#onBase(job).then(resolve, reject);
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
    entry = { pool: new DecryptPool(threads, base), leases: 0 };
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
