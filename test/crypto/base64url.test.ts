import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Base64urlError, decode, decodePortable, encode, encodePadded } from "../../src/crypto/base64url.ts";

describe("base64url", () => {
  it("matches Node's base64url for random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const expected = Buffer.from(bytes).toString("base64url");
        expect(encode(bytes)).toBe(expected);
        expect(decode(expected)).toEqual(bytes);
        expect(decode(encodePadded(bytes))).toEqual(bytes);
      }),
    );
  });

  it("decodes the same without Buffer (the browser path), long texts included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        const text = Buffer.from(bytes).toString("base64url");
        expect(decodePortable(text)).toEqual(bytes);
        expect(decode(text)).toEqual(bytes);
        expect(decodePortable(encodePadded(bytes))).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it("never hands out a view into Buffer's shared pool", () => {
    const bytes = decode("AQID");
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(3);
  });

  describe.each([
    ["decode", decode],
    ["decodePortable", decodePortable],
  ])("%s", (_name, fn) => {
    it("rejects characters outside the alphabet and impossible lengths", () => {
      expect(() => fn("ab+c")).toThrow(Base64urlError);
      expect(() => fn("abcde")).toThrow(Base64urlError);
      expect(() => fn("ab==", { padding: "reject" })).toThrow(Base64urlError);
      expect(() => fn(`${"A".repeat(400)}/AAA`)).toThrow("position 400");
      expect(() => fn(`${"A".repeat(400)}\u0141AAA`)).toThrow("position 400");
      expect(() => fn(`${"A".repeat(400)}\u0100AAA`)).toThrow(Base64urlError);
      expect(() => fn("AA A")).toThrow(Base64urlError);
    });
  });
});
