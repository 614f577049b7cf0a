import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Base64urlError, decode, encode, encodePadded } from "../../src/crypto/base64url.ts";

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

  it("rejects characters outside the alphabet and impossible lengths", () => {
    expect(() => decode("ab+c")).toThrow(Base64urlError);
    expect(() => decode("abcde")).toThrow(Base64urlError);
    expect(() => decode("ab==", { padding: "reject" })).toThrow(Base64urlError);
  });
});
