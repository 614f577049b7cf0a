/**
 * How busy one generator process was during a scenario run: CPU time over wall time, event-loop
 * delay, and the heap at the start and at the progress tick with the most connections open.
 * runScenarios (runner.ts) samples it on each progress tick.
 */

import { monitorEventLoopDelay } from "node:perf_hooks";

/** How busy one generator process was. */
export interface WorkerLoad {
  worker: number;
  pid: number;
  /** CPU time over wall time, % of one core. */
  cpuPercent: number;
  eventLoopDelayP99: number;
  eventLoopDelayMax: number;
  /** Heap in use at the progress tick with the most connections open (heapSampledConnections), and at the start. */
  heapAtPeakBytes: number;
  heapAtStartBytes: number;
  heapSampledConnections: number;
  peakConnections: number;
}

export function measureLoad(worker: number, connections: () => number, peak: () => number) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu = process.cpuUsage();
  const wallStart = performance.now();
  // With --expose-gc (the benchmark) heap figures are taken after a collection, else they include garbage.
  const gc = (globalThis as { gc?: () => void }).gc;
  const heapUsed = () => {
    gc?.();
    return process.memoryUsage().heapUsed;
  };
  const heapAtStartBytes = heapUsed();
  let sampledPeak = 0;
  let heapAtPeakBytes = heapAtStartBytes;
  const ms = (ns: number) => Math.round(ns / 10_000) / 100;
  return {
    sample() {
      const open = connections();
      if (open < sampledPeak || open === 0) return;
      sampledPeak = open;
      heapAtPeakBytes = heapUsed();
    },
    result(): WorkerLoad {
      delay.disable();
      const used = process.cpuUsage(cpu);
      const wallMicros = (performance.now() - wallStart) * 1000;
      return {
        worker,
        pid: process.pid,
        cpuPercent: Math.round(((used.user + used.system) / Math.max(wallMicros, 1)) * 100),
        eventLoopDelayP99: ms(delay.percentile(99)),
        eventLoopDelayMax: ms(delay.max),
        heapAtPeakBytes,
        heapAtStartBytes,
        heapSampledConnections: sampledPeak,
        peakConnections: peak(),
      };
    },
  };
}
