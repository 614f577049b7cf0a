/**
 * What an application server does: encrypt a payload for a subscription, sign it with VAPID and
 * POST it to the endpoint. The request is built by `web-push` (encryption, headers, VAPID JWT);
 * it is sent with fetch because web-push's own sender only speaks https, and a local push
 * server's endpoints are http://.
 */

import webpush from "web-push";

export interface PushTarget {
  endpoint: string;
  keys?: { p256dh: string; auth: string };
}

/** RFC 8292 signing details: `subject` is a mailto: or https: URL, the keys base64url. */
export interface VapidDetails {
  subject: string;
  publicKey: string;
  privateKey: string;
}

export interface SendPushOptions {
  /** Seconds the push service may keep the message. Default 86 400 (a day). */
  TTL?: number;
  topic?: string;
  urgency?: "very-low" | "low" | "normal" | "high";
  contentEncoding?: "aes128gcm" | "aesgcm";
  vapidDetails?: VapidDetails;
}

export interface SendPushResult {
  ok: boolean;
  statusCode: number;
  statusText: string;
  /** The message's URL (`Location`), whose last segment is the messageId the user agent sees. */
  location: string | null;
  headers: Record<string, string>;
  body: string;
}

export async function sendPush(
  subscription: PushTarget,
  payload: string | Uint8Array | null,
  options: SendPushOptions & { signal?: AbortSignal } = {},
): Promise<SendPushResult> {
  const request = buildRequest(subscription, payload, options);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name] = String(value);
  const response = await fetch(request.endpoint, {
    method: request.method,
    headers,
    body: request.body ? new Uint8Array(request.body) : undefined,
    signal: options.signal,
  });
  const responseHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    responseHeaders[name] = value;
  });
  return {
    ok: response.ok,
    statusCode: response.status,
    statusText: response.statusText,
    location: response.headers.get("location"),
    headers: responseHeaders,
    body: await response.text(),
  };
}

/** A push request ready to send; our own shape, so no public declaration needs web-push's types. */
export interface PushRequest {
  method: string;
  endpoint: string;
  headers: Record<string, string | number>;
  body: Buffer | null;
}

/** The subscription's keys or the VAPID details were refused before anything was sent. */
export class InvalidPushRequestError extends Error {
  override name = "InvalidPushRequestError";
}

/** web-push's request: encrypted body, Content-Encoding, TTL, Topic, Urgency, VAPID Authorization. */
export function buildRequest(
  subscription: PushTarget,
  payload: string | Uint8Array | null,
  options: SendPushOptions,
): PushRequest {
  try {
    return generate(subscription, payload, options);
  } catch (error) {
    throw new InvalidPushRequestError(error instanceof Error ? error.message : String(error));
  }
}

function generate(
  subscription: PushTarget,
  payload: string | Uint8Array | null,
  options: SendPushOptions,
): PushRequest {
  const requestOptions: webpush.RequestOptions = {
    TTL: options.TTL ?? 86_400,
    contentEncoding: options.contentEncoding ?? "aes128gcm",
    ...(options.topic ? { topic: options.topic } : {}),
    ...(options.urgency ? { urgency: options.urgency } : {}),
    ...(options.vapidDetails ? { vapidDetails: options.vapidDetails } : {}),
  };
  const target = subscription as webpush.PushSubscription;
  if (payload === null) return webpush.generateRequestDetails(target, null, requestOptions);
  const body = typeof payload === "string" ? payload : Buffer.from(payload);
  return webpush.generateRequestDetails(target, body, requestOptions);
}
