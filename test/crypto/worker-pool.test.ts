/**
 * The decrypt pool's threads: they run the package's worker module (decrypt-worker.ts, the node
 * backend's own code), a job decrypts on a thread and not on the caller's, a worker that dies
 * while working fails what it held, and a worker module that cannot start hands every job to
 * the calling thread with one process warning instead of losing it.
 */

import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import type { CryptoBackend, DecryptJob } from "../../src/crypto/backend.ts";
import { backend as nodeBackend } from "../../src/crypto/backend-node.ts";
import { decryptWith } from "../../src/crypto/decrypt.ts";
import { DecryptPool } from "../../src/crypto/worker-pool.ts";
import { encryptWithEce, makeSubscription } from "./helpers.ts";

const pools: DecryptPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

/** The node backend as the pool's fallback, counting the jobs the calling thread ran. */
const counting = () => {
  let jobs = 0;
  const base: CryptoBackend = {
    ...nodeBackend,
    decryptRecords: (job: DecryptJob) => {
      jobs++;
      return nodeBackend.decryptRecords(job);
    },
  };
  return { base, callerJobs: () => jobs };
};

function pool(threads: number, base: CryptoBackend = nodeBackend, start?: () => Worker): DecryptPool {
  const created = new DecryptPool(threads, base, start);
  pools.push(created);
  return created;
}

/** A backend whose decryptRecords is the pool's. */
const onPool = (decryptPool: DecryptPool): CryptoBackend => ({
  ...nodeBackend,
  onWorkers: undefined,
  decryptRecords: (job: DecryptJob) => decryptPool.run(job),
});

const encrypt = (sub: ReturnType<typeof makeSubscription>, text: string) =>
  encryptWithEce(sub, "aes128gcm", new TextEncoder().encode(text));
const text = (plaintext: Uint8Array) => Buffer.from(plaintext).toString();

function ourWarnings(): { list: () => Error[]; stop(): void } {
  const seen: Error[] = [];
  const listener = (warning: Error) => seen.push(warning);
  process.on("warning", listener);
  return {
    list: () => seen.filter((w) => (w as { code?: string }).code === "PUSH_AGENT_DECRYPT_WORKERS"),
    stop: () => process.off("warning", listener),
  };
}

describe("DecryptPool", () => {
  it("decrypts on its threads, which run the package's worker module", async () => {
    const warnings = ourWarnings();
    const { base, callerJobs } = counting();
    const real = pool(2, base);
    const sub = makeSubscription();
    const texts = Array.from({ length: 8 }, (_, i) => `message ${i}`);
    const plaintexts = await Promise.all(texts.map((t) => decryptWith(onPool(real), sub, encrypt(sub, t))));
    expect(plaintexts.map(text)).toEqual(texts);
    expect(real.running).toBe(2);
    expect(callerJobs()).toBe(0);
    warnings.stop();
    expect(warnings.list()).toEqual([]);
  });

  it("returns a DecryptError's code and message from the thread", async () => {
    const real = pool(1);
    const sub = makeSubscription();
    const push = encrypt(sub, "tampered");
    push.data[push.data.length - 1]! ^= 1;
    await expect(decryptWith(onPool(real), sub, push)).rejects.toMatchObject({
      name: "DecryptError",
      code: "BAD_CRYPTO",
      message: "Bad encryption",
    });
    expect(real.running).toBe(1);
  });

  it("fails the jobs of a worker that died while working; the next job starts a new one", async () => {
    let started = 0;
    const dying = pool(1, nodeBackend, () => {
      started++;
      // Loads, says so, then dies on its first job.
      return new Worker(
        `const { parentPort } = require("node:worker_threads");
         parentPort.postMessage({ ready: true });
         parentPort.on("message", () => process.exit(3));`,
        { eval: true },
      );
    });
    const sub = makeSubscription();
    const backend = onPool(dying);
    await expect(decryptWith(backend, sub, encrypt(sub, "x"))).rejects.toMatchObject({
      code: "BAD_CRYPTO",
      message: "The decrypt worker failed",
    });
    await expect(decryptWith(backend, sub, encrypt(sub, "y"))).rejects.toMatchObject({
      code: "BAD_CRYPTO",
    });
    expect(started).toBe(2);
  });

  it("decrypts on the calling thread, with one warning, when the worker module cannot start", async () => {
    const warnings = ourWarnings();
    const { base, callerJobs } = counting();
    let started = 0;
    const broken = pool(2, base, () => {
      started++;
      return new Worker(`throw new Error("Cannot find module decrypt-worker.js");`, { eval: true });
    });
    const sub = makeSubscription();
    const texts = ["one", "two", "three", "four"];
    const first = await Promise.all(texts.map((t) => decryptWith(onPool(broken), sub, encrypt(sub, t))));
    const later = await decryptWith(onPool(broken), sub, encrypt(sub, "later"));
    expect(first.map(text)).toEqual(texts);
    expect(text(later)).toBe("later");
    expect(callerJobs()).toBe(5);
    // No new thread once the module is known not to load.
    expect(started).toBeLessThanOrEqual(2);
    expect(broken.running).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    warnings.stop();
    expect(warnings.list()).toHaveLength(1);
    expect(warnings.list()[0]!.message).toContain("Cannot find module decrypt-worker.js");
  });
});
