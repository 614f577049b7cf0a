/**
 * base64url without Node's Buffer, so the browser bundle stays free of Node built-ins.
 * Decoding is strict about the alphabet and ignores `=` padding, as Firefox does for payloads.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export class Base64urlError extends Error {
  override name = "Base64urlError";
}

/** Encode bytes as unpadded base64url. */
export function encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

/** Encode with `=` padding: the register frame's `key` is sent padded, as Firefox does. */
export function encodePadded(bytes: Uint8Array): string {
  const s = encode(bytes);
  return s + "=".repeat((4 - (s.length % 4)) % 4);
}

export interface DecodeOptions {
  /** "ignore": trailing `=` is accepted and dropped (default); "reject": any `=` is an error. */
  padding?: "ignore" | "reject";
}

/** Decode base64url; throws Base64urlError on a character outside the alphabet or a bad length. */
export function decode(text: string, options: DecodeOptions = {}): Uint8Array {
  let end = text.length;
  if (options.padding !== "reject") {
    while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  }
  if (end % 4 === 1) throw new Base64urlError("Invalid base64url length");
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c]! : -1;
    if (v < 0) throw new Base64urlError(`Invalid base64url character at position ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
