/**
 * Push requests of the scenario layer. `relay` payloads are opaque random bytes shaped like an
 * aes128gcm record (salt, record size, a 65-byte key id, then "ciphertext"), sent with
 * `Content-Encoding: aes128gcm`: a push service relays them untouched, so the receiving side
 * compares bytes and neither side spends anything on ECDH or AES. `e2e` payloads are encrypted
 * for a real subscription by web-push (aes128gcm or aesgcm), as an application server does.
 *
 * VAPID headers are signed once per audience and subject and reused until near their expiry,
 * as the sender of `runLoadTest` does: a JWT per push would make the generator the bottleneck.
 */

import { randomBytes } from "node:crypto";
import webpush from "web-push";
import type { VapidDetails } from "../sender/send.ts";
import { buildRequest } from "../sender/send.ts";
import type { PushRequest } from "./poster.ts";

/** salt (16) + rs (4) + idlen (1) + keyid (65): the aes128gcm header. */
export const RELAY_HEADER_BYTES = 86;
/** The most a push service must accept (RFC 8030 § 7.2 asks for at least 4096 bytes). */
export const MAX_RELAY_BYTES = 4096;

export type PayloadMode = "relay" | "e2e";

/** The claims a scenario may set for a VAPID signature; `aud` defaults to the endpoint's origin. */
export interface VapidClaims {
  sub?: string;
  aud?: string;
  /** Seconds since the epoch; default 12 h from now. */
  exp?: number;
}

export interface NotificationRequest {
  endpoint: string;
  /** Relay: the bytes sent as they are. E2E: the plaintext. null/undefined: a push without data. */
  data?: Uint8Array | string | null;
  /** Seconds; default 60. */
  ttl?: number;
  topic?: string;
  urgency?: "very-low" | "low" | "normal" | "high";
  /** Extra request headers, sent last (they win). */
  headers?: Record<string, string>;
  /** Sign with the run's VAPID key: true for the default claims, or the claims to use. */
  vapid?: boolean | VapidClaims;
  /** The subscription's keys (PushSubscription.toJSON().keys): the data is encrypted for them. */
  keys?: { p256dh: string; auth: string };
  /** false: this push is not owed back (a Topic will replace it, TTL 0 drops it). Default true. */
  track?: boolean;
  /** E2E only: default aes128gcm. */
  encoding?: "aes128gcm" | "aesgcm";
}

/** `min`..`max` random bytes (at least the 86 of the header) in the shape of an aes128gcm record. */
export function relayPayload(min = 2048, max = 4096): Uint8Array {
  const low = Math.max(RELAY_HEADER_BYTES + 1, Math.min(min, MAX_RELAY_BYTES));
  const high = Math.max(low, Math.min(max, MAX_RELAY_BYTES));
  const length = low + Math.floor(Math.random() * (high - low + 1));
  const bytes = randomBytes(length);
  bytes.writeUInt32BE(4096, 16);
  bytes[20] = 65;
  bytes[21] = 0x04; // an uncompressed P-256 point starts so
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const VAPID_LIFETIME_S = 12 * 3600;
const VAPID_RENEW_S = 3600;
const DEFAULT_SUBJECT = "mailto:loadtest@push-agent.invalid";

export class RequestBuilder {
  readonly #vapid: VapidDetails;
  readonly #cache = new Map<string, { authorization: string; expires: number }>();

  constructor(vapid: VapidDetails) {
    this.#vapid = vapid;
  }

  /** The run's VAPID public key (base64url), for register(channelID, key). */
  get vapidPublicKey(): string {
    return this.#vapid.publicKey;
  }

  /** With `keys` the data is encrypted for them (e2e); without, it is sent as it is (relay). */
  build(request: NotificationRequest): PushRequest {
    const ttl = request.ttl ?? 60;
    const headers: Record<string, string | number> = { TTL: ttl };
    let body: Buffer | null = null;
    if (request.keys && request.data != null) {
      const built = buildRequest({ endpoint: request.endpoint, keys: request.keys }, request.data, {
        TTL: ttl,
        contentEncoding: request.encoding ?? "aes128gcm",
      });
      Object.assign(headers, built.headers);
      body = built.body;
    } else if (request.data != null) {
      body = Buffer.from(typeof request.data === "string" ? Buffer.from(request.data) : request.data);
      headers["Content-Encoding"] = "aes128gcm";
    }
    if (request.topic !== undefined) headers.Topic = request.topic;
    if (request.urgency !== undefined) headers.Urgency = request.urgency;
    if (request.vapid) {
      const claims = request.vapid === true ? {} : request.vapid;
      headers.Authorization = this.#authorization(request.endpoint, claims);
    }
    Object.assign(headers, request.headers);
    return { endpoint: request.endpoint, method: "POST", headers, body };
  }

  /** `vapid t=…, k=…` (RFC 8292), which servers take with either content encoding. */
  #authorization(endpoint: string, claims: VapidClaims): string {
    const audience = claims.aud ?? new URL(endpoint).origin;
    const subject = claims.sub ?? DEFAULT_SUBJECT;
    const key = `${audience} ${subject}`;
    const nowS = Math.floor(Date.now() / 1000);
    const cached = claims.exp === undefined ? this.#cache.get(key) : undefined;
    if (cached && cached.expires - nowS > VAPID_RENEW_S) return cached.authorization;
    const expires = claims.exp ?? nowS + VAPID_LIFETIME_S;
    const { publicKey, privateKey } = this.#vapid;
    const { Authorization } = webpush.getVapidHeaders(
      audience,
      subject,
      publicKey,
      privateKey,
      "aes128gcm",
      expires,
    );
    if (claims.exp === undefined) this.#cache.set(key, { authorization: Authorization, expires });
    return Authorization;
  }
}

/** One VAPID key pair for a run; the subject is the reserved .invalid domain. */
export function runVapidKeys(): VapidDetails {
  const keys = webpush.generateVAPIDKeys();
  return { subject: DEFAULT_SUBJECT, ...keys };
}
