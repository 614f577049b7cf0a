/**
 * Every malformed input rejects with a DecryptError carrying the right code and a message that
 * says what is wrong, on both backends; nothing else ever escapes, and no partial plaintext.
 */

import { describe, expect, it } from "vitest";
import type { DecryptErrorCode } from "../../src/crypto/decrypt.ts";
import { createDecryptor, DecryptError, type EncryptedPush } from "../../src/crypto/decrypt.ts";
import {
  aes128gcmFromRecords,
  aesgcm128FromRecords,
  aesgcmFromRecords,
  b64,
  backends,
  bytesOf,
  encryptAesgcm128,
  encryptWithEce,
  makeSender,
  makeSubscription,
  randomPayload,
} from "./helpers.ts";

const sub = makeSubscription();
const other = makeSubscription();

/** A valid off-curve point: (1, 1) is not on P-256. */
const OFF_CURVE = new Uint8Array(65);
OFF_CURVE[0] = 4;
OFF_CURVE[32] = 1;
OFF_CURVE[64] = 1;

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = value;
  return copy;
}

function relabel(push: EncryptedPush, encoding: string): EncryptedPush {
  return { data: push.data, headers: { ...push.headers, encoding } };
}

const aes128 = (data: Uint8Array): EncryptedPush => ({ data, headers: { encoding: "aes128gcm" } });
const valid128 = encryptWithEce(sub, "aes128gcm", randomPayload(100), { rs: 50 }).data;
const gcmPayload = randomPayload(100);
const validGcm = encryptWithEce(sub, "aesgcm", gcmPayload, { rs: 50 });
const salt = /salt=([^;]+)/.exec(validGcm.headers!.encryption!)![1]!;
const dh = /dh=(.+)$/.exec(validGcm.headers!.crypto_key!)![1]!;
const gcm = (
  encryption: string | undefined,
  cryptoKey: string | undefined,
  data = validGcm.data,
): EncryptedPush => ({
  data,
  headers: { encoding: "aesgcm", encryption, crypto_key: cryptoKey },
});

interface Case {
  name: string;
  push: EncryptedPush;
  code: DecryptErrorCode;
  message: string | RegExp;
  keys?: typeof sub;
}

const cases: Case[] = [
  // headers and encodings
  {
    name: "null headers",
    push: { data: valid128, headers: null },
    code: "BAD_ENCODING_HEADER",
    message: "Missing Content-Encoding header",
  },
  {
    name: "undefined headers",
    push: { data: valid128, headers: undefined },
    code: "BAD_ENCODING_HEADER",
    message: "Missing Content-Encoding header",
  },
  {
    name: "no encoding",
    push: { data: valid128, headers: {} },
    code: "BAD_ENCODING_HEADER",
    message: "Missing Content-Encoding header",
  },
  {
    name: "unknown encoding",
    push: { data: valid128, headers: { encoding: "gzip" } },
    code: "BAD_ENCODING_HEADER",
    message: "Unsupported Content-Encoding: gzip",
  },
  {
    name: "data is not bytes",
    push: { data: "abc" as unknown as Uint8Array, headers: { encoding: "aes128gcm" } },
    code: "BAD_DATA",
    message: /byte array/,
  },

  // aes128gcm header
  {
    name: "truncated header",
    push: aes128(valid128.subarray(0, 20)),
    code: "BAD_CRYPTO",
    message: "Truncated header",
  },
  { name: "empty body", push: aes128(new Uint8Array(0)), code: "BAD_CRYPTO", message: "Truncated header" },
  {
    name: "rs 17",
    push: aes128(concat(valid128.subarray(0, 16), bytesOf(0, 0, 0, 17), valid128.subarray(20))),
    code: "BAD_RS_PARAM",
    message: "Record sizes smaller than 18 are invalid",
  },
  {
    name: "rs 0",
    push: aes128(concat(valid128.subarray(0, 16), bytesOf(0, 0, 0, 0), valid128.subarray(20))),
    code: "BAD_RS_PARAM",
    message: "Record sizes smaller than 18 are invalid",
  },
  {
    name: "key id length 64",
    push: aes128(withByte(valid128, 20, 64)),
    code: "BAD_DH_PARAM",
    message: "Invalid sender public key",
  },
  {
    name: "key id length 0",
    push: aes128(withByte(valid128, 20, 0)),
    code: "BAD_DH_PARAM",
    message: "Invalid sender public key",
  },
  {
    name: "compressed-point prefix in key id",
    push: aes128(withByte(valid128, 21, 2)),
    code: "BAD_DH_PARAM",
    message: "Invalid sender public key",
  },
  {
    name: "off-curve key id",
    push: aes128(concat(valid128.subarray(0, 21), OFF_CURVE, valid128.subarray(86))),
    code: "BAD_DH_PARAM",
    message: "Invalid sender public key",
  },
  {
    name: "header and no records",
    push: aes128(valid128.subarray(0, 86)),
    code: "BAD_CRYPTO",
    message: "Truncated payload",
  },
  {
    name: "header and a last record shorter than a tag",
    push: aes128(valid128.subarray(0, 86 + 10)),
    code: "BAD_CRYPTO",
    message: "Truncated payload",
  },
  {
    name: "a record cut in the middle",
    push: aes128(valid128.subarray(0, 86 + 50 + 30)),
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },
  {
    name: "truncated at a record boundary",
    push: aes128(valid128.subarray(0, 86 + 50)),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "tag mismatch",
    push: aes128(withByte(valid128, valid128.length - 1, valid128[valid128.length - 1]! ^ 1)),
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },
  {
    name: "flipped ciphertext in the second record",
    push: aes128(withByte(valid128, 86 + 60, valid128[86 + 60]! ^ 0x80)),
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },
  {
    name: "flipped salt",
    push: aes128(withByte(valid128, 0, valid128[0]! ^ 1)),
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },
  {
    name: "another subscription's keys",
    push: aes128(valid128),
    keys: other,
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },

  // aes128gcm padding
  {
    name: "all-zero record",
    push: aes128(aes128gcmFromRecords(sub, [new Uint8Array(5)], 4096)),
    code: "BAD_PADDING",
    message: "Zero plaintext",
  },
  {
    name: "last record with delimiter 1",
    push: aes128(aes128gcmFromRecords(sub, [bytesOf(7, 1, 0)], 4096)),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "non-last record with delimiter 2",
    push: aes128(aes128gcmFromRecords(sub, [bytesOf(7, 2), bytesOf(8, 2)], 18)),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "delimiter 3",
    push: aes128(aes128gcmFromRecords(sub, [bytesOf(7, 3, 0, 0)], 4096)),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "record that is only a tag",
    push: aes128(aes128gcmFromRecords(sub, [new Uint8Array(0)], 4096)),
    code: "BAD_CRYPTO",
    message: "Truncated payload",
  },

  // aesgcm headers
  {
    name: "aesgcm without Crypto-Key",
    push: gcm(`salt=${salt}`, undefined),
    code: "BAD_CRYPTO_KEY_HEADER",
    message: "Missing Crypto-Key header",
  },
  {
    name: "aesgcm without Encryption",
    push: gcm(undefined, `dh=${dh}`),
    code: "BAD_ENCRYPTION_HEADER",
    message: "Missing encryption header",
  },
  {
    name: "aesgcm with an empty Encryption",
    push: gcm("", `dh=${dh}`),
    code: "BAD_ENCRYPTION_HEADER",
    message: "Missing encryption header",
  },
  {
    name: "Crypto-Key without dh",
    push: gcm(`salt=${salt};rs=50`, `p256ecdsa=${dh}`),
    code: "BAD_DH_PARAM",
    message: "Missing dh parameter",
  },
  {
    name: "Encryption without salt",
    push: gcm("rs=50", `dh=${dh}`),
    code: "BAD_SALT_PARAM",
    message: "Missing salt parameter",
  },
  {
    name: "rs 0",
    push: gcm(`salt=${salt};rs=0`, `dh=${dh}`),
    code: "BAD_RS_PARAM",
    message: "Invalid rs parameter",
  },
  {
    name: "rs -1",
    push: gcm(`salt=${salt};rs=-1`, `dh=${dh}`),
    code: "BAD_RS_PARAM",
    message: "Invalid rs parameter",
  },
  {
    name: "rs not a number",
    push: gcm(`salt=${salt};rs=50abc`, `dh=${dh}`),
    code: "BAD_RS_PARAM",
    message: "Invalid rs parameter",
  },
  {
    name: "rs above 68719476705",
    push: gcm(`salt=${salt};rs=68719476706`, `dh=${dh}`),
    code: "BAD_RS_PARAM",
    message: "Invalid rs parameter",
  },
  {
    name: "bad base64 in dh",
    push: gcm(`salt=${salt};rs=50`, `dh=${dh.slice(0, -2)}+/`),
    code: "BAD_DH_PARAM",
    message: "Invalid dh parameter",
  },
  {
    name: "padded dh",
    push: gcm(`salt=${salt};rs=50`, `dh="${dh}="`),
    code: "BAD_DH_PARAM",
    message: "Invalid dh parameter",
  },
  {
    name: "dh of 64 bytes",
    push: gcm(`salt=${salt};rs=50`, `dh=${b64(new Uint8Array(64).fill(4))}`),
    code: "BAD_DH_PARAM",
    message: "Invalid sender public key",
  },
  {
    name: "off-curve dh",
    push: gcm(`salt=${salt};rs=50`, `dh=${b64(OFF_CURVE)}`),
    code: "BAD_DH_PARAM",
    message: "Invalid sender public key",
  },
  {
    name: "bad base64 in salt",
    push: gcm(`salt=${salt.slice(0, -1)}!;rs=50`, `dh=${dh}`),
    code: "BAD_SALT_PARAM",
    message: "Invalid salt parameter",
  },
  {
    name: "padded salt",
    push: gcm(`salt=${salt}==;rs=50`, `dh=${dh}`),
    code: "BAD_SALT_PARAM",
    message: "Invalid salt parameter",
  },
  {
    name: "salt of 15 bytes",
    push: gcm(`salt=${b64(new Uint8Array(15))};rs=50`, `dh=${dh}`),
    code: "BAD_SALT_PARAM",
    message: "Invalid salt parameter",
  },

  // aesgcm records
  {
    name: "aesgcm exact multiple of rs+16",
    push: gcm(`salt=${salt};rs=50`, `dh=${dh}`, validGcm.data.subarray(0, 2 * 66)),
    code: "BAD_CRYPTO",
    message: "Encrypted data truncated",
  },
  {
    name: "aesgcm last record shorter than a tag",
    push: gcm(`salt=${salt};rs=50`, `dh=${dh}`, validGcm.data.subarray(0, 66 + 10)),
    code: "BAD_CRYPTO",
    message: "Encrypted data truncated",
  },
  {
    name: "aesgcm wrong rs",
    push: gcm(`salt=${salt};rs=49`, `dh=${dh}`),
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },
  {
    name: "aesgcm tag mismatch",
    push: gcm(`salt=${salt};rs=50`, `dh=${dh}`, withByte(validGcm.data, 0, validGcm.data[0]! ^ 1)),
    code: "BAD_CRYPTO",
    message: "Bad encryption",
  },
  {
    name: "aesgcm padding longer than the record",
    push: aesgcmFromRecords(sub, [bytesOf(0, 5, 0, 0)], 4096),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "aesgcm non-zero padding",
    push: aesgcmFromRecords(sub, [bytesOf(0, 2, 0, 1, 9)], 4096),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "aesgcm record shorter than its padding length",
    push: aesgcmFromRecords(sub, [bytesOf(0)], 4096),
    code: "BAD_PADDING",
    message: "Decoded array is too short!",
  },
  {
    name: "aesgcm bad padding in a later record",
    push: aesgcmFromRecords(sub, [bytesOf(0, 0, 1, 2), bytesOf(0, 1, 7)], 4),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },

  // aesgcm128
  {
    name: "aesgcm128 without Encryption-Key",
    push: { data: validGcm.data, headers: { encoding: "aesgcm128", encryption: `salt=${salt}` } },
    code: "BAD_ENCRYPTION_KEY_HEADER",
    message: "Missing Encryption-Key header",
  },
  {
    name: "aesgcm128 without Encryption",
    push: { data: validGcm.data, headers: { encoding: "aesgcm128", encryption_key: `dh=${dh}` } },
    code: "BAD_ENCRYPTION_HEADER",
    message: "Missing encryption header",
  },
  {
    name: "aesgcm128 headers sent as aesgcm",
    push: relabel(encryptAesgcm128(sub, randomPayload(10)), "aesgcm"),
    code: "BAD_CRYPTO_KEY_HEADER",
    message: "Missing Crypto-Key header",
  },
  {
    name: "aesgcm128 non-zero padding",
    push: aesgcm128FromRecords(sub, [bytesOf(2, 0, 3, 9)], 4096),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
  {
    name: "aesgcm128 empty record",
    push: aesgcm128FromRecords(sub, [new Uint8Array(0)], 4096),
    code: "BAD_PADDING",
    message: "Decoded array is too short!",
  },
  {
    name: "aesgcm128 exact multiple of rs+16",
    push: aesgcm128FromRecords(sub, [bytesOf(0, 1, 2), bytesOf(0, 3, 4)], 3),
    code: "BAD_CRYPTO",
    message: "Encrypted data truncated",
  },
  {
    name: "aesgcm128 decrypted with the aesgcm key schedule",
    push: relabel(aesgcm128FromRecords(sub, [bytesOf(0, 1)], 4096), "aesgcm"),
    code: "BAD_CRYPTO_KEY_HEADER",
    message: "Missing Crypto-Key header",
  },
  {
    name: "aesgcm128 padding longer than the record",
    push: aesgcm128FromRecords(sub, [bytesOf(5, 0, 0)], 4096),
    code: "BAD_PADDING",
    message: "Padding is wrong!",
  },
];

describe.each(backends)("malformed input on the %s backend", (_name, backend) => {
  const decryptWith = createDecryptor(backend);

  it.each(cases)("$name → $code", async ({ push, code, message, keys }) => {
    const error = await decryptWith(keys ?? sub, push).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DecryptError);
    expect(error).toMatchObject({ name: "DecryptError", code });
    if (typeof message === "string") expect((error as Error).message).toBe(message);
    else expect((error as Error).message).toMatch(message);
  });

  it.each([
    ["a public key of the wrong length", { ...sub, publicKey: sub.publicKey.subarray(1) }],
    ["an auth secret that is not bytes", { ...sub, authSecret: "secret" as unknown as Uint8Array }],
    ["a private key without d", { ...sub, privateKey: { ...sub.privateKey, d: undefined } }],
    ["a private key with a malformed d", { ...sub, privateKey: { ...sub.privateKey, d: "!!" } }],
    ["a private key on another curve", { ...sub, privateKey: { ...sub.privateKey, crv: "P-384" } }],
    ["a private key of zeros", { ...sub, privateKey: { ...sub.privateKey, d: b64(new Uint8Array(32)) } }],
  ])("subscription keys: %s → BAD_CRYPTO", async (_case, keys) => {
    await expect(decryptWith(keys, aes128(valid128))).rejects.toMatchObject({
      name: "DecryptError",
      code: "BAD_CRYPTO",
    });
  });

  it("a null push message is a missing encoding, not a crash", async () => {
    await expect(decryptWith(sub, null as unknown as EncryptedPush)).rejects.toMatchObject({
      code: "BAD_ENCODING_HEADER",
    });
  });

  it("a message with a sender key of another subscription's fails as bad encryption", async () => {
    const sender = makeSender();
    const push = aes128(aes128gcmFromRecords(other, [bytesOf(1, 2)], 4096, sender));
    await expect(decryptWith(sub, push)).rejects.toMatchObject({ code: "BAD_CRYPTO" });
  });
});

describe.each(backends)(
  "a message cut after its first record, rs rewritten, on the %s backend",
  (_name, backend) => {
    const decryptWith = createDecryptor(backend);

    it("aes128gcm catches it: the first record's delimiter says more follow", async () => {
      const cut = valid128.slice(0, 86 + 50);
      new DataView(cut.buffer).setUint32(16, 4096);
      await expect(decryptWith(sub, aes128(cut))).rejects.toMatchObject({
        code: "BAD_PADDING",
        message: "Padding is wrong!",
      });
    });

    it("aesgcm cannot: with rs dropped from Encryption the first record decrypts (a known draft weakness)", async () => {
      const push = gcm(`salt=${salt}`, `dh=${dh}`, validGcm.data.subarray(0, 50 + 16));
      expect(await decryptWith(sub, push)).toEqual(gcmPayload.subarray(0, 48));
    });
  },
);
