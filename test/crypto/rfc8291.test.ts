/**
 * RFC 8291 Appendix A, byte for byte: the published message decrypts to the published plaintext on
 * both backends, the key schedule inputs we hand a backend are the published ones, and http_ece
 * given the published sender key and salt produces the published body (so the vector is right).
 */

import { createECDH } from "node:crypto";
import * as ece from "http_ece";
import { describe, expect, it } from "vitest";
import type { CryptoBackend, DecryptJob } from "../../src/crypto/backend.ts";
import { createDecryptor } from "../../src/crypto/decrypt.ts";
import { aes128gcmFromRecords, backends, fromB64, utf8 } from "./helpers.ts";

const RFC = {
  plaintext: "When I grow up, I want to be a watermelon",
  asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
  asPublic: "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
  uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
  uaPublic: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
  salt: "DGv6ra1nlYgDCS1FRnbzlw",
  authSecret: "BTBZMqHH6r4Tts7J_aSIgg",
  keyInfo:
    "V2ViUHVzaDogaW5mbwAEJXGyvs3942BVGq8e0PTNNmwRzr5VX4m8t7GGpTM5FzFo7OLr4BhZe9MEebhuPI-OztV3ylkYfpJGmQ22ggCLDgT-M_SrDepxkU21WCP3O1SUj0EwbZIHMtu5pZpTKGSCIA5Zent7wmC6HCJ5mFgJkuk5cwAvMBKiiujwa7t45ewP",
  cekInfo: "Q29udGVudC1FbmNvZGluZzogYWVzMTI4Z2NtAA",
  nonceInfo: "Q29udGVudC1FbmNvZGluZzogbm9uY2UA",
  body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
};

const uaPublic = fromB64(RFC.uaPublic);
const keys = {
  publicKey: uaPublic,
  privateKey: {
    kty: "EC",
    crv: "P-256",
    d: RFC.uaPrivate,
    x: Buffer.from(uaPublic.subarray(1, 33)).toString("base64url"),
    y: Buffer.from(uaPublic.subarray(33)).toString("base64url"),
  },
  authSecret: fromB64(RFC.authSecret),
};
const push = { data: fromB64(RFC.body), headers: { encoding: "aes128gcm" } };

function rfcSender() {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(fromB64(RFC.asPrivate));
  return ecdh;
}

describe.each(backends)("RFC 8291 Appendix A on the %s backend", (_name, backend) => {
  it("decrypts the published message to the published plaintext", async () => {
    const plaintext = await createDecryptor(backend)(keys, push);
    expect(new TextDecoder().decode(plaintext)).toBe(RFC.plaintext);
  });

  it("hands the backend the published key schedule inputs", async () => {
    const jobs: DecryptJob[] = [];
    const recording: CryptoBackend = {
      ...backend,
      decryptRecords(job) {
        jobs.push(job);
        return backend.decryptRecords(job);
      },
    };
    await createDecryptor(recording)(keys, push);
    const job = jobs[0]!;
    const joined = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
    expect(joined(job.authInfo)).toEqual(fromB64(RFC.keyInfo));
    expect(joined(job.cekInfo)).toEqual(fromB64(RFC.cekInfo));
    expect(joined(job.nonceInfo)).toEqual(fromB64(RFC.nonceInfo));
    expect(job.salt).toEqual(fromB64(RFC.salt));
    expect(job.senderPublicKey).toEqual(fromB64(RFC.asPublic));
    expect(job.authSecret).toEqual(fromB64(RFC.authSecret));
    expect(job.records).toHaveLength(1);
  });
});

describe("the vector itself", () => {
  it("http_ece with the published sender key and salt produces the published body", () => {
    const body = ece.encrypt(Buffer.from(RFC.plaintext), {
      version: "aes128gcm",
      dh: RFC.uaPublic,
      privateKey: rfcSender(),
      salt: RFC.salt,
      authSecret: RFC.authSecret,
    });
    expect(body.toString("base64url")).toBe(RFC.body);
  });

  it("the tests' own aes128gcm sender produces it too (it builds the malformed cases)", () => {
    const record = new Uint8Array([...utf8(RFC.plaintext), 2]);
    const body = aes128gcmFromRecords(keys, [record], 4096, { ecdh: rfcSender(), salt: fromB64(RFC.salt) });
    expect(Buffer.from(body).toString("base64url")).toBe(RFC.body);
  });
});
