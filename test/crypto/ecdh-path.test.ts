/**
 * The ECDH path per runtime (ecdh-node.ts): which one each Node version gets, and that every path
 * this runtime has derives the same secret as the sender's own ECDH and fails a bad key the same
 * way. The decryption vectors run on every path too (helpers.ts's backends).
 */

import { createECDH } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  chooseEcdhPath,
  ECDH_OBJECT,
  type EcdhPath,
  KEYOBJECT_RAW,
  KEYOBJECT_SPKI,
  nodeMajor,
} from "../../src/crypto/ecdh-node.ts";

const versions = (extra: Record<string, string>) => ({ process: { versions: extra } });
const paths = [ECDH_OBJECT, KEYOBJECT_SPKI, KEYOBJECT_RAW].filter((p) => p !== null) as EcdhPath[];

describe("chooseEcdhPath", () => {
  it("takes computeSecret on Node 20 and 22, the KeyObject path from Node 24, computeSecret on Bun and Deno", () => {
    expect(nodeMajor(versions({ node: "20.20.2" }))).toBe(20);
    expect(nodeMajor(versions({ node: "24.22.3", bun: "1.4.5" }))).toBe(0);
    expect(nodeMajor({ ...versions({ node: "22.0.0" }), Deno: {} })).toBe(0);
    expect(nodeMajor({})).toBe(0);
    expect(chooseEcdhPath(20).name).toBe("ecdh");
    expect(chooseEcdhPath(22).name).toBe("ecdh");
    expect(chooseEcdhPath(24).name).toBe("keyobject");
    expect(chooseEcdhPath(0).name).toBe("ecdh");
  });
});

describe.each(paths.map((path, i) => [i === 2 ? "keyobject (raw)" : path.name, path] as const))(
  "ECDH path %s",
  (_, path) => {
    it("derives the sender's shared secret", () => {
      for (let i = 0; i < 20; i++) {
        const me = createECDH("prime256v1");
        me.generateKeys();
        const sender = createECDH("prime256v1");
        const senderPoint = sender.generateKeys();
        const d = Buffer.concat([Buffer.alloc(32), me.getPrivateKey()]).subarray(-32);
        const secret = path.derive(path.importPrivate(d), senderPoint);
        expect(Buffer.from(secret).equals(sender.computeSecret(me.getPublicKey()))).toBe(true);
      }
    });

    it("rejects a point off the curve with BAD_DH_PARAM and a zero scalar with BAD_CRYPTO", () => {
      const me = createECDH("prime256v1");
      me.generateKeys();
      const d = Buffer.concat([Buffer.alloc(32), me.getPrivateKey()]).subarray(-32);
      const offCurve = Buffer.from(me.getPublicKey());
      offCurve[64]! ^= 1;
      expect(() => path.derive(path.importPrivate(d), offCurve)).toThrow(
        expect.objectContaining({ code: "BAD_DH_PARAM" }),
      );
      expect(() => path.importPrivate(Buffer.alloc(32))).toThrow(
        expect.objectContaining({ code: "BAD_CRYPTO" }),
      );
    });
  },
);
