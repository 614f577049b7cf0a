/**
 * What the benchmarks share: statistics (median, percentiles), a local push server in a child
 * process (so the server's work never shares the measured process's event loop), and spawning a
 * bench worker with the flags it needs (`--expose-gc`, the source condition).
 */

import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildOptions } from "esbuild";
import type { PushServerOptions, PushServerStats } from "../src/server/index.ts";

/** The checkout; set by the parent when this module runs from a bundle elsewhere. */
export const ROOT = process.env.PUSH_AGENT_ROOT ?? fileURLToPath(new URL("../", import.meta.url));

/** A file of bench/, found from ROOT rather than from this module, which may be bundled. */
export const benchFile = (name: string): string => path.join(ROOT, "bench", name);

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  if (p === 50 && sorted.length % 2 === 0) {
    const mid = sorted.length / 2;
    return (sorted[mid - 1]! + sorted[mid]!) / 2;
  }
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const round = (value: number, digits = 0): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

/** Node with TypeScript sources: tsx as the loader and the package's source condition. */
export function tsNodeArgs(script: string, flags: string[] = []): string[] {
  return [...flags, "--import", "tsx", "--conditions=push-agent-source", script];
}

export interface ChildServer {
  url: string;
  endpointURL: string;
  stats(): Promise<PushServerStats>;
  /** The server process's CPU time so far (process.cpuUsage), µs. */
  cpu(): Promise<NodeJS.CpuUsage>;
  close(): Promise<void>;
}

type ServerOptions = Omit<PushServerOptions, "logger" | "now" | "cryptoKey">;

/**
 * The local push server in its own process. It exits when we close it, and also when our end
 * of its IPC channel goes away, so a crashed bench never leaves it behind.
 */
export async function startServerProcess(options: ServerOptions = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, tsNodeArgs(benchFile("server-child.ts")), {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, PUSH_AGENT_BENCH_SERVER: JSON.stringify({ port: 0, ...options }) },
  });
  const ready = await nextMessage<{ type: "ready"; url: string; endpointURL: string }>(child);
  return {
    url: ready.url,
    endpointURL: ready.endpointURL,
    stats: async () => {
      child.send({ type: "stats" });
      return (await nextMessage<{ type: "stats"; stats: PushServerStats }>(child)).stats;
    },
    cpu: async () => {
      child.send({ type: "cpu" });
      return (await nextMessage<{ type: "cpu"; cpu: NodeJS.CpuUsage }>(child)).cpu;
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ type: "close" });
      await exited;
    },
  };
}

function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench server exited (${code})`));
    child.once("exit", onExit);
    child.once("message", (message) => {
      child.off("exit", onExit);
      resolve(message as T);
    });
  });
}

/**
 * Measured code runs as an esbuild bundle of the TypeScript sources, not through tsx: tsx keeps
 * function names by giving every named closure an own `name` property (256 bytes of property
 * storage each, about 3.6 KB per PushService connection), which the compiled package does not
 * have. The bundle keeps the packages external, so it resolves them from this checkout. The
 * decrypt pool's worker module is bundled beside it as decrypt-worker.js, where the pool looks for
 * it (as an app that bundles push-agent must do; see the README).
 */
async function bundle(entry: string): Promise<string> {
  const { build } = await import("esbuild");
  const outdir = path.join(ROOT, "node_modules", ".cache", "push-agent-bench");
  const outfile = path.join(outdir, entry.replace(/\.ts$/, ".mjs"));
  const common: BuildOptions = {
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["push-agent-source"],
    packages: "external",
    logLevel: "error",
  };
  await build({ ...common, entryPoints: [benchFile(entry)], outfile });
  await build({
    ...common,
    entryPoints: [path.join(ROOT, "src/crypto/decrypt-worker.ts")],
    outfile: path.join(outdir, "decrypt-worker.js"),
  });
  return outfile;
}

const bundles = new Map<string, Promise<string>>();

/**
 * Run a bench/ worker in a fresh process (its own heap and JIT state) and resolve with the
 * result it sends over IPC (see `finish`).
 */
export async function runWorker<T>(entry: string, args: string[], flags: string[] = []): Promise<T> {
  if (!bundles.has(entry)) bundles.set(entry, bundle(entry));
  const script = await bundles.get(entry)!;
  const child = spawn(process.execPath, [...flags, script, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, PUSH_AGENT_ROOT: ROOT },
  });
  let result: T | undefined;
  child.on("message", (message) => {
    result = message as T;
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0 || result === undefined)
    throw new Error(`bench/${entry} ${args.join(" ")} failed (exit ${code})`);
  return result;
}

/** A worker's last act: hand the result to the parent and exit. */
export function finish(result: unknown): void {
  if (!process.send) {
    console.log(result);
    return;
  }
  process.send(result, () => process.exit(0));
}

/** Await GC settling: two collections with a turn of the event loop between them. */
export async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
}

/** Run `task` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
