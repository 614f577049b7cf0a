/**
 * base64url without importing Node's Buffer, so the browser bundle stays free of Node built-ins.
 * Decoding is strict about the alphabet and ignores `=` padding, as Firefox does for payloads.
 * Every push payload goes through decode(): where the runtime has a global Buffer (Node, Electron
 * main) the checked text is decoded natively, elsewhere four characters at a time.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** Indexed by char code & 0xff; a code above 0xff is caught by the `> 0xff` check, not here. */
const LOOKUP = new Int16Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;
const ALPHABET_ONLY = /^[A-Za-z0-9_-]*$/;

interface NodeBuffer extends Uint8Array {}
type BufferFrom = (text: string, encoding: "base64url") => NodeBuffer;
const nativeFrom: BufferFrom | undefined = (() => {
  const buffer = (globalThis as { Buffer?: { from?: unknown } }).Buffer;
  return typeof buffer?.from === "function" ? (buffer.from.bind(buffer) as BufferFrom) : undefined;
})();

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
  const body = unpadded(text, options);
  const fast = nativeFrom ? decodeNative(body, nativeFrom) : decodeQuads(body);
  // The slow loop only runs to say where the bad character is.
  return fast ?? decodeChecked(body);
}

/** decode() as it runs where there is no Buffer (browsers); exported for the tests. */
export function decodePortable(text: string, options: DecodeOptions = {}): Uint8Array {
  const body = unpadded(text, options);
  return decodeQuads(body) ?? decodeChecked(body);
}

/** The text without its `=` padding (unless padding is rejected), checked for a possible length. */
function unpadded(text: string, options: DecodeOptions): string {
  let end = text.length;
  if (options.padding !== "reject") {
    while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  }
  if (end % 4 === 1) throw new Base64urlError("Invalid base64url length");
  return end === text.length ? text : text.slice(0, end);
}

/** Node's decoder skips characters outside the alphabet, so the text is checked first. */
function decodeNative(text: string, from: BufferFrom): Uint8Array | null {
  if (!ALPHABET_ONLY.test(text)) return null;
  const buffer = from(text, "base64url");
  // Short results come from Buffer's shared pool: copy them out rather than expose the pool.
  if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== buffer.length) return new Uint8Array(buffer);
  return new Uint8Array(buffer.buffer, 0, buffer.length);
}

/** Four characters → three bytes per step; null when a character is outside the alphabet. */
function decodeQuads(text: string): Uint8Array | null {
  const end = text.length;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  const full = end - (end % 4);
  let o = 0;
  let check = 0;
  for (let i = 0; i < full; i += 4) {
    const a = text.charCodeAt(i);
    const b = text.charCodeAt(i + 1);
    const c = text.charCodeAt(i + 2);
    const d = text.charCodeAt(i + 3);
    const va = LOOKUP[a & 0xff]!;
    const vb = LOOKUP[b & 0xff]!;
    const vc = LOOKUP[c & 0xff]!;
    const vd = LOOKUP[d & 0xff]!;
    // A negative value (not in the alphabet) or a code above 0xff marks the text as bad.
    check |= va | vb | vc | vd | ((a | b | c | d) & ~0xff ? -1 : 0);
    const n = (va << 18) | (vb << 12) | (vc << 6) | vd;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  if (check < 0) return null;
  const rest = end - full;
  if (rest === 0) return out;
  const tail = decodeChecked(text.slice(full));
  if (tail === null) return null;
  out.set(tail, o);
  return out;
}

/** Bit by bit, naming the first bad character. */
function decodeChecked(text: string): Uint8Array {
  const end = text.length;
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
