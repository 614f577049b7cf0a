/**
 * Opaque, unforgeable tokens: endpoint tokens (inside pushEndpoint URLs) and message ids (the
 * notification `version`, also in the Location header). autopush uses Fernet; this server uses
 * AES-256-GCM under a key derived from the server secret, so a token cannot be read, altered or
 * made up without that secret. A purpose string is bound in as associated data, so a message id
 * never passes for an endpoint token or the other way round.
 */

import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { Base64urlError, decode } from "../crypto/base64url.ts";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const ENDPOINT_AAD = Buffer.from("push-agent endpoint v1");
const MESSAGE_AAD = Buffer.from("push-agent message-id v1");

/** What an endpoint token carries: uaid(16) || chid(16) [|| sha256(VAPID key)(32) for v2]. */
export interface EndpointTokenData {
  uaid: string;
  chid: string;
  /** Only in v2 tokens. */
  keyHash?: Buffer;
  /** Plaintext length: 32 for v1, 64 for v2; the route checks it against the API version. */
  length: number;
}

/** What a message id names: a topic slot, or a timestamp message by its millisecond sortkey. */
export type MessageIdData =
  | { uaid: string; chid: string; topic: string }
  | { uaid: string; chid: string; sortkey: number };

export class TokenCodec {
  readonly #key: Buffer;

  constructor(secret: Uint8Array | string | undefined) {
    const material = secret === undefined ? randomBytes(32) : Buffer.from(secret);
    if (material.length === 0) throw new RangeError("cryptoKey must not be empty");
    this.#key = Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), "push-agent/server tokens", 32));
  }

  endpointToken(uaid: string, chid: string, vapidKey?: Uint8Array): string {
    const parts: Buffer[] = [Buffer.from(uaid, "hex"), Buffer.from(chid, "hex")];
    if (vapidKey) parts.push(sha256(vapidKey));
    return this.#seal(Buffer.concat(parts), ENDPOINT_AAD);
  }

  openEndpointToken(token: string): EndpointTokenData | null {
    const plain = this.#open(token, ENDPOINT_AAD);
    if (!plain || plain.length < 32) return null;
    const data: EndpointTokenData = {
      uaid: plain.subarray(0, 16).toString("hex"),
      chid: plain.subarray(16, 32).toString("hex"),
      length: plain.length,
    };
    if (plain.length === 64) data.keyHash = plain.subarray(32, 64);
    return data;
  }

  messageId(data: MessageIdData): string {
    const text =
      "topic" in data
        ? `01:${data.uaid}:${data.chid}:${data.topic}`
        : `02:${data.uaid}:${data.chid}:${data.sortkey}`;
    return this.#seal(Buffer.from(text, "utf8"), MESSAGE_AAD);
  }

  openMessageId(id: string): MessageIdData | null {
    const plain = this.#open(id, MESSAGE_AAD);
    if (!plain) return null;
    const [kind, uaid, chid, ...rest] = plain.toString("utf8").split(":");
    const last = rest.join(":");
    if (!uaid || !chid) return null;
    if (kind === "01") return { uaid, chid, topic: last };
    if (kind === "02" && /^\d+$/.test(last)) return { uaid, chid, sortkey: Number(last) };
    return null;
  }

  #seal(plain: Buffer, aad: Buffer): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
  }

  #open(token: string, aad: Buffer): Buffer | null {
    let raw: Uint8Array;
    try {
      raw = decode(token);
    } catch (err) {
      if (err instanceof Base64urlError) return null;
      throw err;
    }
    if (raw.length < IV_BYTES + TAG_BYTES) return null;
    const bytes = Buffer.from(raw);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(aad);
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      // Authentication failure: tampered, truncated or made with another key.
      return null;
    }
  }
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}
