/**
 * Decryption throughput: messages per second for 3 KB aes128gcm and aesgcm messages on the node and
 * web backends, beside the raw P-256 ECDH rate of node:crypto in the same process (the ceiling:
 * every message costs one ECDH) and http_ece's decrypt for comparison.
 */

import { createECDH, type ECDH } from "node:crypto";
import * as ece from "http_ece";
import type { CryptoBackend } from "../src/crypto/backend.ts";
import { backend as nodeBackend } from "../src/crypto/backend-node.ts";
import { backend as webBackend } from "../src/crypto/backend-web.ts";
import { decode } from "../src/crypto/base64url.ts";
import { createDecryptor, type EncryptedPush } from "../src/crypto/decrypt.ts";

const PAYLOAD_BYTES = 3 * 1024;
/** Distinct messages (each with its own sender key, as real pushes have), used round-robin. */
const POOL = 64;
const RUNS = 7;
const RUN_MS = 600;

type Encoding = "aes128gcm" | "aesgcm";

interface Message {
  push: EncryptedPush;
  salt: Buffer;
  dh: Buffer;
}

interface Subscription {
  publicKey: Uint8Array;
  privateKey: JsonWebKey;
  authSecret: Uint8Array;
  ecdh: ECDH;
}

async function subscription(): Promise<Subscription> {
  const pair = await nodeBackend.generateKeyPair();
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(decode(pair.privateKey.d!));
  return { ...pair, authSecret: await nodeBackend.randomBytes(16), ecdh };
}

function encryptPool(sub: Subscription, encoding: Encoding): Message[] {
  return Array.from({ length: POOL }, () => {
    const sender = createECDH("prime256v1");
    const dh = sender.generateKeys();
    const salt = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
    const data = ece.encrypt(Buffer.alloc(PAYLOAD_BYTES, 0x61), {
      version: encoding,
      dh: Buffer.from(sub.publicKey),
      privateKey: sender,
      salt,
      authSecret: Buffer.from(sub.authSecret),
    });
    const headers =
      encoding === "aes128gcm"
        ? { encoding }
        : {
            encoding,
            encryption: `salt=${salt.toString("base64url")}`,
            crypto_key: `dh=${dh.toString("base64url")}`,
          };
    return { push: { data: new Uint8Array(data), headers }, salt, dh };
  });
}

interface Rate {
  /** Calls per wall-clock second. */
  wall: number;
  /** Calls per second of this process's CPU time (all threads): steadier on a shared machine. */
  cpu: number;
}

/** One run of RUN_MS; awaits only when the call returns a promise. */
async function rate(call: (i: number) => unknown): Promise<Rate> {
  let n = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let now = start;
  while (now - start < RUN_MS) {
    const result = call(n);
    if (result instanceof Promise) await result;
    n++;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpuStart);
  return { wall: (n * 1000) / (now - start), cpu: (n * 1e6) / (cpu.user + cpu.system) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function benchDecrypt(): Promise<Record<string, number>> {
  const sub = await subscription();
  const pools = { aes128gcm: encryptPool(sub, "aes128gcm"), aesgcm: encryptPool(sub, "aesgcm") };
  const senders = pools.aes128gcm.map((m) => m.push.data.subarray(21, 86));
  const backends: [string, CryptoBackend][] = [
    ["node", nodeBackend],
    ["web", webBackend],
  ];

  const cases: Record<string, (i: number) => unknown> = {
    ecdh_raw_node: (i) => sub.ecdh.computeSecret(senders[i % POOL]!),
  };
  for (const [name, backend] of backends) {
    const decrypt = createDecryptor(backend);
    for (const encoding of ["aes128gcm", "aesgcm"] as const) {
      cases[`${encoding}_3k_${name}`] = (i) => decrypt(sub, pools[encoding][i % POOL]!.push);
    }
  }
  cases.aes128gcm_3k_http_ece = (i) =>
    ece.decrypt(Buffer.from(pools.aes128gcm[i % POOL]!.push.data), {
      version: "aes128gcm",
      privateKey: sub.ecdh,
      authSecret: Buffer.from(sub.authSecret),
    });
  cases.aesgcm_3k_http_ece = (i) => {
    const message = pools.aesgcm[i % POOL]!;
    return ece.decrypt(Buffer.from(message.push.data), {
      version: "aesgcm",
      privateKey: sub.ecdh,
      authSecret: Buffer.from(sub.authSecret),
      dh: message.dh,
      salt: message.salt,
    });
  };

  // Warm up (JIT, key caches), then interleave the runs so every case sees the same machine state.
  for (const call of Object.values(cases)) for (let i = 0; i < 200; i++) await call(i);
  const samples: Record<string, Rate[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, call] of Object.entries(cases)) samples[name]!.push(await rate(call));
  }

  const results: Record<string, number> = {};
  for (const [name, runs] of Object.entries(samples))
    results[name] = Math.round(median(runs.map((r) => r.wall)));
  // The target: the node backend at >= 85% of raw ECDH. Ratios are taken run by run (each run of a
  // case sits next to a run of raw ECDH), then the median; the _cpu variants use CPU time.
  for (const encoding of ["aes128gcm", "aesgcm"]) {
    const ours = samples[`${encoding}_3k_node`]!;
    const ecdh = samples.ecdh_raw_node!;
    results[`${encoding}_node_vs_ecdh`] = round(median(ours.map((r, i) => r.wall / ecdh[i]!.wall)));
    results[`${encoding}_node_vs_ecdh_cpu`] = round(median(ours.map((r, i) => r.cpu / ecdh[i]!.cpu)));
  }
  return results;
}

const round = (ratio: number) => Math.round(ratio * 1000) / 1000;
