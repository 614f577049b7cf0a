/**
 * A small LRU map for imported private keys: a key is imported once per subscription and
 * reused, and the bound keeps a long-running agent with many subscriptions from growing forever.
 */

export class KeyCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #limit: number;

  constructor(limit = 512) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(id: string): V | undefined {
    const value = this.#entries.get(id);
    if (value === undefined) return undefined;
    // Re-insert so the map's insertion order is the recency order.
    this.#entries.delete(id);
    this.#entries.set(id, value);
    return value;
  }

  set(id: string, value: V): void {
    this.#entries.delete(id);
    this.#entries.set(id, value);
    if (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }
}

/** The cache key of a subscription private key: its JWK `d`, or null if it has none. */
export function privateKeyId(jwk: JsonWebKey): string | null {
  return typeof jwk?.d === "string" && jwk.d.length > 0 ? jwk.d : null;
}
