/**
 * Backend selection: `#crypto-backend` is node:crypto under Node; the web backend falls back to
 * @peculiar/webcrypto where crypto.subtle is missing; a browser bundle has no Node module in it.
 */

import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterEach, describe, expect, it, vi } from "vitest";
import { backend } from "#crypto-backend";
import { encryptWithEce, makeSubscription, randomPayload } from "./helpers.ts";

const polyfill = vi.hoisted(() => ({ constructed: 0 }));

vi.mock("@peculiar/webcrypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("@peculiar/webcrypto")>();
  class Crypto extends original.Crypto {
    constructor() {
      super();
      polyfill.constructed++;
    }
  }
  return { ...original, Crypto };
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.resetModules();
});

describe("#crypto-backend", () => {
  it("is the node:crypto backend under Node", () => {
    expect(backend.name).toBe("node");
  });
});

describe("the web backend without crypto.subtle", () => {
  it("loads @peculiar/webcrypto lazily and decrypts with it", async () => {
    vi.stubGlobal("crypto", undefined);
    vi.resetModules();
    const { backend: web } = await import("../../src/crypto/backend-web.ts");
    const { createDecryptor } = await import("../../src/crypto/decrypt.ts");
    expect(polyfill.constructed).toBe(0);
    const sub = makeSubscription();
    for (const encoding of ["aes128gcm", "aesgcm"] as const) {
      const payload = randomPayload(3000);
      expect(await createDecryptor(web)(sub, encryptWithEce(sub, encoding, payload, { rs: 1000 }))).toEqual(
        payload,
      );
    }
    const pair = await web.generateKeyPair();
    expect(pair.publicKey).toHaveLength(65);
    expect(polyfill.constructed).toBe(1);
  });
});

describe("a browser bundle of the decryptor", () => {
  it("contains the WebCrypto backend and no Node module", async () => {
    const entry = fileURLToPath(new URL("../../src/crypto/decrypt.ts", import.meta.url));
    const keys = fileURLToPath(new URL("../../src/crypto/keys.ts", import.meta.url));
    const result = await build({
      stdin: {
        contents: `export * from ${JSON.stringify(entry)}; export * from ${JSON.stringify(keys)};`,
        resolveDir: process.cwd(),
        loader: "ts",
      },
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      conditions: ["push-agent-source"],
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.endsWith("src/crypto/backend-web.ts"))).toBe(true);
    expect(inputs.some((path) => path.endsWith("src/crypto/backend-node.ts"))).toBe(false);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/["']node:/);
    expect(code).not.toMatch(/require\(["'](crypto|buffer)["']\)/);
  });
});
