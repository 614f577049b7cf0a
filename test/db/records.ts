/**
 * Record factories shared by the PushDB contract, the store tests and the crash-test child
 * (no vitest import here, so a plain Node process can load it).
 */

import type { PushRecord } from "../../src/db/push-db.ts";

/** Deterministic bytes, so a failing comparison shows a readable pattern. */
export function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

export const sampleJwk: JsonWebKey = {
  kty: "EC",
  crv: "P-256",
  d: "n7G2lTqGQsr7wVrxT5nW5W6JRcIkmR2A3A8dMrY4yLk",
  x: "wHnqDSL3uWpsgCQAi1YyOc4dqcHqoFk0NphR9YeoBFQ",
  y: "kU4Ua33FdxdZXOhvGmOMjMiJzRyqmWbWyiVVLHxhGZ8",
  ext: true,
  key_ops: ["deriveBits"],
};

export function makeRecord(n: number, overrides: Partial<PushRecord> = {}): PushRecord {
  return {
    channelID: `channel-${n}`,
    pushEndpoint: `https://push.example.net/wpush/v2/token-${n}`,
    scope: `https://app${n}.example.com/`,
    p256dhPublicKey: Uint8Array.of(4, ...bytes(64, n)),
    p256dhPrivateKey: { ...sampleJwk },
    authenticationSecret: bytes(16, n + 1000),
    appServerKey: null,
    recentMessageIDs: [],
    pushCount: 0,
    lastPush: 0,
    ctime: 1_700_000_000_000 + n,
    quota: 16,
    version: null,
    systemRecord: false,
    ...overrides,
  };
}
