/**
 * P-256 ECDH on node:crypto, and the one place that picks how this runtime does it. node:crypto
 * offers two sync paths whose speed depends on the OpenSSL under Node (measured by
 * `npm run bench -- decrypt` and `-- --runtimes`, see BENCHMARKS.md “Decrypt per runtime”):
 *
 * - "ecdh": createECDH().computeSecret(point). The fastest on OpenSSL 3.0 (Node 20), where making
 *   a KeyObject per message costs as much as the ECDH itself.
 * - "keyobject": crypto.diffieHellman with the private KeyObject cached per subscription and the
 *   sender's point imported per message (raw where Node can, else SPKI DER). On OpenSSL 3.5
 *   (Node 22 and 24) the import is cheap and this path beats computeSecret.
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
type PublicImport = (point: Uint8Array) => KeyObject;

const spkiImport: PublicImport = (point) =>
  createPublicKey({ key: Buffer.concat([SPKI_P256_PREFIX, point]), format: "der", type: "spki" });

/** Newer Node imports an EC point as is ("raw-public"); older ones throw on the format. */
const rawImport: PublicImport = (point) =>
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

/** OpenSSL's version under this Node as major * 100 + minor (3.5.9 → 305); 0 when unknown. */
export function opensslVersion(versions: NodeJS.ProcessVersions = process.versions): number {
  const match = /^(\d+)\.(\d+)/.exec(versions.openssl ?? "");
  return match ? Number(match[1]) * 100 + Number(match[2]) : 0;
}

/**
 * The path for this runtime, decided here and nowhere else. From OpenSSL 3.5 the KeyObject path
 * (raw import where available); before, computeSecret. Measured: see the header.
 */
export function chooseEcdhPath(openssl = opensslVersion()): EcdhPath {
  if (openssl >= 305) return (KEYOBJECT_RAW ?? KEYOBJECT_SPKI) as EcdhPath;
  return ECDH_OBJECT as EcdhPath;
}
