/**
 * Parsing of user agent -> server frames with autopush's typing rules: invalid JSON, an unknown
 * messageType or a missing / ill-typed field is a "Json" error (close 1011). Unknown fields are
 * ignored. channelIDs typed as UUIDs (hello, unregister, ack) accept any UUID form and come out
 * as 32 hex; register keeps its raw string because the state machine checks its exact form.
 */

import { parseUuid } from "./uuid.ts";

export type ClientMessage =
  | { type: "hello"; uaid: string | undefined; broadcasts: Record<string, string> }
  | { type: "register"; channelID: string; key: string | undefined }
  | { type: "unregister"; chid: string; code: number | undefined }
  | { type: "ack"; updates: { chid: string; version: string; code: number | undefined }[] }
  | { type: "nack"; version: string; code: number | undefined }
  | { type: "broadcast_subscribe"; broadcasts: Record<string, string> }
  | { type: "ping" };

export class JsonError extends Error {
  override name = "JsonError";
}

type Fields = Record<string, unknown>;

export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonError("invalid JSON");
  }
  if (!isObject(value)) throw new JsonError("message is not an object");
  // The bare "{}" is the protocol-level ping.
  if (Object.keys(value).length === 0) return { type: "ping" };
  const kind = value.messageType;
  if (typeof kind !== "string") throw new JsonError("missing messageType");
  switch (kind) {
    case "hello":
      return parseHello(value);
    case "register":
      return {
        type: "register",
        channelID: requiredString(value, "channelID"),
        key: optionalString(value, "key"),
      };
    case "unregister":
      return {
        type: "unregister",
        chid: uuidField(value, "channelID"),
        code: optionalInt(value, "code", 0, 2 ** 32 - 1),
      };
    case "ack":
      return { type: "ack", updates: parseUpdates(value.updates) };
    case "nack":
      return {
        type: "nack",
        version: requiredString(value, "version"),
        code: optionalInt(value, "code", -(2 ** 31), 2 ** 31 - 1),
      };
    case "broadcast_subscribe":
      return { type: "broadcast_subscribe", broadcasts: broadcastMap(value.broadcasts, false) };
    case "ping":
      return { type: "ping" };
    default:
      throw new JsonError(`unknown messageType ${JSON.stringify(kind).slice(0, 40)}`);
  }
}

function parseHello(value: Fields): ClientMessage {
  const uaid = optionalString(value, "uaid");
  const channelIDs = value.channelIDs;
  if (channelIDs !== undefined && channelIDs !== null) {
    if (!Array.isArray(channelIDs)) throw new JsonError("channelIDs is not a list");
    for (const id of channelIDs) {
      if (typeof id !== "string" || parseUuid(id) === null)
        throw new JsonError("channelIDs holds a non-UUID");
    }
  }
  return { type: "hello", uaid, broadcasts: broadcastMap(value.broadcasts, true) };
}

function parseUpdates(updates: unknown): { chid: string; version: string; code: number | undefined }[] {
  if (!Array.isArray(updates)) throw new JsonError("updates is not a list");
  return updates.map((update) => {
    if (!isObject(update)) throw new JsonError("ack update is not an object");
    return {
      chid: uuidField(update, "channelID"),
      version: requiredString(update, "version"),
      code: optionalInt(update, "code", 0, 65535),
    };
  });
}

function broadcastMap(value: unknown, optional: boolean): Record<string, string> {
  if ((value === undefined || value === null) && optional) return {};
  if (!isObject(value)) throw new JsonError("broadcasts is not an object");
  const out: Record<string, string> = {};
  for (const [id, version] of Object.entries(value)) {
    if (typeof version !== "string") throw new JsonError("broadcast version is not a string");
    out[id] = version;
  }
  return out;
}

function uuidField(value: Fields, name: string): string {
  const hex = parseUuid(requiredString(value, name));
  if (hex === null) throw new JsonError(`${name} is not a UUID`);
  return hex;
}

function requiredString(value: Fields, name: string): string {
  const field = value[name];
  if (typeof field !== "string") throw new JsonError(`${name} must be a string`);
  return field;
}

function optionalString(value: Fields, name: string): string | undefined {
  const field = value[name];
  if (field === undefined || field === null) return undefined;
  if (typeof field !== "string") throw new JsonError(`${name} must be a string`);
  return field;
}

function optionalInt(value: Fields, name: string, min: number, max: number): number | undefined {
  const field = value[name];
  if (field === undefined || field === null) return undefined;
  if (typeof field !== "number" || !Number.isInteger(field) || field < min || field > max) {
    throw new JsonError(`${name} must be an integer`);
  }
  return field;
}

function isObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
