/**
 * Raw P-256 ECDH in node:crypto, each way this runtime offers, called directly (not through the
 * library's ECDH paths; only the point import helpers are shared): the reference every decrypt,
 * burst and drain figure is set beside. "Per message" means a fresh sender key each call, as every
 * push has; the sender's point is imported per call where the path needs a KeyObject. The
 * prebuilt-peer rate is a ceiling no message can reach.
 */

import { createECDH, createPrivateKey, diffieHellman, type KeyObject } from "node:crypto";
import { rawImport, spkiImport } from "../src/crypto/ecdh-node.ts";

const SENDERS = 64;

export type RawEcdhCase = "computesecret" | "keyobject_spki" | "keyobject_raw" | "keyobject_prebuilt";

/** The per-message paths; the best of them, run by run, is "that runtime's best per-message ECDH". */
export const PER_MESSAGE: RawEcdhCase[] = ["computesecret", "keyobject_spki", "keyobject_raw"];

/** One call per case, on one private key and SENDERS sender points used round-robin. */
export function rawEcdhCases(): Partial<Record<RawEcdhCase, (i: number) => unknown>> {
  const me = createECDH("prime256v1");
  const point = me.generateKeys();
  const d = Buffer.concat([Buffer.alloc(32), me.getPrivateKey()]).subarray(-32);
  const privateKey: KeyObject = createPrivateKey({
    format: "jwk",
    key: {
      kty: "EC",
      crv: "P-256",
      d: d.toString("base64url"),
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33).toString("base64url"),
    },
  });
  const senders = Array.from({ length: SENDERS }, () => createECDH("prime256v1").generateKeys());
  const prebuilt = senders.map(spkiImport);
  const cases: Partial<Record<RawEcdhCase, (i: number) => unknown>> = {
    computesecret: (i) => me.computeSecret(senders[i % SENDERS]!),
    keyobject_spki: (i) => diffieHellman({ privateKey, publicKey: spkiImport(senders[i % SENDERS]!) }),
    keyobject_prebuilt: (i) => diffieHellman({ privateKey, publicKey: prebuilt[i % SENDERS]! }),
  };
  try {
    rawImport(senders[0]!);
    cases.keyobject_raw = (i) => diffieHellman({ privateKey, publicKey: rawImport(senders[i % SENDERS]!) });
  } catch {
    // This Node has no raw EC key import.
  }
  return cases;
}

export interface SyncRate {
  /** Calls per second of wall time. */
  wall: number;
  /** Calls per second of this process's CPU time: steadier on a loaded machine. */
  cpu: number;
}

/** Calls per second of `call` over `ms` of wall time. */
export function syncRate(call: (i: number) => unknown, ms: number): SyncRate {
  let n = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    call(n++);
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpuStart);
  return { wall: (n * 1000) / (now - start), cpu: (n * 1e6) / (cpu.user + cpu.system) };
}

/** Each per-message path once for `ms`, and the best of them (by wall and by CPU time). */
export function bestPerMessageEcdh(ms: number): {
  best: SyncRate;
  rates: Partial<Record<RawEcdhCase, SyncRate>>;
} {
  const cases = rawEcdhCases();
  const rates: Partial<Record<RawEcdhCase, SyncRate>> = {};
  for (const name of PER_MESSAGE) {
    const call = cases[name];
    if (!call) continue;
    for (let i = 0; i < 100; i++) call(i);
    rates[name] = syncRate(call, ms);
  }
  const all = Object.values(rates);
  return {
    best: { wall: Math.max(...all.map((r) => r.wall)), cpu: Math.max(...all.map((r) => r.cpu)) },
    rates,
  };
}
