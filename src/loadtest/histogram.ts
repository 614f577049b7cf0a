/**
 * Latency statistics for the load test: a log-linear histogram of durations (HDR-style: 64 linear
 * steps per power of two of microseconds), so a long run at thousands of pushes a second keeps
 * constant memory and every percentile is within ~1.6% of the exact value. Min and max are exact.
 * Histograms merge (the buckets add up), and travel between processes as their sparse buckets, so
 * the load-test workers' latencies give one report with the percentiles of the whole run.
 */

/** Linear steps per power of two; the relative error of a bucket is at most 1/SUB_BUCKETS. */
const SUB_BUCKETS = 64;
const SUB_BITS = 6;
/** Durations are clamped to 2^40 µs (about 12 days): far beyond any run. */
const MAX_EXPONENT = 40;
const BUCKETS = SUB_BUCKETS * (MAX_EXPONENT - SUB_BITS + 2);

export interface LatencySummary {
  /** How many durations were recorded. */
  count: number;
  /** Milliseconds, rounded to 0.01. */
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** A histogram as plain data: [bucket index, count] pairs of the non-empty buckets. */
export interface HistogramData {
  count: number;
  sum: number;
  min: number;
  max: number;
  buckets: [number, number][];
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  /** Record one duration in ms; negative or non-finite values count as 0. */
  record(ms: number): void {
    const value = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#counts[bucketOf(Math.round(value * 1000))]!++;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Add every duration another histogram recorded. */
  merge(other: LatencyHistogram | HistogramData): void {
    const data = other instanceof LatencyHistogram ? other.toJSON() : other;
    if (data.count === 0) return;
    for (const [index, count] of data.buckets) {
      if (Number.isInteger(index) && index >= 0 && index < BUCKETS) this.#counts[index]! += count;
    }
    this.#count += data.count;
    this.#sum += data.sum;
    this.#min = Math.min(this.#min, data.min);
    this.#max = Math.max(this.#max, data.max);
  }

  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i]! > 0) buckets.push([i, this.#counts[i]!]);
    return { count: this.#count, sum: this.#sum, min: this.#min, max: this.#max, buckets };
  }

  static fromJSON(data: HistogramData): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.merge(data);
    return histogram;
  }

  /** The p-th percentile (0 < p ≤ 100) in ms by nearest rank; NaN when nothing was recorded. */
  percentile(p: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return clamp(bucketMiddle(i) / 1000, this.#min, this.#max);
    }
    return this.#max;
  }

  /** null when nothing was recorded, so a report never shows a made-up latency. */
  summary(): LatencySummary | null {
    if (this.#count === 0) return null;
    return {
      count: this.#count,
      min: round(this.#min),
      mean: round(this.#sum / this.#count),
      p50: round(this.percentile(50)),
      p90: round(this.percentile(90)),
      p95: round(this.percentile(95)),
      p99: round(this.percentile(99)),
      max: round(this.#max),
    };
  }
}

/** Bucket index of a duration in whole microseconds. */
export function bucketOf(micros: number): number {
  if (micros < 2 * SUB_BUCKETS) return micros;
  let exponent = Math.floor(Math.log2(micros));
  // log2 may round up just below a power of two.
  if (2 ** exponent > micros) exponent--;
  exponent = Math.min(MAX_EXPONENT, exponent);
  const shift = exponent - SUB_BITS;
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor(micros / 2 ** shift) - SUB_BUCKETS);
  return SUB_BUCKETS * (shift + 1) + sub;
}

/** The middle of a bucket, in microseconds. */
function bucketMiddle(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const lower = (SUB_BUCKETS + (index % SUB_BUCKETS)) * 2 ** shift;
  return lower + (2 ** shift - 1) / 2;
}

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));
const round = (ms: number) => Math.round(ms * 100) / 100;
