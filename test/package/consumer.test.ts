/**
 * What a package consumer gets: `npm pack` (prepack builds dist/), the tarball installed into a
 * fresh project outside this repository, then, from that project only:
 * - `tsc` (TypeScript as pinned here, strict, skipLibCheck false) on a file importing every
 *   public entry, under nodenext and under bundler resolution; on a Node project's typed use of
 *   the main APIs without the DOM lib; and on a browser page without Node's types, where the
 *   values also meet the DOM's own types: no declaration may need a package the consumer does
 *   not get, nor a lib the consumer does not have;
 * - a plain Node script: local server, subscribe, push, receive;
 * - that page bundled with esbuild and run in headless Chromium against the local server,
 *   receiving a push.
 *
 * Slow (pack, install, browser): excluded from `npm test`; `npm run test:consumer` runs it, and
 * .ci/run does. The install uses npm's cache first (`--prefer-offline`); CI has the registry.
 */

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from "../helpers/chromium.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixture/", import.meta.url));
const INSTALL_TIMEOUT = 600_000;
const STEP_TIMEOUT = 120_000;

let work: string;
let project: string;
let packed: { filename: string; files: { path: string }[] };

/** The versions this repository pins, so the consumer type-checks with the same TypeScript. */
async function installedVersion(name: string): Promise<string> {
  const json = JSON.parse(await readFile(path.join(ROOT, "node_modules", name, "package.json"), "utf8"));
  return json.version as string;
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run("npm", args, { cwd, maxBuffer: 64 * 1024 * 1024, env: npmEnv() });
  return stdout;
}

/** vitest's and npm's own variables must not leak into a consumer's npm (or its lifecycle scripts). */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("npm_") || name.startsWith("VITEST") || name === "NODE_OPTIONS") delete env[name];
  }
  return env;
}

beforeAll(async () => {
  // Outside the repository, so nothing resolves through this checkout's node_modules.
  work = await mkdtemp(path.join(tmpdir(), "push-agent-consumer-"));
  project = path.join(work, "project");
  const [output] = JSON.parse(await npm(["pack", "--json", "--pack-destination", work], ROOT));
  packed = output;
  await run("mkdir", [project]);
  await writeFile(
    path.join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
  );
  for (const file of ["entries.ts", "node-api.ts", "page.ts", "node-e2e.mjs"]) {
    await copyFile(path.join(FIXTURE, file), path.join(project, file));
  }
  await writeTsconfigs(project);
  const tools = [
    `typescript@${await installedVersion("typescript")}`,
    `@types/node@${await installedVersion("@types/node")}`,
  ];
  await npm(
    ["install", path.join(work, packed.filename), ...tools, "--prefer-offline", "--no-audit", "--no-fund"],
    project,
  );
}, INSTALL_TIMEOUT);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function writeTsconfigs(dir: string): Promise<void> {
  const strict = { target: "ES2022", strict: true, skipLibCheck: false, noEmit: true };
  const configs: Record<string, object> = {
    // A project with both Node's types and the DOM lib (Electron, a full-stack app).
    "tsconfig.nodenext.json": {
      compilerOptions: {
        ...strict,
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022", "DOM"],
        types: ["node"],
      },
      files: ["entries.ts", "node-api.ts"],
    },
    "tsconfig.bundler.json": {
      compilerOptions: {
        ...strict,
        module: "ESNext",
        moduleResolution: "Bundler",
        lib: ["ES2022", "DOM"],
        types: ["node"],
      },
      files: ["entries.ts", "node-api.ts"],
    },
    // A plain Node project: Node's types and no DOM lib.
    "tsconfig.node.json": {
      compilerOptions: {
        ...strict,
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022"],
        types: ["node"],
      },
      files: ["entries.ts", "node-api.ts"],
    },
    // A web app: DOM only, no Node types at all.
    "tsconfig.browser.json": {
      compilerOptions: {
        ...strict,
        module: "ESNext",
        moduleResolution: "Bundler",
        lib: ["ES2022", "DOM"],
        types: [],
      },
      files: ["page.ts"],
    },
  };
  for (const [name, config] of Object.entries(configs)) {
    await writeFile(path.join(dir, name), JSON.stringify(config, null, 2));
  }
}

async function tsc(config: string): Promise<{ code: number; output: string }> {
  const bin = path.join(project, "node_modules/typescript/bin/tsc");
  try {
    const { stdout } = await run(process.execPath, [bin, "-p", config], { cwd: project });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: `${failed.stdout}${failed.stderr}` };
  }
}

describe("the packed package, installed into a fresh project", () => {
  it("ships the build, the launcher and the docs, and no sources or tests", () => {
    const files = packed.files.map((f) => f.path);
    for (const entry of [
      "index",
      "node",
      "server/index",
      "loadtest/index",
      "loadtest/internal",
      "chromium/index",
    ]) {
      expect(files).toContain(`dist/${entry}.js`);
      expect(files).toContain(`dist/${entry}.d.ts`);
    }
    expect(files).toEqual(
      expect.arrayContaining(["bin/push-agent.js", "README.md", "CHANGELOG.md", "LICENSE", "package.json"]),
    );
    expect(files.filter((f) => /^(src|test|bench|scripts)\//.test(f))).toEqual([]);
  });

  it("gives every export's `types` file", async () => {
    const manifest = JSON.parse(
      await readFile(path.join(project, "node_modules/push-agent/package.json"), "utf8"),
    ) as { exports: Record<string, string | { types?: string }> };
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target === "string") continue;
      expect(target.types, subpath).toBeDefined();
      expect(existsSync(path.join(project, "node_modules/push-agent", target.types!)), subpath).toBe(true);
    }
  });

  for (const config of [
    "tsconfig.nodenext.json",
    "tsconfig.bundler.json",
    "tsconfig.node.json",
    "tsconfig.browser.json",
  ]) {
    it(
      `type-checks under ${config} (strict, skipLibCheck false)`,
      async () => {
        expect(await tsc(config)).toEqual({ code: 0, output: "" });
      },
      STEP_TIMEOUT,
    );
  }

  it(
    "runs a Node script: local server, subscribe, push, receive, on the main thread and a decrypt worker",
    async () => {
      const { stdout } = await run(process.execPath, ["node-e2e.mjs"], {
        cwd: project,
        timeout: STEP_TIMEOUT,
      });
      expect(stdout).toBe(
        "received: hello from a node consumer, decryptWorkers 0\n" +
          "received: hello from a node consumer, decryptWorkers 1\n",
      );
    },
    STEP_TIMEOUT,
  );
});

if (!HAS_CHROMIUM) console.warn(`consumer test: the browser part is SKIPPED, no Chromium at ${CHROMIUM}`);

describe.skipIf(!HAS_CHROMIUM)("the installed package bundled for a web page, in headless Chromium", () => {
  let browser: Browser;
  let site: Server;
  let pushServer: { url: string; close(): Promise<void> };
  let send: (subscription: unknown, payload: string, options: object) => Promise<{ statusCode: number }>;

  beforeAll(async () => {
    await build({
      absWorkingDir: project,
      entryPoints: ["page.ts"],
      outfile: path.join(project, "public/page.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      logLevel: "silent",
    });
    const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
    const script = await readFile(path.join(project, "public/page.js"));
    site = createServer((req, res) => {
      if (req.url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
      else res.writeHead(200, { "content-type": "text/html" }).end(html);
    });
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
    // The push server and the sender from the installed package, not from this checkout.
    const server = await import(
      pathToFileURL(path.join(project, "node_modules/push-agent/dist/server/index.js")).href
    );
    pushServer = await server.createPushServer({ port: 0 });
    send = server.sendPush;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await pushServer?.close();
    await new Promise((resolve) => (site ? site.close(resolve) : resolve(undefined)));
  });

  it(
    "subscribes through the local server and receives a VAPID-signed push",
    async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => "consumer" in window);
      const vapid = webpush.generateVAPIDKeys();
      const subscription = await page.evaluate(([url, key]) => window.consumer.subscribe(url, key), [
        pushServer.url,
        vapid.publicKey,
      ] as const);
      const result = await send(subscription, "hello from a web page", {
        TTL: 60,
        vapidDetails: { subject: "mailto:test@example.com", ...vapid },
      });
      expect(result.statusCode).toBe(201);
      expect(await page.evaluate(() => window.consumer.nextPush())).toBe("hello from a web page");
      expect(errors).toEqual([]);
    },
    STEP_TIMEOUT,
  );
});
