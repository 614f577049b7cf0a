/**
 * P-256 ECDH on node:crypto, and the one place that picks how this runtime does it. node:crypto
 * offers two sync paths whose speed depends on the Node version and its OpenSSL (measured by
 * `npm run bench -- decrypt` and `npm run bench -- --runtimes`; see chooseEcdhPath):
 *
 * - "ecdh": createECDH().computeSecret(point), the private key as an ECDH object.
 * - "keyobject": crypto.diffieHellman with the private KeyObject cached per subscription and the
 *   sender's point imported per message (raw where Node can, else SPKI DER).
 *
 * Both take a 32-byte scalar and a 65-byte uncompressed point and fail the same way: a bad
 * private key throws badCrypto, a point that is not on the curve throws badSenderKey.
 */

import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type ECDH,
  type KeyObject,
} from "node:crypto";
import { type RuntimeGlobals, runtimeOf } from "../runtime.ts";
import { badCrypto, badSenderKey } from "./decrypt-error.ts";

export type EcdhPathName = "ecdh" | "keyobject";

/** One way to do ECDH: import the private key once, then one call per message. */
export interface EcdhPath<K = unknown> {
  readonly name: EcdhPathName;
  /** The subscription's private scalar (32 bytes) as what `derive` needs; throws badCrypto. */
  importPrivate(d: Uint8Array): K;
  /** The shared secret with a sender's uncompressed point; throws badSenderKey. */
  derive(privateKey: K, senderPublicKey: Uint8Array): Buffer;
}

const CURVE = "prime256v1";

/** SubjectPublicKeyInfo DER for id-ecPublicKey on prime256v1, up to the 65-byte point. */
const SPKI_P256_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

function ecdhObject(d: Uint8Array): ECDH {
  const ecdh = createECDH(CURVE);
  ecdh.setPrivateKey(d);
  return ecdh;
}

export const ECDH_OBJECT: EcdhPath<ECDH> = {
  name: "ecdh",
  importPrivate(d) {
    try {
      return ecdhObject(d);
    } catch (cause) {
      throw badCrypto("Invalid subscription private key", cause);
    }
  },
  derive(ecdh, senderPublicKey) {
    try {
      return ecdh.computeSecret(senderPublicKey);
    } catch (cause) {
      throw badSenderKey(cause);
    }
  },
};

/** The sender's point as a KeyObject: raw where this Node imports raw EC points, else SPKI. */
export type PublicImport = (point: Uint8Array) => KeyObject;

export const spkiImport: PublicImport = (point) =>
  createPublicKey({ key: Buffer.concat([SPKI_P256_PREFIX, point]), format: "der", type: "spki" });

/** Newer Node imports an EC point as is ("raw-public"); older ones throw on the format. */
export const rawImport: PublicImport = (point) =>
  createPublicKey({
    key: point,
    format: "raw-public",
    asymmetricKeyType: "ec",
    namedCurve: "P-256",
  } as unknown as Parameters<typeof createPublicKey>[0]);

function supportsRawImport(): boolean {
  try {
    const point = createECDH(CURVE).generateKeys();
    return rawImport(point).asymmetricKeyType === "ec";
  } catch {
    return false;
  }
}

/** The KeyObject path with a given way of importing the sender's point. */
export function keyObjectPath(importPublic: PublicImport): EcdhPath<KeyObject> {
  return {
    name: "keyobject",
    importPrivate(d) {
      try {
        // The public half from the scalar, so the JWK is consistent (Node 24 checks x/y against d).
        const point = ecdhObject(d).getPublicKey();
        const jwk = {
          kty: "EC",
          crv: "P-256",
          d: Buffer.from(d).toString("base64url"),
          x: point.subarray(1, 33).toString("base64url"),
          y: point.subarray(33, 65).toString("base64url"),
        };
        return createPrivateKey({ key: jwk, format: "jwk" });
      } catch (cause) {
        throw badCrypto("Invalid subscription private key", cause);
      }
    },
    derive(privateKey, senderPublicKey) {
      let publicKey: KeyObject;
      try {
        publicKey = importPublic(senderPublicKey);
      } catch (cause) {
        throw badSenderKey(cause);
      }
      try {
        return diffieHellman({ privateKey, publicKey });
      } catch (cause) {
        throw badSenderKey(cause);
      }
    },
  };
}

export const KEYOBJECT_SPKI = keyObjectPath(spkiImport);
export const KEYOBJECT_RAW: EcdhPath<KeyObject> | null = supportsRawImport()
  ? keyObjectPath(rawImport)
  : null;

/** The Node major version when this is Node itself (runtime.ts decides); 0 on Deno, Bun or elsewhere. */
export function nodeMajor(globals: RuntimeGlobals = globalThis as RuntimeGlobals): number {
  if (runtimeOf(globals) !== "node") return 0;
  return Number(/^(\d+)\./.exec(String(globals.process?.versions?.node))?.[1] ?? 0);
}

/**
 * The path for this runtime, decided here and nowhere else, by what measured fastest per message
 * (CPU time, paired runs; BENCHMARKS.md “Decrypt per runtime”):
 * - Node 20 (OpenSSL 3.0): computeSecret 103 µs; a KeyObject per sender point makes ECDH 2.2× slower.
 * - Node 22 (OpenSSL 3.5): computeSecret 60 µs; the KeyObject path 72 µs.
 * - Node 24 (OpenSSL 3.5): computeSecret 79 µs (Node's own ECDH class got slower); the KeyObject
 *   path 75–77 µs, its raw point import no slower than SPKI and with nothing to concatenate.
 * Deno and Bun keep computeSecret: their KeyObject support is their own.
 */
export function chooseEcdhPath(major = nodeMajor()): EcdhPath {
  if (major >= 24) return (KEYOBJECT_RAW ?? KEYOBJECT_SPKI) as EcdhPath;
  return ECDH_OBJECT as EcdhPath;
}
