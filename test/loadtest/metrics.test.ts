/**
 * The collector's per-second timeline, which the HTML report charts: the connections held are a
 * gauge, so a second without a connect or close still shows them, up to the end of the run.
 */

import { expect, it } from "vitest";
import { METRIC, MetricsCollector } from "../../src/loadtest/metrics.ts";

it("carries the open connections through seconds without events, to the end of the run", () => {
  let now = 0;
  const metrics = new MetricsCollector(() => now);
  metrics.counter(METRIC.connectionOpened, 3);
  now = 3_500;
  metrics.counter(METRIC.connectionClosed);
  now = 5_200;
  const { seconds, peakConnections } = metrics.toJSON();
  expect(peakConnections).toBe(3);
  expect(seconds.map((second) => second.peakConnections)).toEqual([3, 3, 3, 3, 2, 2]);
});

it("sums worker timelines second by second, idle seconds included", () => {
  let now = 0;
  const worker = new MetricsCollector(() => now);
  worker.counter(METRIC.connectionOpened, 4);
  now = 2_100;
  const merged = new MetricsCollector(() => 0);
  merged.merge(worker.toJSON());
  merged.merge(worker.toJSON());
  expect(merged.toJSON().seconds.map((second) => second.peakConnections)).toEqual([8, 8, 8]);
});
