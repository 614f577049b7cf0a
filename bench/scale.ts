/**
 * Bench 3, scale: idle PushService connections (2 subscriptions each, own in-memory store, ping
 * timer armed) held by one process against the local server in another process, at 2,000 and
 * 10,000 (BENCH_SCALE_COUNTS=), with the heap and RSS each adds; beside bare `ws` clients at the same counts (the
 * floor), and one run at the most connections the open-file limit leaves room for.
 */

import { execFileSync } from "node:child_process";
import type { ScaleSample } from "./scale-worker.ts";
import { median, round, runWorker } from "./support.ts";

const RUNS = Number(process.env.BENCH_SCALE_RUNS ?? 3);
const COUNTS = (process.env.BENCH_SCALE_COUNTS?.split(",") ?? ["2000", "10000"]).map(Number);
/** File descriptors kept free for everything that is not a connection. */
const FD_HEADROOM = 1_000;

function openFileLimit(): number {
  const text = execFileSync("/bin/sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  return text === "unlimited" ? Number.POSITIVE_INFINITY : Number(text);
}

async function sample(kind: ScaleSample["kind"], connections: number): Promise<ScaleSample> {
  return runWorker<ScaleSample>("scale-worker.ts", [kind, String(connections)], ["--expose-gc"]);
}

export async function benchScale(): Promise<Record<string, number>> {
  const results: Record<string, number> = { runs: RUNS, subscriptions_per_connection: 2 };
  for (const connections of COUNTS) {
    for (const kind of ["service", "ws"] as const) {
      const samples: ScaleSample[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await sample(kind, connections));
      const name = `${kind}_${connections}`;
      results[`${name}_heap_kb_per_conn`] = round(median(samples.map((s) => s.heapPerConnectionKB)), 2);
      results[`${name}_rss_kb_per_conn`] = round(median(samples.map((s) => s.rssPerConnectionKB)), 2);
      results[`${name}_connect_per_s`] = Math.round(median(samples.map((s) => s.connectPerSecond)));
      console.error(
        `  scale ${name}: ${samples.map((s) => s.heapPerConnectionKB.toFixed(1)).join(", ")} KB heap/conn`,
      );
    }
  }
  // How many one process holds: as many as the open-file limit allows (one run).
  const limit = openFileLimit();
  const most = Number.isFinite(limit) ? Math.floor((limit - FD_HEADROOM) / 1000) * 1000 : 50_000;
  const max = await sample("service", most);
  results.open_file_limit = Number.isFinite(limit) ? limit : -1;
  results.max_connections_held = max.connections;
  results.max_heap_kb_per_conn = round(max.heapPerConnectionKB, 2);
  results.max_rss_kb_per_conn = round(max.rssPerConnectionKB, 2);
  return results;
}
