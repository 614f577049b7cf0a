/**
 * Subscription key material: the ECDH P-256 key pair (public raw, private as JWK) and the 16-byte
 * auth secret, plus validation of an application server's VAPID key. Keys come from the runtime's
 * backend (`#crypto-backend`); the curve check is plain arithmetic, the same everywhere.
 */

import { backend } from "#crypto-backend";
import { PushError } from "../errors.ts";
import type { JsonWebKeyLike } from "../web-types.ts";

export interface SubscriptionKeys {
  /** 65-byte uncompressed P-256 point (the subscription's p256dh). */
  publicKey: Uint8Array;
  /** { kty, crv, d, x, y } */
  privateKey: JsonWebKeyLike;
  /** 16 random bytes. */
  authSecret: Uint8Array;
}

const AUTH_SECRET_LENGTH = 16;

export async function generateKeys(): Promise<SubscriptionKeys> {
  const [pair, authSecret] = await Promise.all([
    backend.generateKeyPair(),
    backend.randomBytes(AUTH_SECRET_LENGTH),
  ]);
  const { kty, crv, d, x, y } = pair.privateKey;
  return { publicKey: pair.publicKey, privateKey: { kty, crv, d, x, y }, authSecret };
}

// P-256 (FIPS 186-4 D.1.2.3): y^2 = x^3 - 3x + b over GF(p).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function toBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const byte of bytes) n = (n << 8n) | BigInt(byte);
  return n;
}

/** True for a 65-byte uncompressed point whose coordinates are field elements on the curve. */
export function isP256Point(key: Uint8Array): boolean {
  if (!(key instanceof Uint8Array) || key.length !== 65 || key[0] !== 0x04) return false;
  const x = toBigInt(key.subarray(1, 33));
  const y = toBigInt(key.subarray(33, 65));
  if (x >= P || y >= P) return false;
  const rhs = (((((x * x) % P) * x - 3n * x + B) % P) + P) % P;
  return (y * y) % P === rhs;
}

/**
 * Rejects with InvalidAccessError unless `key` is a usable app server key (the VAPID public key
 * given to subscribe): an uncompressed P-256 point. P-256 has cofactor 1, so on-curve is enough.
 */
export async function validateAppServerKey(key: Uint8Array): Promise<void> {
  if (!(key instanceof Uint8Array)) {
    throw new PushError("InvalidAccessError", "The application server key must be a byte array");
  }
  if (key.length !== 65 || key[0] !== 0x04) {
    throw new PushError(
      "InvalidAccessError",
      "The application server key must be an uncompressed P-256 point of 65 bytes",
    );
  }
  if (!isP256Point(key)) {
    throw new PushError("InvalidAccessError", "The application server key is not a point on P-256");
  }
}
