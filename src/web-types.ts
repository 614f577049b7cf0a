/**
 * The Web API types the public API is shaped after (JsonWebKey, BufferSource, IDBFactory,
 * IDBTransactionDurability), declared structurally here: the DOM lib's globals are not there in
 * a Node project's tsconfig, so no published declaration may name them. Each one accepts its DOM
 * namesake, and what push-agent hands out fits where the DOM type is asked for.
 */

/**
 * A JSON Web Key (RFC 7517) with the fields of an EC key and WebCrypto's extras; every field is
 * optional, as in WebCrypto's JsonWebKey. A type alias, not an interface: only an alias also
 * fits node:crypto's JsonWebKey, whose index signature an interface would not satisfy.
 */
export type JsonWebKeyLike = {
  kty?: string;
  crv?: string;
  d?: string;
  x?: string;
  y?: string;
  alg?: string;
  use?: string;
  ext?: boolean;
  key_ops?: string[];
};

/** Bytes as WebCrypto's BufferSource takes them: an ArrayBuffer or any view on one (Buffer too). */
export type BufferSourceLike = ArrayBuffer | ArrayBufferView;

/**
 * The IDBFactory surface an IndexedDB store is opened through: the runtime's `indexedDB` or
 * fake-indexeddb's. The store itself works on the DOM types internally.
 */
export interface IDBFactoryLike {
  open(name: string, version?: number): object;
  deleteDatabase(name: string): object;
  cmp(first: unknown, second: unknown): number;
}

/** IDBTransactionDurability. */
export type TransactionDurability = "default" | "relaxed" | "strict";
