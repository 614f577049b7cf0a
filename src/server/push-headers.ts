/**
 * The push request headers autoendpoint validates, in its order: TTL present and an integer
 * (errno 111), the encryption headers when there is a body (errno 110), TTL not negative
 * (errno 114), Topic (errno 113). Also the header clean-up before they reach the UA: double
 * quotes removed and base64 `=` padding stripped in Encryption and Crypto-Key.
 */

export const MAX_TTL = 2_592_000;
const BASE64URL_VALUE = /^[0-9A-Za-z\-_]+=*$/;
const STRIP_PADDING = /([0-9A-Za-z\-_]+)=+([,;]|$)/g;

export class HeaderError extends Error {
  override name = "HeaderError";
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

export interface PushHeaders {
  /** Capped at MAX_TTL; echoed in the TTL response header. */
  ttl: number;
  topic: string | undefined;
  /** encoding / encryption / crypto_key as the UA receives them; undefined for an empty body. */
  notificationHeaders: Record<string, string> | undefined;
}

type HeaderGetter = (name: string) => string | undefined;

export function parsePushHeaders(get: HeaderGetter, hasData: boolean): PushHeaders {
  const rawTtl = get("ttl");
  if (rawTtl === undefined || !/^[+-]?\d+$/.test(rawTtl.trim()) || !Number.isSafeInteger(Number(rawTtl))) {
    throw new HeaderError(111, "Missing TTL value");
  }
  const notificationHeaders = hasData ? encryptionHeaders(get) : undefined;
  const ttl = Number(rawTtl);
  if (ttl < 0) throw new HeaderError(114, "TTL must be greater than 0");
  const topic = get("topic");
  if (topic !== undefined) {
    if (topic.length > 32) throw new HeaderError(113, "Topic must be no greater than 32 characters");
    if (!BASE64URL_VALUE.test(topic))
      throw new HeaderError(113, "Topic must be URL and Filename safe Base64 alphabet");
  }
  return { ttl: Math.min(ttl, MAX_TTL), topic, notificationHeaders };
}

/** Remove double quotes and base64 padding before `,`, `;` or the end. */
export function cleanCryptoHeader(value: string): string {
  return value.replaceAll('"', "").replace(STRIP_PADDING, "$1$2");
}

function encryptionHeaders(get: HeaderGetter): Record<string, string> {
  const encoding = get("content-encoding");
  const encryption = optionalClean(get("encryption"));
  const cryptoKey = optionalClean(get("crypto-key"));
  if (encoding === undefined) throw new HeaderError(110, "Missing Content-Encoding header");
  if (encoding === "aesgcm") {
    requireBase64Item("Encryption", encryption, "salt");
    if (get("encryption-key") !== undefined) {
      throw new HeaderError(110, "Encryption-Key header is not valid for webpush draft 02 or later");
    }
    if (cryptoKey !== undefined) requireBase64Item("Crypto-Key", cryptoKey, "dh");
  } else if (encoding === "aes128gcm") {
    forbidItem("Encryption", encryption, "salt");
    forbidItem("Crypto-Key", cryptoKey, "dh");
  } else {
    throw new HeaderError(110, "Unknown Content-Encoding header");
  }
  const headers: Record<string, string> = { encoding };
  if (encryption !== undefined) headers.encryption = encryption;
  if (cryptoKey !== undefined) headers.crypto_key = cryptoKey;
  return headers;
}

function optionalClean(value: string | undefined): string | undefined {
  return value === undefined ? undefined : cleanCryptoHeader(value);
}

/** `k=v` items separated by `,` or `;`; null when an item has no `=`. */
function parseItems(header: string): Map<string, string> | null {
  const items = new Map<string, string>();
  for (const raw of header.split(/[,;]/)) {
    const item = raw.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq <= 0) return null;
    items.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim());
  }
  return items;
}

function requireBase64Item(name: string, header: string | undefined, key: string): void {
  if (header === undefined) throw new HeaderError(110, `Missing ${name} header`);
  const items = parseItems(header);
  if (items === null) throw new HeaderError(110, `Invalid ${name} header`);
  const value = items.get(key);
  if (value === undefined) throw new HeaderError(110, `Missing ${key} value in ${name} header`);
  if (!BASE64URL_VALUE.test(value)) throw new HeaderError(110, `Invalid ${key} value in ${name} header`);
}

function forbidItem(name: string, header: string | undefined, key: string): void {
  if (header === undefined) return;
  const items = parseItems(header);
  if (items === null) throw new HeaderError(110, `Invalid ${name} header`);
  if (items.has(key))
    throw new HeaderError(110, `Do not include '${key}' in the ${name} header with aes128gcm`);
}
