/**
 * The load tester's drain window, in both modes, against the local server with an endpoint in
 * front of it that holds push POSTs: a push delivered during the window is received, not lost; a
 * POST still unanswered when the window ends is "in flight at the end", neither failed nor lost;
 * only a push the server accepted (2xx) and never delivered within the window is lost (the
 * delivery held by a black-holed WebSocket).
 */

import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { runLoadTest } from "../../src/loadtest/fixed.ts";
import { runVapidKeys } from "../../src/loadtest/payload.ts";
import { parsePlans } from "../../src/loadtest/plan.ts";
import { buildReport } from "../../src/loadtest/report.ts";
import { runScenarios } from "../../src/loadtest/runner.ts";
import { loadScenarios } from "../../src/loadtest/scenario-module.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { TcpProxy } from "../faults/support/proxy.ts";

/** The push endpoint's host: holds every POST until release(), then forwards them (and later ones). */
class HoldingEndpoint {
  readonly #server: Server;
  readonly #held: (() => void)[] = [];
  #released = false;
  target = 0;
  /** Called with the number of POSTs held so far, after each one. */
  onHeld: (count: number) => void = () => {};

  private constructor() {
    this.#server = createServer((req, res) => this.#request(req, res));
  }

  static async start(): Promise<HoldingEndpoint> {
    const endpoint = new HoldingEndpoint();
    await new Promise<void>((resolve) => endpoint.#server.listen(0, "127.0.0.1", resolve));
    return endpoint;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  release(): void {
    this.#released = true;
    for (const forward of this.#held.splice(0)) forward();
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const forward = () => {
        const upstream = request(
          { host: "127.0.0.1", port: this.target, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on("error", () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (this.#released) return forward();
      this.#held.push(forward);
      this.onHeld(this.#held.length);
    });
  }
}

let server: PushServer;
let endpoint: HoldingEndpoint;
const cleanups: (() => Promise<void>)[] = [];

async function start(): Promise<void> {
  endpoint = await HoldingEndpoint.start();
  server = await createPushServer({ port: 0, endpointURL: endpoint.url });
  endpoint.target = server.port;
  cleanups.push(
    () => server.close(),
    () => endpoint.close(),
  );
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("scenario mode (runScenarios)", () => {
  const USERS = 4;

  async function runPlan(signal: AbortSignal, drainTimeoutMs: number) {
    const scenarios = await loadScenarios(null);
    // notification_forever with notif_delay 0: push, expect it, push again, ... one POST at a time.
    const plans = parsePlans(`notification_forever,${USERS},0,0,0`, scenarios);
    const data = await runScenarios({
      serverURL: server.url,
      plans,
      scenarios,
      payloadMode: "relay",
      vapid: runVapidKeys(),
      durationMs: null,
      drainTimeoutMs,
      signal,
    });
    return buildReport({ serverURL: server.url, plans: ["notification_forever"], payload: "relay" }, [data]);
  }

  it("pushes delivered during the drain window are received, not lost", async () => {
    await start();
    const stop = new AbortController();
    // Every user's first POST is held; the run is stopped, then the server gets them.
    endpoint.onHeld = (count) => {
      if (count < USERS) return;
      stop.abort();
      endpoint.release();
    };
    const report = await runPlan(stop.signal, 10_000);
    expect(report.pushes).toMatchObject({ sent: USERS, received: USERS, lost: 0, inFlightAtEnd: 0 });
    expect(report.users).toMatchObject({ started: USERS, failed: 0, stopped: USERS });
  });

  it("a POST unanswered when the window ends is in flight at the end, not lost", async () => {
    await start();
    const stop = new AbortController();
    endpoint.onHeld = (count) => {
      if (count === USERS) stop.abort();
    };
    const report = await runPlan(stop.signal, 100);
    expect(report.pushes).toMatchObject({ sent: 0, received: 0, lost: 0, inFlightAtEnd: USERS });
    expect(report.users.failed).toBe(0);
  });
});

describe("fixed mode (runLoadTest)", () => {
  it("a POST unanswered when the window ends is in flight at the end, neither failed nor lost", async () => {
    await start();
    const report = await runLoadTest({
      serverURL: server.url,
      agents: 1,
      durationMs: 300,
      pushIntervalMs: 20,
      drainTimeoutMs: 50,
    });
    expect(report.drainTimeoutMs).toBe(50);
    expect(report.pushesSent).toBe(0);
    expect(report.pushesFailed).toBe(0);
    expect(report.pushesLost).toBe(0);
    expect(report.pushesInFlightAtEnd).toBeGreaterThan(0);
    expect(report.errors).toEqual([]);
  });

  it("a push accepted but never delivered within the window is lost", async () => {
    await start();
    endpoint.release();
    // The agents' WebSocket goes through a proxy that stops carrying anything once they registered.
    const proxy = await TcpProxy.start(server.port);
    cleanups.push(() => proxy.close());
    let holding = false;
    const report = await runLoadTest({
      serverURL: proxy.url,
      agents: 1,
      durationMs: 400,
      pushIntervalMs: 20,
      drainTimeoutMs: 100,
      progressIntervalMs: 10,
      onProgress: (progress) => {
        if (holding || progress.registrations < 1) return;
        holding = true;
        proxy.blackhole();
      },
    });
    expect(report.pushesLost).toBeGreaterThan(0);
    expect(report.pushesInFlightAtEnd).toBe(0);
    expect(report.pushesFailed).toBe(0);
    expect(report.pushesReceived + report.pushesLost).toBe(report.pushesSent);
  });
});
