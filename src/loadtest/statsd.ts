/**
 * Metrics to statsd / DogStatsD over UDP, as ap-loadtester sent them: counters as `|c`, durations
 * as `|ms`, every name under a prefix. Lines are batched into datagrams below a typical MTU and
 * flushed every `flushMs`, so thousands of metrics a second cost a few packets. UDP never blocks
 * the run: a lost datagram is a lost sample.
 */

import { createSocket, type Socket } from "node:dgram";
import type { MetricsSink } from "./metrics.ts";

/** Payload bytes per datagram: under 1500 minus IP and UDP headers. */
const MAX_DATAGRAM = 1400;

export interface StatsdOptions {
  host: string;
  port: number;
  /** Prepended with a dot, e.g. `push.loadtest` → `push.loadtest.notification.sent`. */
  prefix?: string;
  /** DogStatsD tags, e.g. ["worker:1"]. */
  tags?: string[];
  flushMs?: number;
}

export class StatsdSink implements MetricsSink {
  readonly #socket: Socket;
  readonly #options: StatsdOptions;
  readonly #counters = new Map<string, number>();
  readonly #suffix: string;
  #lines: string[] = [];
  #inFlight = 0;
  #closing: (() => void) | null = null;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: StatsdOptions) {
    this.#options = options;
    this.#socket = createSocket(options.host.includes(":") ? "udp6" : "udp4");
    this.#socket.on("error", () => {});
    this.#suffix = options.tags && options.tags.length > 0 ? `|#${options.tags.join(",")}` : "";
    this.#timer = setInterval(() => this.flush(), options.flushMs ?? 1_000);
    this.#timer.unref();
  }

  counter(name: string, value = 1): void {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + value);
  }

  rate(name: string): void {
    this.counter(name, 1);
  }

  histogram(name: string, ms: number): void {
    this.#lines.push(`${this.#name(name)}:${Math.round(ms * 100) / 100}|ms${this.#suffix}`);
    if (this.#lines.length >= 1000) this.flush();
  }

  /** Send what is buffered (counters summed since the last flush). */
  flush(): void {
    for (const [name, value] of this.#counters)
      this.#lines.push(`${this.#name(name)}:${value}|c${this.#suffix}`);
    this.#counters.clear();
    const lines = this.#lines;
    this.#lines = [];
    let packet = "";
    for (const line of lines) {
      if (packet.length > 0 && packet.length + 1 + line.length > MAX_DATAGRAM) {
        this.#send(packet);
        packet = "";
      }
      packet = packet ? `${packet}\n${line}` : line;
    }
    if (packet) this.#send(packet);
  }

  /** Flush and close the socket once the last datagrams are out. */
  close(): Promise<void> {
    clearInterval(this.#timer);
    this.flush();
    return new Promise((resolve) => {
      this.#closing = () => this.#socket.close(() => resolve());
      if (this.#inFlight === 0) this.#closing();
    });
  }

  #name(name: string): string {
    return this.#options.prefix ? `${this.#options.prefix}.${name}` : name;
  }

  #send(packet: string): void {
    this.#inFlight++;
    this.#socket.send(packet, this.#options.port, this.#options.host, () => {
      this.#inFlight--;
      if (this.#inFlight === 0) this.#closing?.();
    });
  }
}

/** `host:port` (IPv6 as `[::1]:8125`) → host and port; throws a one-line Error. */
export function parseStatsdAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || !(port > 0 && port < 65536)) throw new Error(`--statsd must be host:port, got '${text}'`);
  return { host: match[1] ?? match[2]!, port };
}
