/**
 * Bench 4, start-up: from `start()` to Ready with 1,000 and 10,000 stored subscriptions, on each
 * store, each variant in a fresh worker process (startup-worker.ts). Each figure is the median
 * of the runs.
 */

import type { StartupResult } from "./startup-worker.ts";
import { median, round, runWorker } from "./support.ts";

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const COUNTS = [1_000, 10_000];
const STORES = ["memory", "indexeddb", "level"] as const;

export async function benchStartup(): Promise<Record<string, number>> {
  const results: Record<string, number> = { runs: RUNS };
  for (const count of COUNTS) {
    for (const store of STORES) {
      const { runs } = await runWorker<StartupResult>("startup-worker.ts", [
        store,
        String(count),
        String(RUNS),
      ]);
      results[`${store}_${count}_ms`] = round(median(runs), 1);
      console.error(`  startup ${store} ${count}: ${runs.map((ms) => ms.toFixed(1)).join(", ")} ms`);
    }
  }
  return results;
}
