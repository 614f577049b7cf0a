/**
 * The autopush wire protocol: every server frame is parsed and validated here, in one place,
 * into a typed message; every client frame is built here. Nothing else in push-agent touches
 * raw JSON from the network.
 *
 * Validation follows Firefox's PushServiceWebSocket: a frame that is not JSON, has an unknown
 * messageType or lacks a well-typed field becomes an `ignored` result with a reason (the caller
 * logs it); nothing here throws.
 */

import type { PushHeaders } from "../crypto/decrypt.ts";

/** Frames larger than this are ignored unparsed: no autopush frame comes close (its limit is 64 KiB). */
export const MAX_FRAME_CHARS = 256 * 1024;
/** Firefox rejects hello replies whose uaid is longer than this. */
export const MAX_UAID_LENGTH = 128;

export interface HelloReply {
  type: "hello";
  uaid: string;
  /** The reply's `status` (autoconnect sends 200); NaN when absent or not a number. */
  status: number;
  useWebPush: boolean;
  /** Broadcast id → version deltas; empty when none. */
  broadcasts: Map<string, string>;
  broadcastErrors: Map<string, string>;
}

export interface RegisterReply {
  type: "register";
  channelID: string;
  status: number;
  pushEndpoint: string | null;
}

export interface UnregisterReply {
  type: "unregister";
  channelID: string;
  status: number;
}

/** A Web Push notification: one message for one channel. */
export interface WebPushNotification {
  type: "notification";
  channelID: string;
  /** The server's `version`: the message id to ack. */
  messageId: string;
  /** base64url payload as received (decoded later, by the service); null for a data-less push. */
  data: string | null;
  headers: PushHeaders | null;
  /** The legacy SimplePush form of the same frame, when it carried `updates` instead. */
  updates: null;
}

/** One entry of a legacy SimplePush `updates` list (already validated). */
export interface SimplePushUpdate {
  channelID: string;
  version: number;
}

export interface LegacyNotification {
  type: "notification";
  channelID: null;
  messageId: null;
  data: null;
  headers: null;
  updates: SimplePushUpdate[];
}

export interface BroadcastMessage {
  type: "broadcast";
  broadcasts: Map<string, string>;
  broadcastErrors: Map<string, string>;
}

export interface Pong {
  type: "pong";
}

export type ServerMessage =
  | HelloReply
  | RegisterReply
  | UnregisterReply
  | WebPushNotification
  | LegacyNotification
  | BroadcastMessage
  | Pong;

/**
 * `parsed`: JSON that parsed (even if ignored: Firefox counts it as activity, resetting the
 * backoff and the ping timer). `invalid-json`: not JSON at all.
 */
export type ParseResult =
  | { kind: "message"; message: ServerMessage }
  | { kind: "ignored"; parsed: boolean; reason: string; messageType?: string };

type JsonObject = Record<string, unknown>;

const ignored = (parsed: boolean, reason: string): ParseResult => ({ kind: "ignored", parsed, reason });
const message = (m: ServerMessage): ParseResult => ({ kind: "message", message: m });

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Firefox matches messageType case-insensitively: first letter upper, rest lower. */
function normalizeType(type: string): string {
  return type.toLowerCase();
}

export function parseServerFrame(text: string): ParseResult {
  try {
    return parseFrame(text);
  } catch {
    // Last line of defence: a field check that throws must not reach the socket's listener.
    return ignored(true, "frame could not be validated");
  }
}

function parseFrame(text: string): ParseResult {
  if (text.length > MAX_FRAME_CHARS) return ignored(false, `frame of ${text.length} characters is too large`);
  if (text === "{}") return message({ type: "pong" });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return ignored(false, "frame is not JSON");
  }
  if (!isObject(json)) return ignored(true, "frame is not a JSON object");
  const type = json.messageType;
  if (typeof type !== "string") return message({ type: "pong" });
  switch (normalizeType(type)) {
    case "ping":
      return message({ type: "pong" });
    case "hello":
      return parseHello(json);
    case "register":
      return parseRegister(json);
    case "unregister":
      return parseUnregister(json);
    case "notification":
      return parseNotification(json);
    case "broadcast":
      return parseBroadcast(json);
    default:
      return ignored(true, `unknown messageType ${JSON.stringify(type.slice(0, 40))}`);
  }
}

function parseHello(json: JsonObject): ParseResult {
  const uaid = json.uaid;
  if (typeof uaid !== "string" || uaid.length === 0 || uaid.length > MAX_UAID_LENGTH) {
    return {
      kind: "ignored",
      parsed: true,
      reason: "hello reply without a valid uaid",
      messageType: "hello",
    };
  }
  const { versions, errors } = parseBroadcastMap(json.broadcasts);
  return message({
    type: "hello",
    uaid,
    status: looseStatus(json.status),
    useWebPush: Boolean(json.use_webpush),
    broadcasts: versions,
    broadcastErrors: errors,
  });
}

function parseRegister(json: JsonObject): ParseResult {
  if (typeof json.channelID !== "string") return ignored(true, "register reply without a channelID");
  return message({
    type: "register",
    channelID: json.channelID,
    status: looseStatus(json.status),
    pushEndpoint: typeof json.pushEndpoint === "string" ? json.pushEndpoint : null,
  });
}

function parseUnregister(json: JsonObject): ParseResult {
  if (typeof json.channelID !== "string") return ignored(true, "unregister reply without a channelID");
  return message({ type: "unregister", channelID: json.channelID, status: looseStatus(json.status) });
}

/** Firefox compares register status loosely (`== 200`): "200" counts. */
function looseStatus(status: unknown): number {
  if (typeof status === "number") return status;
  if (typeof status === "string" && /^\d+$/.test(status)) return Number(status);
  return Number.NaN;
}

function parseNotification(json: JsonObject): ParseResult {
  if (typeof json.channelID === "string") return parseWebPushNotification(json, json.channelID);
  if (json.updates !== undefined) return parseLegacyNotification(json.updates);
  return ignored(true, "notification without a channelID");
}

function parseWebPushNotification(json: JsonObject, channelID: string): ParseResult {
  if (typeof json.version !== "string" || json.version.length === 0) {
    return ignored(true, "notification without a message id (version)");
  }
  const data = typeof json.data === "string" ? json.data : null;
  return message({
    type: "notification",
    channelID,
    messageId: json.version,
    data,
    headers: data === null ? null : parseHeaders(json.headers),
    updates: null,
  });
}

/** Only the four known string fields are copied: nothing else from the network reaches the decryptor. */
function parseHeaders(value: unknown): PushHeaders | null {
  if (!isObject(value)) return null;
  const headers: PushHeaders = {};
  for (const name of ["encoding", "encryption", "crypto_key", "encryption_key"] as const) {
    const field = value[name];
    if (typeof field === "string") headers[name] = field;
  }
  return headers;
}

function parseLegacyNotification(updates: unknown): ParseResult {
  if (typeof updates !== "object" || updates === null)
    return ignored(true, "notification updates is not a list");
  const list = Array.isArray(updates) ? updates : Object.values(updates);
  const valid: SimplePushUpdate[] = [];
  for (const entry of list) {
    const update = parseLegacyUpdate(entry);
    if (update) valid.push(update);
  }
  return message({
    type: "notification",
    channelID: null,
    messageId: null,
    data: null,
    headers: null,
    updates: valid,
  });
}

/** A bad entry is skipped silently, without an ack, as Firefox does. */
function parseLegacyUpdate(entry: unknown): SimplePushUpdate | null {
  if (!isObject(entry) || typeof entry.channelID !== "string") return null;
  const raw = entry.version;
  const version = typeof raw === "string" ? Number.parseInt(raw, 10) : raw;
  if (typeof version !== "number" || !Number.isFinite(version) || version < 0) return null;
  return { channelID: entry.channelID, version };
}

function parseBroadcast(json: JsonObject): ParseResult {
  if (!isObject(json.broadcasts)) return ignored(true, "broadcast without a broadcasts object");
  const { versions, errors } = parseBroadcastMap(json.broadcasts);
  return message({ type: "broadcast", broadcasts: versions, broadcastErrors: errors });
}

/** Maps, not objects: ids come from the network, and `__proto__` must stay an ordinary key. */
function parseBroadcastMap(value: unknown): { versions: Map<string, string>; errors: Map<string, string> } {
  const versions = new Map<string, string>();
  const errors = new Map<string, string>();
  if (!isObject(value)) return { versions, errors };
  for (const [id, version] of Object.entries(value)) {
    if (id === "errors" && isObject(version)) {
      // autopush sends string reasons; anything else (an object whose toString is not callable
      // would make String() throw) is dropped rather than coerced.
      for (const [errId, reason] of Object.entries(version)) {
        if (typeof reason === "string") errors.set(errId, reason);
      }
    } else if (typeof version === "string") {
      versions.set(id, version);
    }
  }
  return { versions, errors };
}

// ---------------------------------------------------------------------------------------------
// Client frames

export type AckCode = 100 | 101 | 102;
export type NackCode = 301 | 302 | 303;
export type UnregisterCode = 200 | 201 | 202;

/** Key order as Firefox builds it: messageType, broadcasts, use_webpush, uaid. */
export function helloFrame(uaid: string | null, broadcasts: Record<string, string>): string {
  const hello: JsonObject = { messageType: "hello", broadcasts, use_webpush: true };
  if (uaid) hello.uaid = uaid;
  return JSON.stringify(hello);
}

/** `key` is the applicationServerKey, base64url with padding (the server trims it; Firefox pads). */
export function registerFrame(channelID: string, key: string | null): string {
  const frame: JsonObject = { channelID, messageType: "register" };
  if (key) frame.key = key;
  return JSON.stringify(frame);
}

export function unregisterFrame(channelID: string, code: UnregisterCode): string {
  return JSON.stringify({ channelID, messageType: "unregister", code });
}

/** One update per ack frame, as Firefox sends them. */
export function ackFrame(channelID: string, version: string | number, code: AckCode): string {
  return JSON.stringify({ messageType: "ack", updates: [{ channelID, version, code }] });
}

export function nackFrame(version: string, code: NackCode): string {
  return JSON.stringify({ messageType: "nack", version, code });
}

export function broadcastSubscribeFrame(broadcasts: Record<string, string>): string {
  return JSON.stringify({ messageType: "broadcast_subscribe", broadcasts });
}

export const PING_FRAME = "{}";
