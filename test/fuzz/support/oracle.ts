/**
 * What a parse result must look like, checked independently of the parser: the shape of every
 * typed message, and for the fields that decide delivery (messageType, channelID, version, data)
 * agreement with a plain JSON.parse of the same text. Also the list of known library bugs the
 * fuzzers may hit, so a hit is counted and reported instead of hiding every other finding.
 */

import { MAX_FRAME_CHARS, MAX_UAID_LENGTH, type ParseResult } from "../../../src/protocol/messages.ts";

const HEADER_NAMES = new Set(["encoding", "encryption", "crypto_key", "encryption_key"]);

function isStringMap(value: unknown): boolean {
  return value instanceof Map && [...value].every(([k, v]) => typeof k === "string" && typeof v === "string");
}

/** Problems with `result` as the parse of `text`; empty when it is well-formed and faithful. */
export function checkParse(text: string, result: ParseResult): string[] {
  const problems = checkShape(result);
  problems.push(...checkAgainstJson(text, result));
  return problems;
}

function checkShape(result: ParseResult): string[] {
  if (result === null || typeof result !== "object") return ["result is not an object"];
  if (result.kind === "ignored") {
    const ok =
      typeof result.parsed === "boolean" && typeof result.reason === "string" && result.reason.length > 0;
    return ok ? [] : ["ignored result without parsed flag or reason"];
  }
  if (result.kind !== "message") return [`unknown result kind ${String((result as { kind: unknown }).kind)}`];
  const m = result.message;
  switch (m.type) {
    case "pong":
      return [];
    case "hello":
      return [
        ...(typeof m.uaid === "string" && m.uaid.length > 0 && m.uaid.length <= MAX_UAID_LENGTH
          ? []
          : ["hello uaid"]),
        ...(typeof m.useWebPush === "boolean" ? [] : ["hello useWebPush"]),
        ...(isStringMap(m.broadcasts) && isStringMap(m.broadcastErrors) ? [] : ["hello broadcasts"]),
      ];
    case "register":
      return [
        ...(typeof m.channelID === "string" ? [] : ["register channelID"]),
        ...(typeof m.status === "number" ? [] : ["register status"]),
        ...(m.pushEndpoint === null || typeof m.pushEndpoint === "string" ? [] : ["register pushEndpoint"]),
      ];
    case "unregister":
      return typeof m.channelID === "string" && typeof m.status === "number" ? [] : ["unregister fields"];
    case "broadcast":
      return isStringMap(m.broadcasts) && isStringMap(m.broadcastErrors) ? [] : ["broadcast maps"];
    case "notification":
      return m.updates === null ? checkWebPush(m) : checkLegacy(m);
    default:
      return [`unknown message type ${String((m as { type: unknown }).type)}`];
  }
}

function checkWebPush(m: Extract<ParseResult, { kind: "message" }>["message"] & { type: "notification" }) {
  if (m.updates !== null) return [];
  const problems: string[] = [];
  if (typeof m.channelID !== "string") problems.push("notification channelID");
  if (typeof m.messageId !== "string" || m.messageId.length === 0) problems.push("notification messageId");
  if (m.data !== null && typeof m.data !== "string") problems.push("notification data");
  if (m.data === null && m.headers !== null) problems.push("headers without data");
  if (m.headers !== null) {
    if (Object.getPrototypeOf(m.headers) !== Object.prototype) problems.push("headers prototype");
    for (const [name, value] of Object.entries(m.headers)) {
      if (!HEADER_NAMES.has(name) || typeof value !== "string") problems.push(`header ${name}`);
    }
  }
  return problems;
}

function checkLegacy(m: Extract<ParseResult, { kind: "message" }>["message"] & { type: "notification" }) {
  if (m.updates === null) return [];
  const problems: string[] = [];
  if (m.channelID !== null || m.messageId !== null || m.data !== null) problems.push("legacy fields");
  for (const u of m.updates) {
    if (typeof u.channelID !== "string") problems.push("legacy channelID");
    if (typeof u.version !== "number" || !Number.isFinite(u.version) || u.version < 0)
      problems.push("legacy version");
  }
  return problems;
}

/** The decisions that matter, recomputed from JSON.parse. */
function checkAgainstJson(text: string, result: ParseResult): string[] {
  if (text.length > MAX_FRAME_CHARS) {
    return result.kind === "ignored" && !result.parsed ? [] : ["oversized frame not ignored unparsed"];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return result.kind === "ignored" && !result.parsed ? [] : ["invalid JSON not ignored unparsed"];
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return result.kind === "ignored" ? [] : ["non-object JSON produced a message"];
  }
  const frame = json as Record<string, unknown>;
  const type = frame.messageType;
  if (typeof type !== "string") {
    return result.kind === "message" && result.message.type === "pong"
      ? []
      : ["frame without messageType is not a pong"];
  }
  if (type.toLowerCase() !== "notification" || typeof frame.channelID !== "string") return [];
  const valid = typeof frame.version === "string" && frame.version.length > 0;
  if (!valid) return result.kind === "ignored" ? [] : ["notification without version accepted"];
  if (result.kind !== "message" || result.message.type !== "notification")
    return ["valid notification ignored"];
  const m = result.message;
  const data = typeof frame.data === "string" ? frame.data : null;
  if (m.channelID !== frame.channelID || m.messageId !== frame.version || m.data !== data) {
    return ["notification fields differ from the JSON"];
  }
  return [];
}

/** Object.prototype must stay exactly as it was: no key added by any input. */
export function prototypeIsClean(): boolean {
  const probe: Record<string, unknown> = {};
  return Object.keys(Object.prototype).length === 0 && probe.polluted === undefined;
}
