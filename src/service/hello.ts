/**
 * The hello handshake's consequences for the store, as Firefox's PushService applies them: what
 * a hello says (the uaid only while subscriptions exist, the broadcast ids), a new uaid from the
 * server (every active subscription is dropped with push-subscription-change), and keys
 * back-filled for records made in SimplePush mode once the server speaks Web Push.
 */

import { generateKeys } from "../crypto/keys.ts";
import { hasKeys, type PushDB, type PushRecord } from "../db/push-db.ts";
import type { Logger } from "../log.ts";
import type { ObserverBus } from "../observers.ts";
import type { PushSubscription } from "../subscription.ts";
import type { Broadcasts } from "./broadcasts.ts";

/** What the hello consequences need from the service around them. */
export interface HelloContext {
  /** The open store; throws InvalidStateError before start() and after stop(). */
  started(): { db: PushDB };
  readonly broadcasts: Broadcasts;
  readonly bus: ObserverBus;
  readonly logger: Logger;
  toSubscription(record: PushRecord): PushSubscription;
}

export interface HelloPayload {
  uaid: string | null;
  broadcasts: Record<string, string>;
}

export async function helloPayload(context: HelloContext): Promise<HelloPayload> {
  const { db } = context.started();
  const [records, uaid] = await Promise.all([db.getAllUnexpired(), db.getUAID()]);
  // Privacy (Firefox bug 1617136): without subscriptions the server mints a fresh uaid each time.
  return { uaid: records.length > 0 && uaid ? uaid : null, broadcasts: context.broadcasts.helloBroadcasts() };
}

/** Store the uaid the server answered with; a different one than stored drops every active subscription. */
export async function adoptUAID(context: HelloContext, uaid: string): Promise<void> {
  const { db } = context.started();
  const stored = await db.getUAID();
  if (uaid === stored) return;
  if (stored) context.logger.info("push: the server assigned a new uaid; dropping every subscription");
  await dropUnexpired(context);
  await db.setUAID(uaid);
}

async function dropUnexpired(context: HelloContext): Promise<void> {
  const { db } = context.started();
  const dropped = await db.clearIf((record) => record.quota > 0);
  for (const record of dropped) {
    context.bus.notify("push-subscription-change", {
      scope: record.scope,
      oldSubscription: context.toSubscription(record),
    });
  }
}

/** Records made in SimplePush mode get keys once the server speaks Web Push (Firefox's ensureCrypto). */
export async function backfillKeys(context: HelloContext): Promise<void> {
  const { db } = context.started();
  for (const record of await db.getAllUnexpired()) {
    if (hasKeys(record)) continue;
    const keys = await generateKeys();
    const updated = await db.update(record.channelID, (current) => ({
      ...current,
      p256dhPublicKey: current.p256dhPublicKey ?? keys.publicKey,
      p256dhPrivateKey: current.p256dhPrivateKey ?? keys.privateKey,
      authenticationSecret:
        current.authenticationSecret?.byteLength === 16 ? current.authenticationSecret : keys.authSecret,
    }));
    if (updated) {
      context.bus.notify("push-subscription-change", {
        scope: record.scope,
        oldSubscription: context.toSubscription(record),
      });
    }
  }
}
