/**
 * Decryption throughput: messages per second for 3 KB aes128gcm and aesgcm messages on the node and
 * web backends, beside the raw P-256 ECDH rates of node:crypto in the same process, each way this
 * runtime offers (the ceiling: every message costs one ECDH; ecdh-paths.ts), and http_ece's
 * decrypt for comparison. The node backend also runs on each of its ECDH paths, and the HKDF as
 * HMAC steps beside one-call hkdfSync: the figures ecdh-node.ts's choice rests on.
 * BENCH_DECRYPT_RUNS and BENCH_DECRYPT_MS narrow a run (the per-runtime bench does).
 */

import { createECDH, createHmac, type ECDH, hkdfSync } from "node:crypto";
import * as ece from "http_ece";
import type { CryptoBackend } from "../src/crypto/backend.ts";
import { backend as nodeBackend, nodeBackendOn } from "../src/crypto/backend-node.ts";
import { backend as webBackend } from "../src/crypto/backend-web.ts";
import { decode } from "../src/crypto/base64url.ts";
import { createDecryptor, type EncryptedPush } from "../src/crypto/decrypt.ts";
import { ECDH_OBJECT, type EcdhPath, KEYOBJECT_RAW, KEYOBJECT_SPKI } from "../src/crypto/ecdh-node.ts";
import { PER_MESSAGE, rawEcdhCases } from "./ecdh-paths.ts";

const PAYLOAD_BYTES = 3 * 1024;
/** Distinct messages (each with its own sender key, as real pushes have), used round-robin. */
const POOL = 64;
const RUNS = Number(process.env.BENCH_DECRYPT_RUNS ?? 7);
const RUN_MS = Number(process.env.BENCH_DECRYPT_MS ?? 600);

/** The node backend's ECDH paths on this runtime, by result-key suffix. */
const PATHS: [string, EcdhPath | null][] = [
  ["computesecret", ECDH_OBJECT as EcdhPath],
  ["keyobject_spki", KEYOBJECT_SPKI as EcdhPath],
  ["keyobject_raw", KEYOBJECT_RAW as EcdhPath | null],
];

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

  const cases: Record<string, (i: number) => unknown> = {};
  for (const [name, call] of Object.entries(rawEcdhCases())) cases[`ecdh_${name}`] = call;
  Object.assign(cases, hkdfCases(sub, senders[0]!));
  for (const [name, path] of PATHS) {
    if (!path) continue;
    const decrypt = createDecryptor(nodeBackendOn(path));
    cases[`aes128gcm_3k_node_${name}`] = (i) => decrypt(sub, pools.aes128gcm[i % POOL]!.push);
  }
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
  for (const [name, runs] of Object.entries(samples)) {
    results[name] = Math.round(median(runs.map((r) => r.wall)));
    results[`${name}_cpu`] = Math.round(median(runs.map((r) => r.cpu)));
  }
  results.ecdh_raw_node = results.ecdh_computesecret!;
  // The best per-message ECDH of each run: the fastest of this runtime's per-message paths.
  const perMessage = PER_MESSAGE.map((name) => samples[`ecdh_${name}`]).filter((runs) => runs !== undefined);
  const best = Array.from({ length: RUNS }, (_, run) => ({
    wall: Math.max(...perMessage.map((runs) => runs[run]!.wall)),
    cpu: Math.max(...perMessage.map((runs) => runs[run]!.cpu)),
  }));
  results.ecdh_best_per_message = Math.round(median(best.map((r) => r.wall)));
  results.ecdh_best_per_message_cpu = Math.round(median(best.map((r) => r.cpu)));
  // The target: the node backend at >= 85% of raw ECDH. Ratios are taken run by run (each run of a
  // case sits next to a run of raw ECDH), then the median; the _cpu variants use CPU time.
  const ratio = (ours: Rate[], reference: Rate[], key: keyof Rate) =>
    round(median(ours.map((r, i) => r[key] / reference[i]![key])));
  for (const encoding of ["aes128gcm", "aesgcm"]) {
    const ours = samples[`${encoding}_3k_node`]!;
    results[`${encoding}_node_vs_ecdh`] = ratio(ours, samples.ecdh_computesecret!, "wall");
    results[`${encoding}_node_vs_ecdh_cpu`] = ratio(ours, samples.ecdh_computesecret!, "cpu");
    results[`${encoding}_node_vs_best_ecdh`] = ratio(ours, best, "wall");
    results[`${encoding}_node_vs_best_ecdh_cpu`] = ratio(ours, best, "cpu");
  }
  for (const [name, path] of PATHS) {
    if (!path) continue;
    const ours = samples[`aes128gcm_3k_node_${name}`]!;
    results[`aes128gcm_node_${name}_vs_best_ecdh`] = ratio(ours, best, "wall");
    results[`aes128gcm_node_${name}_vs_best_ecdh_cpu`] = ratio(ours, best, "cpu");
  }
  return results;
}

/**
 * A message's HKDF (aes128gcm: auth step, PRK, CEK and nonce) two ways, on a fixed shared secret:
 * HMAC-SHA-256 steps as backend-node.ts runs them, and Node's one-call hkdfSync per step.
 */
function hkdfCases(sub: Subscription, sender: Uint8Array): Record<string, () => unknown> {
  const shared = sub.ecdh.computeSecret(sender);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const utf8 = new TextEncoder();
  const authInfo = Buffer.concat([utf8.encode("WebPush: info\0"), sub.publicKey, sender]);
  const cekInfo = utf8.encode("Content-Encoding: aes128gcm\0");
  const nonceInfo = utf8.encode("Content-Encoding: nonce\0");
  const one = new Uint8Array([1]);
  const hmac = (key: Uint8Array, ...data: Uint8Array[]) => {
    const mac = createHmac("sha256", key);
    for (const part of data) mac.update(part);
    return mac.digest();
  };
  return {
    hkdf_hmac_steps: () => {
      const prk = hmac(salt, hmac(hmac(sub.authSecret, shared), authInfo, one));
      return [hmac(prk, cekInfo, one).subarray(0, 16), hmac(prk, nonceInfo, one).subarray(0, 12)];
    },
    hkdf_hkdfsync: () => {
      const ikm = new Uint8Array(hkdfSync("sha256", shared, sub.authSecret, authInfo, 32));
      return [hkdfSync("sha256", ikm, salt, cekInfo, 16), hkdfSync("sha256", ikm, salt, nonceInfo, 12)];
    },
  };
}

const round = (ratio: number) => Math.round(ratio * 1000) / 1000;
