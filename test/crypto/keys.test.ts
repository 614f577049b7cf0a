/**
 * Subscription keys: generateKeys() shapes (and both backends' key generation), and
 * validateAppServerKey() accepting real VAPID keys and rejecting anything that is not a P-256 point.
 */

import { createECDH } from "node:crypto";
import { describe, expect, it } from "vitest";
import webpush from "web-push";
import { decode } from "../../src/crypto/base64url.ts";
import { createDecryptor } from "../../src/crypto/decrypt.ts";
import { generateKeys, isP256Point, validateAppServerKey } from "../../src/crypto/keys.ts";
import { PushError } from "../../src/errors.ts";
import { backends, encryptWithEce, makeSubscription, randomPayload } from "./helpers.ts";

const P = Buffer.from("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", "hex");

describe("generateKeys", () => {
  it("returns a raw P-256 public key, a JWK private key and a 16-byte auth secret", async () => {
    const keys = await generateKeys();
    expect(keys.publicKey).toBeInstanceOf(Uint8Array);
    expect(keys.publicKey).toHaveLength(65);
    expect(keys.publicKey[0]).toBe(4);
    expect(isP256Point(keys.publicKey)).toBe(true);
    expect(Object.keys(keys.privateKey).sort()).toEqual(["crv", "d", "kty", "x", "y"]);
    expect(keys.privateKey).toMatchObject({ kty: "EC", crv: "P-256" });
    expect(decode(keys.privateKey.d!)).toHaveLength(32);
    expect(decode(keys.privateKey.x!)).toEqual(keys.publicKey.subarray(1, 33));
    expect(decode(keys.privateKey.y!)).toEqual(keys.publicKey.subarray(33));
    expect(keys.authSecret).toBeInstanceOf(Uint8Array);
    expect(keys.authSecret).toHaveLength(16);
  });

  it("the private key matches the public key", async () => {
    const keys = await generateKeys();
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(decode(keys.privateKey.d!));
    expect(new Uint8Array(ecdh.getPublicKey())).toEqual(keys.publicKey);
  });

  it("never repeats", async () => {
    const [a, b] = await Promise.all([generateKeys(), generateKeys()]);
    expect(a.publicKey).not.toEqual(b.publicKey);
    expect(a.authSecret).not.toEqual(b.authSecret);
  });

  describe.each(backends)("the %s backend's key generation", (_name, backend) => {
    it("makes key pairs both backends can decrypt for", async () => {
      const pair = await backend.generateKeyPair();
      const authSecret = await backend.randomBytes(16);
      expect(authSecret).toHaveLength(16);
      expect(isP256Point(pair.publicKey)).toBe(true);
      const sub = {
        ...makeSubscription(),
        publicKey: pair.publicKey,
        privateKey: pair.privateKey,
        authSecret,
      };
      for (const [, other] of backends) {
        const payload = randomPayload(200);
        expect(await createDecryptor(other)(sub, encryptWithEce(sub, "aes128gcm", payload))).toEqual(payload);
      }
    });
  });
});

describe("validateAppServerKey", () => {
  const vapid = decode(webpush.generateVAPIDKeys().publicKey);

  async function rejection(key: Uint8Array): Promise<unknown> {
    return validateAppServerKey(key).then(
      () => null,
      (e: unknown) => e,
    );
  }

  it("accepts real keys", async () => {
    await expect(validateAppServerKey(vapid)).resolves.toBeUndefined();
    for (let i = 0; i < 20; i++) {
      await expect(
        validateAppServerKey(new Uint8Array(createECDH("prime256v1").generateKeys())),
      ).resolves.toBeUndefined();
    }
  });

  const offCurve = vapid.slice();
  offCurve[64]! ^= 1;
  const xTooBig = new Uint8Array(65);
  xTooBig[0] = 4;
  xTooBig.set(P, 1);
  const compressedKeys = createECDH("prime256v1");
  compressedKeys.generateKeys();
  const compressed = new Uint8Array(compressedKeys.getPublicKey(null, "compressed"));

  it.each([
    ["empty", new Uint8Array(0)],
    ["64 bytes", vapid.subarray(1)],
    ["66 bytes", new Uint8Array([...vapid, 0])],
    ["a 0x02 prefix", new Uint8Array([2, ...vapid.subarray(1)])],
    ["a compressed point", compressed],
    ["an off-curve point", offCurve],
    ["all zeros after the prefix", new Uint8Array([4, ...new Uint8Array(64)])],
    ["x = p", xTooBig],
    ["not bytes", "BAAA" as unknown as Uint8Array],
  ])("rejects %s with InvalidAccessError", async (_case, key) => {
    const error = await rejection(key);
    expect(error).toBeInstanceOf(PushError);
    expect(error).toMatchObject({ name: "InvalidAccessError" });
  });
});
