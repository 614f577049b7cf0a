/**
 * VAPID on the endpoint side: the Authorization header forms autopush accepts
 * (`vapid t=JWT,k=KEY` from RFC 8292, and draft-01 `WebPush JWT` / `Bearer JWT` with
 * `Crypto-Key: p256ecdsa=KEY`), and the JWT checks: ES256 signature by that key, `exp` present,
 * not past and at most 24 h ahead, `aud` equal to the endpoint origin. `sub` is not enforced.
 */

import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { Base64urlError, decode } from "../crypto/base64url.ts";

const ONE_DAY = 24 * 60 * 60;
/** Clock skew tolerated on `exp`, as the JWT library autopush uses does by default. */
const LEEWAY = 60;

export class VapidError extends Error {
  override name = "VapidError";
}

export interface VapidHeader {
  scheme: "vapid" | "webpush" | "bearer";
  token: string;
  /** The raw P-256 public key the sender claims (65 bytes, uncompressed). */
  publicKey: Uint8Array;
}

/** Parse Authorization (+ Crypto-Key for the draft-01 schemes); undefined when there is no Authorization. */
export function parseVapidHeader(
  authorization: string | undefined,
  cryptoKey: string | undefined,
): VapidHeader | undefined {
  if (authorization === undefined) return undefined;
  const space = authorization.indexOf(" ");
  if (space < 0) throw new VapidError("Invalid Authorization header");
  const scheme = authorization.slice(0, space).toLowerCase();
  const rest = authorization.slice(space + 1);
  if (scheme === "vapid") {
    const params = parseParams(rest.replaceAll(" ", ""), ",");
    const token = params.get("t");
    const key = params.get("k");
    if (!token || !key) throw new VapidError("Missing t= or k= in the vapid Authorization header");
    return { scheme, token, publicKey: decodeKey(key) };
  }
  if (scheme === "webpush" || scheme === "bearer") {
    const key = cryptoKey === undefined ? undefined : parseParams(cryptoKey, /[,;]/).get("p256ecdsa");
    if (!key) throw new VapidError("Missing p256ecdsa in the Crypto-Key header");
    return { scheme, token: rest.trim(), publicKey: decodeKey(key) };
  }
  throw new VapidError(`Unknown Authorization scheme ${scheme.slice(0, 20)}`);
}

/** Verify the JWT against the header's key, the clock (seconds) and the expected audience origin. */
export function verifyVapidJwt(vapid: VapidHeader, audienceOrigin: string, nowSec: number): void {
  const parts = vapid.token.split(".");
  if (parts.length !== 3) throw new VapidError("Malformed JWT");
  const [head, body, signature] = parts as [string, string, string];
  const header = jsonPart(head);
  if (header.alg !== "ES256") throw new VapidError("JWT alg must be ES256");
  const sig = base64url(signature);
  const valid = verify(
    "sha256",
    Buffer.from(`${head}.${body}`),
    { key: publicKeyObject(vapid.publicKey), dsaEncoding: "ieee-p1363" },
    sig,
  );
  if (!valid) throw new VapidError("JWT signature does not verify");
  const claims = jsonPart(body);
  if (typeof claims.exp !== "number") throw new VapidError("JWT exp is missing");
  if (typeof claims.aud !== "string") throw new VapidError("JWT aud is missing");
  if (claims.exp + LEEWAY <= nowSec) throw new VapidError("The VAPID token has expired");
  if (claims.exp > nowSec + ONE_DAY) throw new VapidError("The VAPID token expiration is too long");
  if (!sameOrigin(claims.aud, audienceOrigin)) throw new VapidError("The VAPID aud is not this server");
}

function sameOrigin(aud: string, origin: string): boolean {
  try {
    const url = new URL(aud);
    return url.origin === origin && url.pathname === "/" && url.search === "" && url.hash === "";
  } catch {
    return false;
  }
}

function parseParams(text: string, separator: string | RegExp): Map<string, string> {
  const params = new Map<string, string>();
  for (const item of text.split(separator)) {
    const eq = item.indexOf("=");
    if (eq < 0) continue;
    params.set(
      item.slice(0, eq).trim().toLowerCase(),
      item
        .slice(eq + 1)
        .trim()
        .replaceAll('"', ""),
    );
  }
  return params;
}

function decodeKey(text: string): Uint8Array {
  const key = base64url(text);
  if (key.length !== 65 || key[0] !== 4) throw new VapidError("VAPID key is not an uncompressed P-256 point");
  return key;
}

/** DER SubjectPublicKeyInfo header for an uncompressed P-256 point (id-ecPublicKey, prime256v1). */
const P256_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

/**
 * The sender's key as a KeyObject, imported from DER rather than a JWK: no JWK parsing per
 * request, and OpenSSL still rejects a point that is not on the curve.
 */
function publicKeyObject(raw: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, raw]), format: "der", type: "spki" });
  } catch {
    throw new VapidError("VAPID key is not on the P-256 curve");
  }
}

function jsonPart(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(base64url(part)).toString("utf8"));
  } catch (err) {
    if (err instanceof VapidError) throw err;
    throw new VapidError("JWT part is not JSON");
  }
  if (typeof value !== "object" || value === null) throw new VapidError("JWT part is not an object");
  return value as Record<string, unknown>;
}

function base64url(text: string): Uint8Array {
  try {
    return decode(text);
  } catch (err) {
    if (err instanceof Base64urlError) throw new VapidError("Invalid base64url in VAPID header");
    throw err;
  }
}
