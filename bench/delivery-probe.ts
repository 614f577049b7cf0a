/**
 * What the delivery benchmarks share: a probe `ws` client that timestamps each notification frame
 * as it arrives and each ack as it leaves (passed as the `WebSocket` option, nothing in the library
 * changes), and filling the local push server with stored 3 KB aes128gcm pushes.
 */

import { Agent, request } from "node:http";
import WebSocket from "ws";
import { buildRequest } from "../src/sender/send.ts";
import type { WebSocketConstructor } from "../src/transport/websocket.ts";
import { pool } from "./support.ts";

export const PAYLOAD_BYTES = 3 * 1024;
const PAYLOAD = "x".repeat(PAYLOAD_BYTES);
/** Distinct encrypted bodies per subscription, posted round-robin. */
const BODIES_PER_SUBSCRIPTION = 4;
const POST_CONCURRENCY = 16;

/** What the probe socket saw of one run. */
export class Probe {
  readonly arrived = new Map<string, number>();
  readonly observed = new Map<string, number>();
  firstFrame = Number.NaN;
  lastAck = Number.NaN;
  cpuAtFirstFrame: NodeJS.CpuUsage | null = null;
  cpu: NodeJS.CpuUsage | null = null;
  acks = 0;
  #done: () => void = () => {};
  readonly done: Promise<void>;

  constructor(readonly expected: number) {
    this.done = new Promise((resolve) => {
      this.#done = resolve;
    });
  }

  frame(data: Buffer): void {
    const now = performance.now();
    const version = versionIn(data.toString("latin1", 0, Math.min(data.length, 400)));
    if (version === null) return;
    if (Number.isNaN(this.firstFrame)) {
      this.firstFrame = now;
      this.cpuAtFirstFrame = process.cpuUsage();
    }
    this.arrived.set(version, now);
  }

  sent(frame: string): void {
    if (!frame.startsWith('{"messageType":"ack"')) return;
    this.acks++;
    if (this.acks < this.expected) return;
    this.lastAck = performance.now();
    this.cpu = process.cpuUsage(this.cpuAtFirstFrame ?? undefined);
    this.#done();
  }

  /** The ws client, timestamping frames before the library's own handler runs. */
  socket(): WebSocketConstructor {
    const probe = this;
    return class ProbeSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        this.on("message", (data: Buffer, isBinary: boolean) => {
          if (!isBinary) probe.frame(data);
        });
        const send = this.send.bind(this) as (data: string) => void;
        (this as { send: (data: string) => void }).send = (data: string) => {
          probe.sent(data);
          send(data);
        };
      }
    } as unknown as WebSocketConstructor;
  }
}

export function versionIn(text: string): string | null {
  const at = text.indexOf('"version":"');
  if (at < 0 || !text.startsWith('{"messageType":"notification"')) return null;
  const start = at + 11;
  return text.slice(start, text.indexOf('"', start));
}

export interface Target {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** POST `messages` pushes round-robin over the subscriptions, with pre-encrypted bodies. */
export async function fill(targets: Target[], messages: number): Promise<void> {
  const requests = targets.flatMap((target) =>
    Array.from({ length: BODIES_PER_SUBSCRIPTION }, () => {
      const built = buildRequest(target, PAYLOAD, { TTL: 86_400, contentEncoding: "aes128gcm" });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(built.headers)) headers[name] = String(value);
      return { url: new URL(built.endpoint), headers, body: built.body as Buffer };
    }),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: POST_CONCURRENCY });
  const indexes = Array.from({ length: messages }, (_, i) => i);
  await pool(indexes, POST_CONCURRENCY, async (i) => {
    const body = Math.floor(i / targets.length) % BODIES_PER_SUBSCRIPTION;
    const target = requests[(i % targets.length) * BODIES_PER_SUBSCRIPTION + body]!;
    const status = await post(agent, target.url, target.headers, target.body);
    if (status !== 201) throw new Error(`push ${i} answered ${status}`);
  });
  agent.destroy();
}

function post(agent: Agent, url: URL, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}
