/**
 * The messages between the in-page/in-worker shim and the bridge, and their validation. What a
 * page sends through the binding is hostile network input: parseShimMessage accepts only these
 * shapes, with bounded strings, and nothing in them is trusted for *who* is calling (the bridge
 * takes the origin from the execution context the call came from).
 */

import { encode } from "../crypto/base64url.ts";

/** What the shim reads from the browser's Notification.permission ("default" becomes "prompt"). */
export type BrowserPermission = "granted" | "denied" | "prompt";

export type ShimRequest =
  | {
      op: "subscribe";
      id: number;
      scope: string;
      /** base64url as the site gave it, or the BufferSource's bytes in base64url; null when none. */
      key: string | null;
      userVisibleOnly: boolean;
      permission: BrowserPermission;
    }
  | { op: "getSubscription"; id: number; scope: string }
  | { op: "permissionState"; id: number; scope: string; permission: BrowserPermission }
  | { op: "unsubscribe"; id: number; scope: string; endpoint: string };

export type ShimMessage =
  | ShimRequest
  /** The shim is in this context (a worker reports its registration's scope when it can read it). */
  | { op: "ready"; scope: string | null; permission: BrowserPermission }
  /** The notification permission changed while a page was open. */
  | { op: "permission"; permission: BrowserPermission }
  /** A push event's handlers (and their waitUntil promises) settled. */
  | { op: "pushDone"; delivery: string; ok: boolean };

/** The public parts of a subscription, as the shim turns them into a PushSubscription. */
export interface SubscriptionValue {
  endpoint: string;
  expirationTime: number | null;
  /** base64url, or null for a subscription without applicationServerKey. */
  applicationServerKey: string | null;
  userVisibleOnly: boolean;
  p256dh: string;
  auth: string;
}

/** The bridge's answer to one request. */
export type ShimReply =
  | { id: number; ok: true; value: SubscriptionValue | BrowserPermission | boolean | null }
  | { id: number; ok: false; name: string; message: string };

/** What the bridge asks the shim to do besides answering (Runtime.evaluate into the context). */
export type ShimCommand =
  | { op: "reply"; reply: ShimReply }
  | { op: "permission" }
  | { op: "change"; oldSubscription: SubscriptionValue | null }
  /** The bridge detaches: put the browser's own Push API back and fail what is still waiting. */
  | { op: "detach" };

const MAX_PAYLOAD = 8_192;
const MAX_URL = 2_048;
const PERMISSIONS = new Set(["granted", "denied", "prompt"]);

/** The message, or null when the payload is anything but one of the shapes above. */
export function parseShimMessage(payload: unknown): ShimMessage | null {
  if (typeof payload !== "string" || payload.length > MAX_PAYLOAD) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const m = raw as Record<string, unknown>;
  switch (m.op) {
    case "subscribe":
      if (!isId(m.id) || !isURL(m.scope) || typeof m.userVisibleOnly !== "boolean") return null;
      if (m.key !== null && !(typeof m.key === "string" && m.key.length <= 1_024)) return null;
      if (!isPermission(m.permission)) return null;
      return {
        op: "subscribe",
        id: m.id,
        scope: m.scope,
        key: m.key,
        userVisibleOnly: m.userVisibleOnly,
        permission: m.permission,
      };
    case "getSubscription":
      return isId(m.id) && isURL(m.scope) ? { op: "getSubscription", id: m.id, scope: m.scope } : null;
    case "permissionState":
      if (!isId(m.id) || !isURL(m.scope) || !isPermission(m.permission)) return null;
      return { op: "permissionState", id: m.id, scope: m.scope, permission: m.permission };
    case "unsubscribe":
      if (!isId(m.id) || !isURL(m.scope) || !isURL(m.endpoint)) return null;
      return { op: "unsubscribe", id: m.id, scope: m.scope, endpoint: m.endpoint };
    case "ready":
      if (!(m.scope === null || isURL(m.scope)) || !isPermission(m.permission)) return null;
      return { op: "ready", scope: m.scope, permission: m.permission };
    case "permission":
      return isPermission(m.permission) ? { op: "permission", permission: m.permission } : null;
    case "pushDone":
      if (typeof m.delivery !== "string" || !/^[0-9a-z]{1,32}$/.test(m.delivery)) return null;
      return typeof m.ok === "boolean" ? { op: "pushDone", delivery: m.delivery, ok: m.ok } : null;
    default:
      return null;
  }
}

function isId(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isURL(value: unknown): value is string {
  if (typeof value !== "string" || value.length > MAX_URL) return false;
  return URL.canParse(value);
}

function isPermission(value: unknown): value is BrowserPermission {
  return typeof value === "string" && PERMISSIONS.has(value);
}

/** The public parts a site may see, from push-agent's subscription (never a private key). */
export function subscriptionValue(
  subscription: {
    endpoint: string;
    expirationTime: number | null;
    options: { applicationServerKey: ArrayBuffer | null };
    toJSON(): { keys: { p256dh: string; auth: string } };
  },
  userVisibleOnly = true,
): SubscriptionValue {
  const key = subscription.options.applicationServerKey;
  const { keys } = subscription.toJSON();
  return {
    endpoint: subscription.endpoint,
    expirationTime: subscription.expirationTime,
    applicationServerKey: key ? encode(new Uint8Array(key)) : null,
    // Chromium only has user-visible subscriptions; push-agent does not store the flag, so only
    // an embedder's allowSilentPush makes it false (see the bridge's #silent).
    userVisibleOnly,
    p256dh: keys.p256dh,
    auth: keys.auth,
  };
}
