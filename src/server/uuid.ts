/**
 * UUID parsing the way autopush's uuid crate does it: simple (32 hex), hyphenated, braced and
 * urn forms, any hex case. uaids travel as the 32-hex "simple" form, channelIDs as lower-case
 * dashed strings.
 */

import { randomUUID } from "node:crypto";

const HEX32 = /^[0-9a-fA-F]{32}$/;
const DASHED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parse any accepted UUID form; returns 32 lower-case hex digits, or null. */
export function parseUuid(text: string): string | null {
  let body = text;
  if (body.length === 38 && body.startsWith("{") && body.endsWith("}")) body = body.slice(1, -1);
  else if (body.length === 45 && body.toLowerCase().startsWith("urn:uuid:")) body = body.slice(9);
  if (body.length === 36 && DASHED.test(body)) return body.replaceAll("-", "").toLowerCase();
  if (body.length === 32 && HEX32.test(body)) return body.toLowerCase();
  return null;
}

/** 32-hex form to the dashed form channelIDs use on the wire. */
export function toDashed(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** register requires the channelID to already be in its canonical lower-case dashed form. */
export function isCanonicalDashed(text: string): boolean {
  return CANONICAL.test(text);
}

export function newUaid(): string {
  return randomUUID().replaceAll("-", "");
}

export function hexToBytes(hex: string): Buffer {
  return Buffer.from(hex, "hex");
}
