/**
 * scripts/check-cycles.ts finds import cycles of every kind (value, type-only, `import()` types,
 * dynamic imports) and passes a tree without one; run on fixture trees in a temporary directory.
 */

import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, "../../scripts/check-cycles.ts");
const TSX = path.resolve(import.meta.dirname, "../../node_modules/.bin/tsx");

let dir: string;

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  dir = await mkdtemp(path.join(tmpdir(), "check-cycles-"));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function check(root: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(TSX, [SCRIPT, root]);
    return { code: 0, out: stdout };
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, out: failed.stderr };
  }
}

describe("check-cycles", () => {
  it("passes a tree whose imports run one way", async () => {
    const root = await tree({
      "a.ts": 'import { b } from "./b.ts";\nexport const a = b;\n',
      "b.ts": 'import type { C } from "./c.ts";\nexport const b: C = "b";\n',
      "c.ts": "export type C = string;\n",
    });
    const { code, out } = await check(root);
    expect(code).toBe(0);
    expect(out).toContain("no import cycles among 3 files");
  });

  it("fails on a cycle made of type-only edges, an import() type and a dynamic import", async () => {
    const root = await tree({
      "a.ts": 'import type { B } from "./b.ts";\nexport type A = B;\n',
      "b.ts": 'export type B = import("./c.ts").C;\n',
      "c.ts": 'export type C = string;\nexport const load = () => import("./a.ts");\n',
      "reexport.ts": 'export { load } from "./c.ts";\n',
    });
    const { code, out } = await check(root);
    expect(code).toBe(1);
    expect(out).toMatch(/import cycle: .*a\.ts → .*b\.ts → .*c\.ts → .*a\.ts/);
    expect(out).not.toContain("reexport.ts");
    expect(out).toContain("1 import cycle(s)");
  });

  it("fails on a two-file cycle through a re-export", async () => {
    const root = await tree({
      "index.ts": 'export { format } from "./format.ts";\nexport const NAME = "x";\n',
      "format.ts": 'import { NAME } from "./index.ts";\nexport const format = () => NAME;\n',
    });
    const { code, out } = await check(root);
    expect(code).toBe(1);
    expect(out).toMatch(/import cycle: .*format\.ts → .*index\.ts → .*format\.ts/);
  });
});
