/**
 * Scenario metrics: the small sink interface every scenario command reports through (counter,
 * histogram, rate: the three Artillery's `ee.emit` knows, so an Artillery engine can map them
 * one to one), and the collector behind `push-agent loadtest`: totals, histograms, and one
 * bucket per second for the charts. A collector's snapshot is plain data that merges, so the
 * workers' snapshots add up to one report.
 */

import { type HistogramData, LatencyHistogram } from "./histogram.ts";

/** Where scenario commands send their metrics. Names are dotted (`notification.sent`). */
export interface MetricsSink {
  /** Add `value` (default 1) to a counter. */
  counter(name: string, value?: number): void;
  /** Record one duration in ms. */
  histogram(name: string, ms: number): void;
  /** One event of a per-second rate (counted like a counter). */
  rate(name: string): void;
}

/** The metric names the scenario commands emit (user counters and timers come on top). */
export const METRIC = {
  connectionOpened: "connection.opened",
  connectionClosed: "connection.closed",
  connectTime: "connect.time",
  hello: "hello",
  helloTime: "hello.time",
  register: "register",
  registerTime: "register.time",
  unregister: "unregister",
  sent: "notification.sent",
  sentBytes: "notification.throughput.bytes",
  received: "notification.received",
  acked: "notification.ack",
  latency: "notification.latency",
  /** Relay pushes the server accepted (2xx) that had not arrived when their user closed. */
  lost: "notification.lost",
  /** Relay pushes whose POST had no answer yet when their user closed: unfinished, not lost. */
  inFlightAtEnd: "notification.in_flight_at_end",
  scenarioStarted: "scenario.started",
  scenarioCompleted: "scenario.completed",
  scenarioFailed: "scenario.failed",
  /** `error.<kind>`: one counter per kind of error. */
  errorPrefix: "error.",
  /** `timer.<name>`: the scenario's own named timers. */
  timerPrefix: "timer.",
} as const;

/** Fans every metric out to several sinks (the collector and statsd, say). */
export function teeSink(...sinks: MetricsSink[]): MetricsSink {
  return {
    counter: (name, value = 1) => {
      for (const sink of sinks) sink.counter(name, value);
    },
    histogram: (name, ms) => {
      for (const sink of sinks) sink.histogram(name, ms);
    },
    rate: (name) => {
      for (const sink of sinks) sink.rate(name);
    },
  };
}

/** One second of the run: counters added in it, and its push latencies. */
export interface SecondData {
  counters: Record<string, number>;
  /** Most connections open at once during the second. */
  peakConnections: number;
  latency: HistogramData | null;
}

export interface MetricsData {
  counters: Record<string, number>;
  histograms: Record<string, HistogramData>;
  /** Most connections open at once (summed over merged collectors: an upper bound). */
  peakConnections: number;
  /** Index = whole seconds since the run started. */
  seconds: SecondData[];
}

interface Second {
  counters: Map<string, number>;
  peakConnections: number;
  latency: LatencyHistogram | null;
}

export class MetricsCollector implements MetricsSink {
  readonly #counters = new Map<string, number>();
  readonly #histograms = new Map<string, LatencyHistogram>();
  readonly #seconds: Second[] = [];
  readonly #now: () => number;
  readonly #startedAt: number;
  #open = 0;
  #peak = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#startedAt = now();
  }

  counter(name: string, value = 1): void {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + value);
    const second = this.#second();
    second.counters.set(name, (second.counters.get(name) ?? 0) + value);
    if (name === METRIC.connectionOpened || name === METRIC.connectionClosed) {
      this.#open += name === METRIC.connectionOpened ? value : -value;
      this.#peak = Math.max(this.#peak, this.#open);
      second.peakConnections = Math.max(second.peakConnections, this.#open);
    }
  }

  get peakConnections(): number {
    return this.#peak;
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.#open;
  }

  rate(name: string): void {
    this.counter(name, 1);
  }

  histogram(name: string, ms: number): void {
    let histogram = this.#histograms.get(name);
    if (!histogram) {
      histogram = new LatencyHistogram();
      this.#histograms.set(name, histogram);
    }
    histogram.record(ms);
    if (name !== METRIC.latency) return;
    const second = this.#second();
    second.latency ??= new LatencyHistogram();
    second.latency.record(ms);
  }

  count(name: string): number {
    return this.#counters.get(name) ?? 0;
  }

  histogramOf(name: string): LatencyHistogram | undefined {
    return this.#histograms.get(name);
  }

  /** Every counter whose name starts with the prefix, without it. */
  countersUnder(prefix: string): Record<string, number> {
    const result: Record<string, number> = {};
    for (const [name, value] of this.#counters) {
      if (name.startsWith(prefix)) result[name.slice(prefix.length)] = value;
    }
    return result;
  }

  toJSON(): MetricsData {
    // The timeline runs to now: seconds without an event still show the connections held.
    this.#second();
    return {
      counters: Object.fromEntries(this.#counters),
      histograms: Object.fromEntries([...this.#histograms].map(([name, h]) => [name, h.toJSON()])),
      peakConnections: this.#peak,
      seconds: Array.from(this.#seconds, (second) => ({
        counters: Object.fromEntries(second.counters),
        peakConnections: second.peakConnections,
        latency: second.latency ? second.latency.toJSON() : null,
      })),
    };
  }

  /** Add another collector's data (a worker's), second by second. */
  merge(data: MetricsData): void {
    this.#peak += data.peakConnections;
    for (const [name, value] of Object.entries(data.counters)) {
      this.#counters.set(name, (this.#counters.get(name) ?? 0) + value);
    }
    for (const [name, histogram] of Object.entries(data.histograms)) {
      let mine = this.#histograms.get(name);
      if (!mine) {
        mine = new LatencyHistogram();
        this.#histograms.set(name, mine);
      }
      mine.merge(histogram);
    }
    data.seconds.forEach((second, index) => {
      const mine = this.#secondAt(index);
      mine.peakConnections += second.peakConnections;
      for (const [name, value] of Object.entries(second.counters)) {
        mine.counters.set(name, (mine.counters.get(name) ?? 0) + value);
      }
      if (second.latency) {
        mine.latency ??= new LatencyHistogram();
        mine.latency.merge(second.latency);
      }
    });
  }

  #second(): Second {
    return this.#secondAt(Math.max(0, Math.floor((this.#now() - this.#startedAt) / 1000)));
  }

  #secondAt(index: number): Second {
    // A second starts with the connections still open from the one before: idle seconds are not 0.
    for (let i = this.#seconds.length; i <= index; i++)
      this.#seconds.push({ counters: new Map(), peakConnections: this.#open, latency: null });
    return this.#seconds[index]!;
  }
}
