/**
 * The load test's latency histogram: percentiles within its stated precision of the exact
 * nearest-rank values, exact min and max, and no summary without samples.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketOf, LatencyHistogram } from "../../src/loadtest/histogram.ts";

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

describe("LatencyHistogram", () => {
  it("has no summary before the first sample", () => {
    const histogram = new LatencyHistogram();
    expect(histogram.summary()).toBeNull();
    expect(histogram.percentile(50)).toBeNaN();
  });

  it("puts every duration in a bucket no smaller than the one before", () => {
    let previous = -1;
    for (let micros = 0; micros < 1 << 20; micros += 7) {
      const bucket = bucketOf(micros);
      expect(bucket).toBeGreaterThanOrEqual(previous);
      previous = bucket;
    }
    expect(bucketOf(2 ** 30 - 1)).toBeLessThan(bucketOf(2 ** 30));
  });

  it("reports percentiles within 2% (or 1 µs) of the exact ones, and exact min and max", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 300 }),
        (values) => {
          const histogram = new LatencyHistogram();
          for (const value of values) histogram.record(value);
          const sorted = [...values].sort((a, b) => a - b);
          for (const p of [50, 90, 99, 100]) {
            const exact = exactPercentile(sorted, p);
            expect(Math.abs(histogram.percentile(p) - exact)).toBeLessThanOrEqual(exact * 0.02 + 0.001);
          }
          const summary = histogram.summary()!;
          expect(summary.count).toBe(values.length);
          // The summary rounds to 0.01 ms.
          expect(Math.abs(summary.min - sorted[0]!)).toBeLessThanOrEqual(0.0051);
          expect(Math.abs(summary.max - sorted.at(-1)!)).toBeLessThanOrEqual(0.0051);
          expect(summary.p50).toBeLessThanOrEqual(summary.p90);
          expect(summary.p90).toBeLessThanOrEqual(summary.p99);
          expect(summary.p99).toBeLessThanOrEqual(summary.max);
        },
      ),
    );
  });

  it("counts negative and non-finite durations as 0", () => {
    const histogram = new LatencyHistogram();
    histogram.record(-5);
    histogram.record(Number.NaN);
    expect(histogram.summary()).toMatchObject({ count: 2, min: 0, max: 0, p99: 0 });
  });
});

describe("merging histograms (the workers' latencies)", () => {
  it("two halves merged, also through their JSON, summarise exactly like one histogram of everything", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), { maxLength: 300 }),
        (left, right) => {
          const all = new LatencyHistogram();
          const a = new LatencyHistogram();
          const b = new LatencyHistogram();
          for (const ms of left) {
            all.record(ms);
            a.record(ms);
          }
          for (const ms of right) {
            all.record(ms);
            b.record(ms);
          }
          const merged = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
          merged.merge(JSON.parse(JSON.stringify(b.toJSON())));
          const expected = all.summary()!;
          const got = merged.summary()!;
          expect({ ...got, mean: 0 }).toEqual({ ...expected, mean: 0 });
          expect(got.mean).toBeCloseTo(expected.mean, 1);
        },
      ),
    );
  });

  it("merging an empty histogram changes nothing", () => {
    const h = new LatencyHistogram();
    h.record(5);
    h.merge(new LatencyHistogram());
    expect(h.summary()).toMatchObject({ count: 1, min: 5, max: 5 });
  });
});
