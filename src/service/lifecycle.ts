/**
 * Browser-shell lifecycle rules, as Firefox applies them to sites: the push quota (how many
 * pushes a site that is not visited may send), visible-notification counters that suspend the
 * quota, and the matching rules for clearing a site's data. Pure functions and small state:
 * PushService decides when to apply them.
 */

import type { PushRecord } from "../db/push-db.ts";

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
  readonly #shown = new Map<string, number>();

  shown(scope: string): void {
    const origin = originOf(scope);
    this.#shown.set(origin, (this.#shown.get(origin) ?? 0) + 1);
  }

  closed(scope: string): void {
    const origin = originOf(scope);
    const count = (this.#shown.get(origin) ?? 0) - 1;
    if (count > 0) this.#shown.set(origin, count);
    else this.#shown.delete(origin);
  }

  isShown(scope: string): boolean {
    return this.#shown.has(originOf(scope));
  }

  clear(): void {
    this.#shown.clear();
  }
}
