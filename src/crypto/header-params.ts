/**
 * Parsing of the draft-era `Encryption`, `Crypto-Key` and `Encryption-Key` header values, as
 * relayed by autopush (quotes and `=` padding stripped) or raw (quoted values are tolerated).
 */

/** One header element's `name=value` parameters; names are case-insensitive. */
export type HeaderParams = Map<string, string>;

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

function parseElement(element: string): HeaderParams {
  const params: HeaderParams = new Map();
  for (const part of element.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name) params.set(name, unquote(part.slice(eq + 1).trim()));
  }
  return params;
}

/** The `Encryption` header: only its first element counts (one message, one salt). */
export function parseEncryptionHeader(value: string): HeaderParams {
  return parseElement(value.split(",", 1)[0] ?? "");
}

export interface SenderKeys {
  /** dh values by keyid. */
  byKeyid: Map<string, string>;
  /** The first element's dh, used when Encryption names no keyid or one that is not listed. */
  first: string | undefined;
}

/** The `Crypto-Key` (aesgcm) or `Encryption-Key` (aesgcm128) header: the sender's dh keys. */
export function parseKeyHeader(value: string): SenderKeys {
  const keys: SenderKeys = { byKeyid: new Map(), first: undefined };
  for (const element of value.split(",")) {
    const params = parseElement(element);
    const dh = params.get("dh");
    if (dh === undefined) continue;
    keys.first ??= dh;
    const keyid = params.get("keyid");
    if (keyid !== undefined && !keys.byKeyid.has(keyid)) keys.byKeyid.set(keyid, dh);
  }
  return keys;
}

/** Spec §9: the dh of the element whose keyid equals Encryption's keyid, else the first dh. */
export function selectSenderKey(keys: SenderKeys, keyid: string | undefined): string | undefined {
  return (keyid !== undefined ? keys.byKeyid.get(keyid) : undefined) ?? keys.first;
}
