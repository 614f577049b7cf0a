/**
 * The browser bundle check: bundles the `push-agent` entry (src/index.ts) with esbuild the way a
 * web app's bundler would (platform browser, ESM, `#crypto-backend` → backend-web) and fails when
 * anything Node-only gets in: a Node built-in (`node:*`, `fs`, `crypto`, …), `ws`, `classic-level`
 * or another Node-only package, whether imported statically or through a literal dynamic import.
 *
 * Run: `npx tsx scripts/bundle-browser.ts [outdir]` (default `.tmp/browser`); exit 1 with one
 * line per problem. test/browser/ imports `bundleBrowser` to enforce it under `npm test` and to
 * build the bundle its Chromium suite loads.
 */

import { mkdir } from "node:fs/promises";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile, type Plugin } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ENTRY = path.join(ROOT, "src/index.ts");
const BUNDLE_NAME = "push-agent.js";

/** Packages that only run on Node: native addons, Node sockets, node:crypto-based polyfills. */
const NODE_ONLY_PACKAGES = [
  "ws",
  "classic-level",
  "@peculiar/webcrypto",
  "web-push",
  "http_ece",
  "https-proxy-agent",
  "socks-proxy-agent",
];

/** Files that must never be in the bundle even when reached by a relative path. */
const NODE_ONLY_FILES = [
  /node_modules\/isomorphic-ws\/node\.js$/,
  /src\/crypto\/backend-node\.ts$/,
  /src\/net\/network-node\.ts$/,
];

export interface BundleResult {
  ok: boolean;
  /** One human-readable line per problem; empty when ok. */
  problems: string[];
  /** Absolute path of the written bundle (written even when problems were found, if esbuild could). */
  outfile: string;
  /** Bundle size in bytes, 0 when esbuild failed. */
  bytes: number;
}

export interface BundleOptions {
  /** Default src/index.ts, the `push-agent` entry. */
  entry?: string;
  /** Default `.tmp/browser` (gitignored). */
  outdir?: string;
}

export async function bundleBrowser(options: BundleOptions = {}): Promise<BundleResult> {
  const outdir = options.outdir ?? path.join(ROOT, ".tmp/browser");
  await mkdir(outdir, { recursive: true });
  const outfile = path.join(outdir, BUNDLE_NAME);
  const refused: string[] = [];
  let metafile: Metafile;
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: [options.entry ?? ENTRY],
      outfile,
      bundle: true,
      platform: "browser",
      format: "esm",
      target: "es2022",
      conditions: ["push-agent-source"],
      metafile: true,
      sourcemap: true,
      logLevel: "silent",
      plugins: [refuseNodeOnly(refused)],
    });
    metafile = result.metafile;
  } catch (error) {
    // esbuild reports plugin refusals as build errors; our own list says it more clearly.
    const problems = refused.length > 0 ? refused : [`esbuild failed: ${errorText(error)}`];
    return { ok: false, problems, outfile, bytes: 0 };
  }
  const problems = inspectMetafile(metafile, outfile);
  const bytes = metafile.outputs[path.relative(ROOT, outfile)]?.bytes ?? 0;
  return { ok: problems.length === 0, problems, outfile, bytes };
}

/** Refuse every Node-only specifier at resolution time, naming the file that asked for it. */
function refuseNodeOnly(refused: string[]): Plugin {
  return {
    name: "refuse-node-only",
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /.*/ }, (args) => {
        const reason = nodeOnlyReason(args.path);
        if (!reason) return undefined;
        const importer = args.importer ? path.relative(ROOT, args.importer) : "(entry)";
        const line = `${importer} imports "${args.path}" (${reason})`;
        refused.push(line);
        return { errors: [{ text: line }] };
      });
    },
  };
}

function nodeOnlyReason(specifier: string): string | null {
  if (specifier.startsWith("node:")) return "a Node built-in";
  const bare = packageName(specifier);
  if (builtinModules.includes(bare)) return "a Node built-in";
  if (NODE_ONLY_PACKAGES.includes(bare)) return "a Node-only package";
  return null;
}

/** "a/b" → "a", "@s/a/b" → "@s/a"; relative and absolute paths come back unchanged. */
function packageName(specifier: string): string {
  if (specifier.startsWith(".") || specifier.startsWith("/")) return specifier;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/**
 * The second line of defence, on what esbuild actually put in: every input file, and every
 * import left in the output (an external or a literal dynamic import the plugin did not see).
 */
function inspectMetafile(metafile: Metafile, outfile: string): string[] {
  const problems: string[] = [];
  for (const input of Object.keys(metafile.inputs)) {
    const name = input.replaceAll("\\", "/");
    if (NODE_ONLY_FILES.some((pattern) => pattern.test(name))) problems.push(`bundle contains ${name}`);
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(name)?.[1];
    if (pkg && NODE_ONLY_PACKAGES.includes(pkg))
      problems.push(`bundle contains ${name} (${pkg} is Node-only)`);
  }
  const output = metafile.outputs[path.relative(ROOT, outfile)];
  for (const imported of output?.imports ?? []) {
    const reason = nodeOnlyReason(imported.path);
    if (reason) problems.push(`bundle still imports "${imported.path}" (${reason}, ${imported.kind})`);
  }
  return problems;
}

function errorText(error: unknown): string {
  const messages = (error as { errors?: { text: string }[] }).errors;
  if (messages?.length) return messages.map((m) => m.text).join("; ");
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  const outdir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  const result = await bundleBrowser({ outdir });
  const where = path.relative(process.cwd(), result.outfile);
  if (!result.ok) {
    for (const problem of result.problems) console.error(`browser bundle: ${problem}`);
    process.exitCode = 1;
    return;
  }
  console.log(`browser bundle OK: ${where} (${(result.bytes / 1024).toFixed(1)} KiB), no Node built-ins`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
