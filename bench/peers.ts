/**
 * Bench 5, burst and stored drain beside the plain reference (a bare `ws` client decrypting with
 * `http_ece`, no store) and raw ECDH, all in one worker process and one run (peer-worker.ts).
 * Ratios are taken run by run, then the median: on a shared machine the absolute rates move with
 * the neighbours' load, the ratios much less. BENCH_PEER_MESSAGES, BENCH_PEER_RUNS and
 * BENCH_PEER_THREADS (the decryptWorkers of the worker variant) narrow or widen a run.
 */

import type { Client, PeerResult, PeerSample } from "./peer-worker.ts";
import { median, round, runWorker } from "./support.ts";

const MESSAGES = Number(process.env.BENCH_PEER_MESSAGES ?? 2000);
const RUNS = Number(process.env.BENCH_PEER_RUNS ?? 3);
const THREADS = Number(process.env.BENCH_PEER_THREADS ?? 2);

export async function benchPeers(): Promise<Record<string, number>> {
  const { ecdh, ecdhBest, ecdhBestCpu, samples } = await runWorker<PeerResult>("peer-worker.ts", [
    String(MESSAGES),
    String(RUNS),
    String(THREADS),
  ]);
  const results: Record<string, number> = { messages: MESSAGES, runs: RUNS, worker_threads: THREADS };
  results.ecdh_raw_node = Math.round(median(ecdh));
  results.ecdh_best_per_message = Math.round(median(ecdhBest));
  const of = (client: Client, mode: PeerSample["mode"]) =>
    samples.filter((s) => s.client === client && s.mode === mode);
  for (const mode of ["burst", "drain"] as const) {
    for (const client of ["agent", "workers", "plain"] as const) {
      const runs = of(client, mode);
      const name = `${mode}_${client}`;
      results[`${name}_msgs_per_s`] = Math.round(median(runs.map((s) => s.rate)));
      results[`${name}_cpu_ms_per_msg`] = round(median(runs.map((s) => s.cpuMsPerMessage)), 3);
      results[`${name}_loop_p99_ms`] = round(median(runs.map((s) => s.loopP99Ms)), 1);
      results[`${name}_vs_ecdh`] = round(median(runs.map((s, i) => s.rate / ecdh[i]!)), 3);
      results[`${name}_vs_best_ecdh`] = round(median(runs.map((s, i) => s.rate / ecdhBest[i]!)), 3);
      // Messages per CPU-second of this process (all threads) against ECDH per CPU-second.
      results[`${name}_vs_best_ecdh_cpu`] = round(
        median(runs.map((s, i) => 1000 / s.cpuMsPerMessage / ecdhBestCpu[i]!)),
        3,
      );
    }
    for (const client of ["agent", "workers"] as const) {
      const plain = of("plain", mode);
      results[`${mode}_${client}_vs_plain`] = round(
        median(of(client, mode).map((s, i) => s.rate / plain[i]!.rate)),
        3,
      );
    }
  }
  return results;
}
