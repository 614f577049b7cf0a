/**
 * The subscription registry: subscribe (one registration per scope in flight, the application
 * server key checked against an existing subscription), look up, list and unsubscribe, the
 * unregister sent in the background when a subscription is dropped, and the W3C argument checks.
 * Records live in the store; the register and unregister requests go over the connection.
 */

import { decode, encodePadded } from "../crypto/base64url.ts";
import { generateKeys, validateAppServerKey } from "../crypto/keys.ts";
import type { PushDB, PushRecord } from "../db/push-db.ts";
import { abort, invalidAccess, invalidState, PushError } from "../errors.ts";
import { describeError, type Logger, shortEndpoint } from "../log.ts";
import type { ObserverBus } from "../observers.ts";
import { registerFrame, type UnregisterCode, unregisterFrame } from "../protocol/messages.ts";
import { PushSubscription } from "../subscription.ts";
import type { BufferSourceLike } from "../web-types.ts";
import type { Connection } from "./connection.ts";
import { isExpired, type QuotaOptions, type SiteLifecycle } from "./lifecycle.ts";

export interface SubscribeOptions {
  scope: string;
  /** The application server's P-256 public key: raw bytes or base64url (unpadded). */
  applicationServerKey?: BufferSourceLike | string | null;
  /** Accepted for W3C compatibility; push-agent does not enforce visibility. */
  userVisibleOnly?: boolean;
}

/** What the registry needs from the service around it. */
export interface RegistryContext {
  /** The open store and connection; throws InvalidStateError before start() and after stop(). */
  started(): { db: PushDB; connection: Connection };
  /** The connection, when there is one (a background unregister without one is dropped). */
  readonly connection: Connection | null;
  readonly lifecycle: SiteLifecycle;
  readonly bus: ObserverBus;
  readonly logger: Logger;
  /** Web Push mode (new records get keys); false in legacy SimplePush mode. */
  readonly dataEnabled: boolean;
  /** The quota option: without it every record is a system record (no quota). */
  readonly quota: QuotaOptions | undefined;
}

export class SubscriptionRegistry {
  readonly #ctx: RegistryContext;
  /** subscribe() calls in flight by scope; made on the first one, dropped when none is left. */
  #subscribing: Map<string, Promise<PushSubscription>> | null = null;

  constructor(context: RegistryContext) {
    this.#ctx = context;
  }

  async subscribe(options: SubscribeOptions): Promise<PushSubscription> {
    const scope = requireScope(options?.scope);
    const key = await parseAppServerKey(options.applicationServerKey);
    this.#subscribing ??= new Map();
    const subscribing = this.#subscribing;
    const inflight = subscribing.get(scope);
    if (inflight) return checkKey(await inflight, key);
    const attempt = this.#subscribe(scope, key).finally(() => {
      subscribing.delete(scope);
      // An idle service keeps no empty map.
      if (subscribing.size === 0 && this.#subscribing === subscribing) this.#subscribing = null;
    });
    subscribing.set(scope, attempt);
    return attempt;
  }

  async #subscribe(scope: string, key: Uint8Array | null): Promise<PushSubscription> {
    const { db } = this.#ctx.started();
    const { lifecycle } = this.#ctx;
    const existing = await db.getByScope(scope);
    if (existing) {
      checkKey(this.toSubscription(existing), key);
      if (!isExpired(existing)) return this.toSubscription(existing);
      if (!(await lifecycle.quotaChanged(existing))) throw abort("Push subscription expired");
      await lifecycle.drop(existing);
    }
    const record = await this.#register(scope, key);
    try {
      await db.put(record);
    } catch (error) {
      this.unregisterInBackground(record.channelID, 200);
      throw abort("Error retrieving push subscription.", error);
    }
    this.#ctx.logger.info(`push: subscribed ${scope} at ${shortEndpoint(record.pushEndpoint)}`);
    this.#ctx.bus.notify("push-subscription-modified", { scope });
    return this.toSubscription(record);
  }

  async #register(scope: string, key: Uint8Array | null): Promise<PushRecord> {
    const { connection } = this.#ctx.started();
    const channelID = crypto.randomUUID();
    let reply: Awaited<ReturnType<Connection["request"]>>;
    try {
      reply = await connection.request(
        "register",
        channelID,
        registerFrame(channelID, key && encodePadded(key)),
      );
    } catch (error) {
      throw abort(`Registration error: ${describeError(error)}`, error);
    }
    if (reply.status !== 200)
      throw abort(`Registration error: wrong status code for register reply: ${reply.status}`);
    if (!isValidEndpoint(reply.pushEndpoint)) throw abort("Registration error: invalid push endpoint");
    const keys = this.#ctx.dataEnabled ? await generateKeys() : null;
    return {
      channelID: reply.channelID,
      pushEndpoint: reply.pushEndpoint,
      scope,
      p256dhPublicKey: keys?.publicKey ?? null,
      p256dhPrivateKey: keys?.privateKey ?? null,
      authenticationSecret: keys?.authSecret ?? null,
      appServerKey: key,
      recentMessageIDs: [],
      pushCount: 0,
      lastPush: 0,
      ctime: Date.now(),
      quota: this.#ctx.lifecycle.initialQuota,
      version: null,
      systemRecord: !this.#ctx.quota,
    };
  }

  async getSubscription(scope: string): Promise<PushSubscription | null> {
    const { db } = this.#ctx.started();
    const { lifecycle } = this.#ctx;
    const record = await db.getByScope(requireScope(scope));
    if (!record) return null;
    if (!isExpired(record)) return this.toSubscription(record);
    if (await lifecycle.quotaChanged(record)) await lifecycle.drop(record);
    return null;
  }

  async subscriptions(): Promise<PushSubscription[]> {
    const { db } = this.#ctx.started();
    return (await db.getAllUnexpired()).map((record) => this.toSubscription(record));
  }

  /** Forget the scope's subscription locally and tell the server; false when there was none. */
  async unsubscribe(scope: string): Promise<boolean> {
    const { db, connection } = this.#ctx.started();
    const record = await db.getByScope(requireScope(scope));
    if (!record) return false;
    const request = connection.request(
      "unregister",
      record.channelID,
      unregisterFrame(record.channelID, 200),
    );
    await db.delete(record.channelID);
    this.#ctx.bus.notify("push-subscription-modified", { scope });
    try {
      return (await request).status === 200;
    } catch (error) {
      throw abort(`Unsubscribe error: ${describeError(error)}`, error);
    }
  }

  /** Tell the server a subscription is gone; a failure is only logged. */
  unregisterInBackground(channelID: string, code: UnregisterCode): void {
    const connection = this.#ctx.connection;
    if (!connection) return;
    connection
      .request("unregister", channelID, unregisterFrame(channelID, code))
      .catch((error) => this.#ctx.logger.warn(`push: background unregister failed: ${describeError(error)}`));
  }

  toSubscription(record: PushRecord): PushSubscription {
    return new PushSubscription(record, (scope) => this.unsubscribe(scope));
  }
}

// ---------------------------------------------------------------------------------------------
// Argument checks

export function requireScope(scope: unknown): string {
  if (typeof scope !== "string" || scope.length === 0)
    throw new TypeError("scope must be a non-empty string");
  return scope;
}

/** base64url strings with `=` padding are refused, as Firefox's Push.sys.mjs does. */
async function parseAppServerKey(
  key: BufferSourceLike | string | null | undefined,
): Promise<Uint8Array | null> {
  if (key === undefined || key === null) return null;
  let bytes: Uint8Array;
  if (typeof key === "string") {
    try {
      bytes = decode(key, { padding: "reject" });
    } catch {
      throw new PushError("InvalidCharacterError", "applicationServerKey is not valid base64url (unpadded)");
    }
  } else if (ArrayBuffer.isView(key)) {
    bytes = new Uint8Array(key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength));
  } else if (key instanceof ArrayBuffer) {
    bytes = new Uint8Array(key.slice(0));
  } else {
    throw invalidAccess("applicationServerKey must be a BufferSource or a base64url string");
  }
  if (bytes.byteLength === 0) throw invalidAccess("applicationServerKey is empty");
  await validateAppServerKey(bytes);
  return bytes;
}

function sameBytes(a: Uint8Array | null, b: ArrayBuffer | null): boolean {
  if (a === null || b === null) return a === null && b === null;
  const other = new Uint8Array(b);
  return a.byteLength === other.byteLength && a.every((byte, i) => byte === other[i]);
}

function checkKey(subscription: PushSubscription, key: Uint8Array | null): PushSubscription {
  if (!sameBytes(key, subscription.options.applicationServerKey)) {
    throw invalidState("A subscription with a different application server key already exists.");
  }
  return subscription;
}

function isValidEndpoint(endpoint: string | null): endpoint is string {
  if (!endpoint) return false;
  try {
    new URL(endpoint);
    return true;
  } catch {
    return false;
  }
}
