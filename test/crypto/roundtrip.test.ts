/**
 * Round trips against independent senders: http_ece and web-push (aes128gcm, aesgcm), http_ece
 * 0.7.2 vectors and a node:crypto sender (aesgcm128), decrypted with ours on both backends.
 */

import { describe, expect, it } from "vitest";
import { backend as selectedBackend } from "#crypto-backend";
import { createDecryptor, decrypt } from "../../src/crypto/decrypt.ts";
import { generateKeys } from "../../src/crypto/keys.ts";
import fixtures from "./fixtures/aesgcm128-http_ece-0.7.2.json" with { type: "json" };
import {
  b64,
  backends,
  type Encoding,
  encryptAesgcm128,
  encryptWithEce,
  encryptWithWebPush,
  fromB64,
  makeSender,
  makeSubscription,
  randomPayload,
} from "./helpers.ts";

const ENCODINGS: Encoding[] = ["aes128gcm", "aesgcm"];
const RECORD_SIZES = [18, 25, 100, 4096];
const PAYLOAD_SIZES = [0, 1, 17, 4079, 4080, 4081, 4096];

describe.each(backends)("round trips on the %s backend", (_name, backend) => {
  const decryptWith = createDecryptor(backend);
  const sub = makeSubscription();

  describe.each(ENCODINGS)("%s from http_ece", (encoding) => {
    it.each(RECORD_SIZES)("rs %i, every payload size", async (rs) => {
      for (const size of PAYLOAD_SIZES) {
        const payload = randomPayload(size);
        const push = encryptWithEce(sub, encoding, payload, { rs });
        expect(await decryptWith(sub, push), `${size} bytes`).toEqual(payload);
      }
    });

    it("a payload spanning several records, with padding", async () => {
      const payload = randomPayload(1000);
      const push = encryptWithEce(sub, encoding, payload, { rs: 100, pad: 250 });
      expect(push.data.length).toBeGreaterThan(1000 + 10 * 16);
      expect(await decryptWith(sub, push)).toEqual(payload);
    });
  });

  describe.each(ENCODINGS)("%s from web-push", (encoding) => {
    it.each(PAYLOAD_SIZES)("%i bytes", async (size) => {
      const payload = randomPayload(size);
      expect(await decryptWith(sub, encryptWithWebPush(sub, encoding, payload))).toEqual(payload);
    });

    it("a payload spanning several 4096-byte records", async () => {
      const payload = randomPayload(10_000);
      expect(await decryptWith(sub, encryptWithWebPush(sub, encoding, payload))).toEqual(payload);
    });
  });

  describe("aesgcm128", () => {
    const receiver = {
      publicKey: fromB64(fixtures.receiver.publicKey),
      privateKey: fixtures.receiver.privateKey,
      authSecret: new Uint8Array(16),
    };

    it.each(fixtures.vectors)("http_ece 0.7.2 vector: $name", async (vector) => {
      const rs = vector.rs === null ? "" : `;rs=${vector.rs}`;
      const push = {
        data: fromB64(vector.ciphertext),
        headers: {
          encoding: "aesgcm128",
          encryption: `salt=${vector.salt}${rs}`,
          encryption_key: `dh=${vector.dh}`,
        },
      };
      expect(await decryptWith(receiver, push)).toEqual(fromB64(vector.plaintext));
    });

    it.each([
      [18, 0],
      [25, 3],
      [100, 0],
      [4096, 10],
    ])("node:crypto sender, rs %i, pad %i per record", async (rs, pad) => {
      for (const size of PAYLOAD_SIZES) {
        const payload = randomPayload(size);
        expect(await decryptWith(sub, encryptAesgcm128(sub, payload, rs, pad)), `${size} bytes`).toEqual(
          payload,
        );
      }
    });
  });

  it("returns a plain Uint8Array whose buffer holds nothing but this message's plaintext", async () => {
    const payload = randomPayload(50);
    const single = await decryptWith(sub, encryptWithEce(sub, "aes128gcm", payload));
    expect(single.constructor).toBe(Uint8Array);
    // One record: a view of the record's own plaintext, its delimiter after the payload.
    expect(new Uint8Array(single.buffer)).toEqual(new Uint8Array([...payload, 2]));
    const several = await decryptWith(sub, encryptWithEce(sub, "aes128gcm", payload, { rs: 20 }));
    expect(several.constructor).toBe(Uint8Array);
    expect(new Uint8Array(several.buffer)).toEqual(payload);
  });

  describe("aesgcm header forms", () => {
    const sender = makeSender();
    const payload = randomPayload(300);
    const push = encryptWithEce(sub, "aesgcm", payload, { rs: 100 });
    const salt = /salt=([^;]+)/.exec(push.headers!.encryption!)![1]!;
    const dh = /dh=(.+)$/.exec(push.headers!.crypto_key!)![1]!;
    const otherDh = b64(sender.ecdh.getPublicKey());
    const withHeaders = (encryption: string, cryptoKey: string) => ({
      data: push.data,
      headers: { encoding: "aesgcm", encryption, crypto_key: cryptoKey },
    });

    it.each([
      ["plain", `salt=${salt};rs=100`, `dh=${dh}`],
      ["quoted values, spaces, other params", ` salt="${salt}" ; rs="100"`, `dh="${dh}"; p256ecdsa=BAAA`],
      [
        "keyid picks the matching key",
        `keyid=p2;salt=${salt};rs=100`,
        `keyid=p1;dh=${otherDh},keyid=p2;dh=${dh}`,
      ],
      [
        "unknown keyid falls back to the first dh",
        `keyid=zz;salt=${salt};rs=100`,
        `dh=${dh},keyid=p1;dh=${otherDh}`,
      ],
      ["no keyid takes the first dh", `salt=${salt};rs=100`, `p256ecdsa=BAAA,dh=${dh};keyid=a,dh=${otherDh}`],
      ["only the first Encryption element counts", `salt=${salt};rs=100,salt=AAAA;rs=5`, `dh=${dh}`],
      ["upper-case parameter names", `SALT=${salt};RS=100`, `DH=${dh}`],
    ])("%s", async (_case, encryption, cryptoKey) => {
      expect(await decryptWith(sub, withHeaders(encryption, cryptoKey))).toEqual(payload);
    });

    it("keyid selects another key: that key is used (and fails)", async () => {
      const wrong = withHeaders(`keyid=p1;salt=${salt};rs=100`, `keyid=p1;dh=${otherDh},keyid=p2;dh=${dh}`);
      await expect(decryptWith(sub, wrong)).rejects.toMatchObject({ code: "BAD_CRYPTO" });
    });

    it("Content-Encoding is case-insensitive", async () => {
      const upper = { data: push.data, headers: { ...push.headers, encoding: "AESGCM" } };
      expect(await decryptWith(sub, upper)).toEqual(payload);
    });

    it("rs up to 68719476705 is accepted", async () => {
      const single = encryptWithEce(sub, "aesgcm", payload);
      const headers = { ...single.headers, encryption: `${single.headers!.encryption};rs=68719476705` };
      expect(await decryptWith(sub, { data: single.data, headers })).toEqual(payload);
    });
  });
});

describe("the default decrypt", () => {
  it("is bound to the node backend under Node", () => {
    expect(selectedBackend.name).toBe("node");
  });

  it("decrypts for keys from generateKeys()", async () => {
    const keys = await generateKeys();
    const sub = { ...keys, ecdh: makeSubscription().ecdh };
    for (const encoding of ENCODINGS) {
      const payload = randomPayload(3000);
      expect(await decrypt(keys, encryptWithWebPush(sub, encoding, payload))).toEqual(payload);
    }
  });
});
