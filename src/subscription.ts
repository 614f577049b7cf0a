/**
 * The W3C-shaped objects the app sees: PushSubscription (endpoint, keys, toJSON in the shape the
 * `web-push` package expects) and PushMessageData. They are snapshots: copies of the stored
 * record's public parts, never the private key.
 */

import { encode } from "./crypto/base64url.ts";
import type { PushRecord } from "./db/push-db.ts";

export interface PushSubscriptionJSON {
  endpoint: string;
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
}

export interface PushSubscriptionOptions {
  applicationServerKey: ArrayBuffer | null;
  userVisibleOnly: boolean;
}

function copy(bytes: Uint8Array | null): ArrayBuffer | null {
  return bytes ? (bytes.slice().buffer as ArrayBuffer) : null;
}

export class PushSubscription {
  readonly endpoint: string;
  readonly expirationTime: number | null = null;
  readonly options: PushSubscriptionOptions;
  /** The scope this subscription belongs to. */
  readonly scope: string;
  /** SimplePush mode: the last version seen; null in Web Push mode. */
  readonly version: number | null;
  readonly #p256dh: Uint8Array | null;
  readonly #auth: Uint8Array | null;
  readonly #unsubscribe: (scope: string) => Promise<boolean>;

  constructor(record: PushRecord, unsubscribe: (scope: string) => Promise<boolean>) {
    this.endpoint = record.pushEndpoint;
    this.scope = record.scope;
    this.version = record.version;
    this.options = { applicationServerKey: copy(record.appServerKey), userVisibleOnly: false };
    this.#p256dh = record.p256dhPublicKey;
    this.#auth = record.authenticationSecret;
    this.#unsubscribe = unsubscribe;
  }

  /** The public key or the auth secret, as a fresh ArrayBuffer; null if the subscription has none yet. */
  getKey(name: "p256dh" | "auth"): ArrayBuffer | null {
    if (name === "p256dh") return copy(this.#p256dh);
    if (name === "auth") return copy(this.#auth);
    return null;
  }

  toJSON(): PushSubscriptionJSON {
    return {
      endpoint: this.endpoint,
      expirationTime: this.expirationTime,
      keys: {
        p256dh: this.#p256dh ? encode(this.#p256dh) : "",
        auth: this.#auth ? encode(this.#auth) : "",
      },
    };
  }

  unsubscribe(): Promise<boolean> {
    return this.#unsubscribe(this.scope);
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** A push payload: read it as bytes, text or JSON, as often as needed. */
export class PushMessageData {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  arrayBuffer(): ArrayBuffer {
    return this.#bytes.slice().buffer as ArrayBuffer;
  }

  text(): string {
    return decoder.decode(this.#bytes);
  }

  /** Throws SyntaxError when the payload is not JSON (an empty payload included), as in browsers. */
  json(): unknown {
    return JSON.parse(this.text());
  }
}
