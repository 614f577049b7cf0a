/** The small shared pieces: the per-record nonce (RFC 8188 §2.3) and the bounded key cache. */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyCache, privateKeyId } from "../../src/crypto/key-cache.ts";
import { recordNonce } from "../../src/crypto/nonce.ts";

describe("recordNonce", () => {
  const toBig = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).toString("hex")}`);

  it("is the base nonce XOR the 96-bit big-endian sequence number", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.nat({ max: 2 ** 48 - 1 }),
        (base, seq) => {
          expect(toBig(recordNonce(base, seq))).toBe(toBig(base) ^ BigInt(seq));
        },
      ),
    );
  });

  it("leaves the base untouched, even when it is a Node Buffer slice", () => {
    const base = Buffer.from("000102030405060708090a0b0c0d", "hex").subarray(1, 13);
    const before = Buffer.from(base);
    recordNonce(base, 0xffffffff + 7);
    expect(base).toEqual(before);
  });
});

describe("KeyCache", () => {
  it("evicts the least recently used entry past its limit", () => {
    const cache = new KeyCache<number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
    expect(cache.size).toBe(2);
  });

  it("is keyed by the JWK's d", () => {
    expect(privateKeyId({ kty: "EC", d: "abc" })).toBe("abc");
    expect(privateKeyId({ kty: "EC" })).toBeNull();
    expect(privateKeyId({ kty: "EC", d: "" })).toBeNull();
  });
});
