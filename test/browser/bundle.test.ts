/**
 * The browser bundle check under `npm test`: the `push-agent` entry bundles for the browser with
 * no Node built-in and no Node-only package in it, and the check does fail on an entry that
 * leaks one (so a passing check means something).
 */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundleBrowser } from "../../scripts/bundle-browser.ts";

const dirs: string[] = [];

async function outdir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "push-agent-bundle-"));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("browser bundle of push-agent", () => {
  it("has no Node built-in, no ws, and picks the WebCrypto backend", async () => {
    const result = await bundleBrowser({ outdir: await outdir() });
    expect([...result.problems].sort()).toEqual([]);
    expect(result.ok).toBe(true);
    const code = await readFile(result.outfile, "utf8");
    // esbuild marks every bundled file with a "// path" comment: the exact list of what got in.
    const files = [...code.matchAll(/^\/\/ (\S+)$/gm)].map((match) => match[1]);
    expect(files).toContain("src/crypto/backend-web.ts");
    expect(files).toContain("node_modules/isomorphic-ws/browser.js");
    expect(files).not.toContain("src/crypto/backend-node.ts");
    expect(files.filter((file) => /node_modules\/(ws|classic-level|@peculiar)\//.test(file ?? ""))).toEqual(
      [],
    );
    expect(code).not.toMatch(/\bfrom\s*["'](node:|ws["'])/);
    expect(code).not.toMatch(/\brequire\(/);
  });

  it("fails, naming the importer, when an entry reaches a Node built-in or ws", async () => {
    const entry = path.resolve(import.meta.dirname, "fixtures/node-leak.ts");
    const result = await bundleBrowser({ entry, outdir: await outdir() });
    expect(result.ok).toBe(false);
    expect([...result.problems].sort()).toEqual([
      'test/browser/fixtures/node-leak.ts imports "node:fs" (a Node built-in)',
      'test/browser/fixtures/node-leak.ts imports "ws" (a Node-only package)',
    ]);
  });
});
