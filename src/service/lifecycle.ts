/**
 * Browser-shell lifecycle rules, as Firefox applies them to sites: permissions, the push quota
 * (how many pushes a site that is not visited may send) and the visible-notification exemption,
 * expiry, and clearing a site's data. The quota math and matching rules are pure functions;
 * SiteLifecycle applies them to the store on the embedder's calls.
 */

import type { PushDB, PushRecord } from "../db/push-db.ts";
import { describeError, type Logger } from "../log.ts";
import type { ObserverBus } from "../observers.ts";
import type { UnregisterCode } from "../protocol/messages.ts";
import type { PushSubscription } from "../subscription.ts";

/** Firefox's dom.push.maxQuotaPerSubscription. */
export const MAX_QUOTA = 16;
const DAY_MS = 86_400_000;

/** The embedder's view of a site's history; only consulted when the `quota` option is set. */
export interface QuotaOptions {
  /** ms epoch of the scope's last visit, -Infinity when never visited. */
  lastVisit(scope: string): number | Promise<number>;
}

export type PermissionState = "granted" | "denied" | "prompt";

/**
 * Quota after a visit: min(round(8 × days^-0.8), 16), where days is the time since the visit.
 * About 16 when visited in the last ~10 hours, 8 at one day, 1 at two weeks, 0 after ~32 days.
 */
export function quotaAfterVisit(lastVisit: number, now: number): number {
  const days = Math.max(0, (now - lastVisit) / DAY_MS);
  if (days === 0) return MAX_QUOTA;
  return Math.min(Math.round(8 * days ** -0.8), MAX_QUOTA);
}

/** Firefox's PushRecord.receivedPush: a push after a newer visit recomputes the quota first. */
export function applyReceivedPush(record: PushRecord, lastVisit: number, now: number): PushRecord {
  const quota =
    !record.systemRecord && lastVisit > record.lastPush ? quotaAfterVisit(lastVisit, now) : record.quota;
  return { ...record, quota, pushCount: record.pushCount + 1, lastPush: now };
}

export function isExpired(record: PushRecord): boolean {
  return record.quota === 0;
}

/** The origin a scope belongs to; scopes that are not URLs count as their own origin. */
export function originOf(scope: string): string {
  try {
    const origin = new URL(scope).origin;
    return origin === "null" ? scope : origin;
  } catch {
    return scope;
  }
}

function hostOf(scope: string): string | null {
  try {
    return new URL(scope).hostname.toLowerCase() || null;
  } catch {
    return null;
  }
}

export interface ClearPattern {
  /** Every subscription whose scope starts with this. */
  scope?: string;
  /** Every subscription whose scope's origin is exactly this. */
  origin?: string;
  /** A registrable domain: its host and every subdomain, on any scheme or port. */
  site?: string;
}

/** Build the predicate for `clear()`; no pattern at all matches everything. */
export function clearMatcher(pattern: ClearPattern = {}): (record: PushRecord) => boolean {
  const { scope, origin, site } = pattern;
  if (scope === undefined && origin === undefined && site === undefined) return () => true;
  const wantedOrigin = origin === undefined ? undefined : originOf(origin);
  const wantedSite = site?.toLowerCase().replace(/^\./, "");
  return (record) => {
    if (scope !== undefined && !record.scope.startsWith(scope)) return false;
    if (wantedOrigin !== undefined && originOf(record.scope) !== wantedOrigin) return false;
    if (wantedSite !== undefined) {
      const host = hostOf(record.scope);
      if (!host || (host !== wantedSite && !host.endsWith(`.${wantedSite}`))) return false;
    }
    return true;
  };
}

/** Visible notifications per origin: while one is shown, pushes to that origin cost no quota. */
export class NotificationCounter {
  /** Made on the first notification shown: most services never show one through this API. */
  #shown: Map<string, number> | null = null;

  shown(scope: string): void {
    const origin = originOf(scope);
    this.#shown ??= new Map();
    this.#shown.set(origin, (this.#shown.get(origin) ?? 0) + 1);
  }

  closed(scope: string): void {
    const origin = originOf(scope);
    if (!this.#shown) return;
    const count = (this.#shown.get(origin) ?? 0) - 1;
    if (count > 0) this.#shown.set(origin, count);
    else this.#shown.delete(origin);
  }

  isShown(scope: string): boolean {
    return this.#shown?.has(originOf(scope)) ?? false;
  }

  clear(): void {
    this.#shown = null;
  }
}

/** What the lifecycle rules need from the service around them. */
export interface LifecycleContext {
  /** The open store; null once the service stopped. */
  store(): PushDB | null;
  bus: ObserverBus;
  logger: Logger;
  /** Tell the server a channel is gone, in the background (failures are only logged). */
  unregister(channelID: string, code: UnregisterCode): void;
  toSubscription(record: PushRecord): PushSubscription;
  hasPermission?: (scope: string) => boolean | Promise<boolean>;
  quota?: QuotaOptions;
  quotaUpdateDelay: number;
}

/**
 * The rules Firefox applies to sites' subscriptions, driven by the embedder: permission changes,
 * the per-site quota and its visible-notification exemption, expiry, and clearing site data.
 */
export class SiteLifecycle {
  readonly #ctx: LifecycleContext;
  readonly #notifications = new NotificationCounter();
  /** Pending quota decrements; cancelled by stop(). */
  /** Made with the first quota timer: without a quota option there is never one. */
  #quotaTimers: Set<ReturnType<typeof setTimeout>> | null = null;

  constructor(context: LifecycleContext) {
    this.#ctx = context;
  }

  /** New records are quota-bound only when the embedder opted in to quotas. */
  get initialQuota(): number {
    return this.#ctx.quota ? MAX_QUOTA : Number.POSITIVE_INFINITY;
  }

  async permissionChanged(scope: string, state: PermissionState): Promise<void> {
    if (state !== "granted" && state !== "denied" && state !== "prompt") {
      throw new TypeError(`permission state must be "granted", "denied" or "prompt", got ${String(state)}`);
    }
    const records = (await this.#db().getAll()).filter((record) => record.scope.startsWith(scope));
    for (const record of records) {
      if (state === "granted") await this.#onPermissionGranted(record);
      else await this.expire(record, 202);
    }
  }

  async #onPermissionGranted(record: PushRecord): Promise<void> {
    if (isExpired(record)) {
      await this.drop(record);
      return;
    }
    if (record.systemRecord) return;
    await this.#db().update(record.channelID, (current) => ({ ...current, quota: MAX_QUOTA }));
  }

  /** Unregister with `code` and set quota 0: the record stays, but is never in hello nor delivered. */
  async expire(record: PushRecord, code: UnregisterCode): Promise<void> {
    if (isExpired(record)) return;
    const updated = await this.#db().update(record.channelID, (current) =>
      isExpired(current) ? null : { ...current, quota: 0 },
    );
    if (!updated) return;
    this.#ctx.unregister(record.channelID, code);
    this.#ctx.bus.notify("push-subscription-modified", { scope: record.scope });
  }

  notificationShown(scope: string): void {
    this.#notifications.shown(scope);
  }

  notificationClosed(scope: string): void {
    this.#notifications.closed(scope);
  }

  async dropExpired(): Promise<void> {
    for (const record of (await this.#db().getAll()).filter(isExpired)) {
      if (await this.quotaChanged(record)) await this.drop(record);
    }
  }

  async clear(pattern: ClearPattern): Promise<void> {
    const dropped = await this.#db().clearIf(clearMatcher(pattern));
    for (const record of dropped) {
      if (await this.permitted(record.scope)) this.#notifyChange(record);
      if (!isExpired(record)) this.#ctx.unregister(record.channelID, 200);
      this.#ctx.bus.notify("push-subscription-modified", { scope: record.scope });
    }
  }

  /** Forget a record and tell the app it lost its subscription. */
  async drop(record: PushRecord): Promise<void> {
    if (await this.#db().delete(record.channelID)) this.#notifyChange(record);
  }

  /** Plain `true` without a hasPermission option: the delivery path then skips a promise hop. */
  permitted(scope: string): true | Promise<boolean> {
    const check = this.#ctx.hasPermission;
    if (!check) return true;
    return this.#checkPermission(check, scope);
  }

  async #checkPermission(
    check: (scope: string) => boolean | Promise<boolean>,
    scope: string,
  ): Promise<boolean> {
    try {
      return (await check(scope)) === true;
    } catch (error) {
      this.#ctx.logger.warn(`push: hasPermission failed for ${scope}: ${describeError(error)}`);
      return false;
    }
  }

  /** ms epoch of the scope's last visit: now (synchronously) for unlimited (system) subscriptions. */
  lastVisit(record: PushRecord): number | Promise<number> {
    const quota = this.#ctx.quota;
    if (!quota || record.systemRecord) return Date.now();
    return this.#visitOf(quota, record);
  }

  async #visitOf(quota: QuotaOptions, record: PushRecord): Promise<number> {
    try {
      const visit = await quota.lastVisit(record.scope);
      return typeof visit === "number" && !Number.isNaN(visit) ? visit : Number.NEGATIVE_INFINITY;
    } catch (error) {
      this.#ctx.logger.warn(`push: lastVisit failed for ${record.scope}: ${describeError(error)}`);
      return Number.NEGATIVE_INFINITY;
    }
  }

  /** Firefox's quotaChanged: permitted, and visited since the last push. */
  async quotaChanged(record: PushRecord): Promise<boolean> {
    return (await this.permitted(record.scope)) && (await this.lastVisit(record)) > record.lastPush;
  }

  /** A delivered push costs one unit of quota, quotaUpdateDelay later. */
  scheduleQuotaCost(record: PushRecord): void {
    if (record.systemRecord || !this.#ctx.quota) return;
    const timer = setTimeout(() => {
      this.#quotaTimers?.delete(timer);
      void this.#applyQuotaCost(record).catch((error) =>
        this.#ctx.logger.warn(`push: quota update failed: ${describeError(error)}`),
      );
    }, this.#ctx.quotaUpdateDelay);
    this.#quotaTimers ??= new Set();
    this.#quotaTimers.add(timer);
  }

  async #applyQuotaCost(record: PushRecord): Promise<void> {
    const db = this.#ctx.store();
    if (!db || this.#notifications.isShown(record.scope)) return;
    const updated = await db.update(record.channelID, (current) =>
      isExpired(current) ? null : { ...current, quota: Math.max(0, current.quota - 1) },
    );
    if (!updated) return;
    if (isExpired(updated)) {
      this.#ctx.logger.info(`push: quota exhausted for ${record.scope}; unregistering`);
      this.#ctx.unregister(record.channelID, 201);
    }
    this.#ctx.bus.notify("push-subscription-modified", { scope: record.scope });
  }

  stop(): void {
    for (const timer of this.#quotaTimers ?? []) clearTimeout(timer);
    this.#quotaTimers = null;
  }

  #notifyChange(record: PushRecord): void {
    this.#ctx.bus.notify("push-subscription-change", {
      scope: record.scope,
      oldSubscription: this.#ctx.toSubscription(record),
    });
  }

  #db(): PushDB {
    const db = this.#ctx.store();
    if (!db) throw new Error("PushService is not started: call start() first");
    return db;
  }
}
