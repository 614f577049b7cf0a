/**
 * What an application server does: encrypt a payload for a subscription, sign it with VAPID and
 * POST it to the endpoint. The request is built by `web-push` (encryption, headers, VAPID JWT);
 * it is sent with fetch because web-push's own sender only speaks https, and a local push
 * server's endpoints are http://. With a proxy (given or from the environment) or TLS material
 * it goes through the Node network layer instead (net/network-node.ts), which fetch cannot take.
 */

import webpush from "web-push";
import { checkNetworkOptions, type NetworkOptions, needsNetworkLayer } from "../net/proxy.ts";

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

/** `proxy`, `noProxy`, `tls`: the README's "Proxies and private CAs". */
export interface SendPushOptions extends NetworkOptions {
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
  checkNetworkOptions(options);
  const request = buildRequest(subscription, payload, options);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name] = String(value);
  if (needsNetworkLayer(options)) return sendThroughNetworkLayer(request, headers, options);
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

async function sendThroughNetworkLayer(
  request: PushRequest,
  headers: Record<string, string>,
  options: NetworkOptions & { signal?: AbortSignal },
): Promise<SendPushResult> {
  const { requestVia } = await import("../net/network-node.ts");
  const response = await requestVia(
    request.endpoint,
    {
      method: request.method,
      headers,
      ...(request.body ? { body: new Uint8Array(request.body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
    options,
  );
  return {
    ok: response.status >= 200 && response.status < 300,
    statusCode: response.status,
    statusText: response.statusText,
    location: response.headers.location ?? null,
    headers: response.headers,
    body: response.body,
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
