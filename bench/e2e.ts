/**
 * Bench 2, end to end on one connection: for each store (in-memory PushDB, IndexedDB on
 * fake-indexeddb, the durable LevelDB store with fsync) and 1 or 100 subscriptions, a fresh
 * worker process (e2e-worker.ts) receives 20,000 stored 3 KB aes128gcm notifications from the
 * local push server in another process. Each figure is the median of the runs.
 *
 * BENCH_E2E_MESSAGES, BENCH_E2E_RUNS, BENCH_E2E_STORES and BENCH_E2E_SUBSCRIPTIONS (comma lists)
 * narrow a run, e.g. when profiling.
 */

import type { RunResult, StoreKind } from "./e2e-worker.ts";
import { median, round, runWorker } from "./support.ts";

const MESSAGES = Number(process.env.BENCH_E2E_MESSAGES ?? 20_000);
const RUNS = Number(process.env.BENCH_E2E_RUNS ?? 3);
const STORES = list("BENCH_E2E_STORES", ["memory", "indexeddb", "level"]) as StoreKind[];
const SUBSCRIPTIONS = list("BENCH_E2E_SUBSCRIPTIONS", ["1", "100"]).map(Number);

function list(name: string, fallback: string[]): string[] {
  return process.env[name]?.split(",") ?? fallback;
}

export async function benchE2E(): Promise<Record<string, number>> {
  const results: Record<string, number> = { messages: MESSAGES, runs: RUNS };
  for (const subscriptions of SUBSCRIPTIONS) {
    for (const store of STORES) {
      const args = [store, String(subscriptions), String(RUNS), String(MESSAGES)];
      const runs = await runWorker<RunResult[]>("e2e-worker.ts", args);
      const name = `${store}_${subscriptions}sub`;
      results[`${name}_msgs_per_s`] = Math.round(median(runs.map((r) => r.rate)));
      results[`${name}_p50_ms`] = round(median(runs.map((r) => r.p50)), 2);
      results[`${name}_p99_ms`] = round(median(runs.map((r) => r.p99)), 2);
      results[`${name}_cpu_busy`] = round(median(runs.map((r) => r.busy)), 2);
      console.error(`  e2e ${name}: ${runs.map((r) => Math.round(r.rate)).join(", ")} msg/s`);
    }
  }
  return results;
}
