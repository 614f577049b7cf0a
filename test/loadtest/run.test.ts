/**
 * runLoadTest against the local push server: every agent connects and registers, every accepted
 * push arrives once at its own subscription, the server's counters agree, and the run leaves
 * nothing open. Plus option validation and an early stop through the signal.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type LoadTestOptions,
  type LoadTestProgress,
  type LoadTestReport,
  runLoadTest,
} from "../../src/loadtest/index.ts";
import { checkScenarioRunOptions, runScenarios, type ScenarioRunOptions } from "../../src/loadtest/runner.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";

let server: PushServer;

beforeEach(async () => {
  server = await createPushServer({ port: 0 });
});

afterEach(async () => {
  await server.close();
});

function expectOrderedLatency(latency: LoadTestReport["latency"]): void {
  expect(latency).not.toBeNull();
  const { min, p50, p90, p99, max } = latency!;
  for (const value of [min, p50, p90, p99, max]) {
    expect(Number.isFinite(value)).toBe(true);
    expect(value).toBeGreaterThanOrEqual(0);
  }
  expect(min).toBeLessThanOrEqual(p50);
  expect(p50).toBeLessThanOrEqual(p90);
  expect(p90).toBeLessThanOrEqual(p99);
  expect(p99).toBeLessThanOrEqual(max);
}

describe("runLoadTest against the local server", () => {
  it("connects every agent, registers every scope, and receives every push it sent", async () => {
    const progress: LoadTestProgress[] = [];
    const report = await runLoadTest({
      serverURL: server.url,
      agents: 20,
      subscriptionsPerAgent: 2,
      durationMs: 4_000, // room for 20 key generations and handshakes on a loaded 2-core machine
      pushIntervalMs: 200,
      connectConcurrency: 5,
      progressIntervalMs: 100,
      onProgress: (snapshot) => progress.push(snapshot),
    });

    expect(report).toMatchObject({
      agents: 20,
      subscriptionsPerAgent: 2,
      aborted: false,
      agentsStarted: 20,
      connected: 20,
      peakConnected: 20,
      connectFailures: 0,
      disconnects: 0,
      registrations: 40,
      registrationFailures: 0,
      pushesFailed: 0,
      pushesLost: 0,
      pushesUnexpected: 0,
      pushesMisrouted: 0,
      decryptErrors: 0,
      errors: [],
    });
    expect(report.pushesSent).toBeGreaterThan(0);
    expect(report.pushesReceived).toBe(report.pushesSent);
    expect(report.latency?.count).toBe(report.pushesReceived);
    expectOrderedLatency(report.latency);
    expect(report.connectLatency?.count).toBe(20);
    expect(report.registerLatency?.count).toBe(40);

    expect(progress.length).toBeGreaterThan(0);
    const last = progress.at(-1)!;
    expect(last.agents).toBe(20);
    expect(last.pushesReceived).toBeLessThanOrEqual(report.pushesReceived);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.pushesSent).toBeGreaterThanOrEqual(progress[i - 1]!.pushesSent);
    }

    // The server saw the same run: 20 users with 2 channels each, every accepted push delivered.
    const stats = server.stats();
    expect(stats.users).toBe(20);
    expect(stats.channels).toBe(40);
    expect(stats.pushes).toBe(report.pushesSent);
    expect(stats.direct + stats.stored).toBe(report.pushesSent);
    // Every agent was stopped: no socket is left on the server.
    await expect.poll(() => server.stats().connections).toBe(0);
  });

  it("with VAPID: v2 endpoints and signed pushes", async () => {
    const report = await runLoadTest({
      serverURL: server.url,
      agents: 3,
      durationMs: 500,
      pushIntervalMs: 100,
      vapid: true,
    });
    expect(report.registrations).toBe(3);
    expect(report.pushesFailed).toBe(0);
    expect(report.pushesSent).toBeGreaterThan(0);
    expect(report.pushesReceived).toBe(report.pushesSent);
  });

  it("without pushes it only connects and registers", async () => {
    const report = await runLoadTest({
      serverURL: server.url,
      agents: 4,
      subscriptionsPerAgent: 3,
      durationMs: 300,
      pushIntervalMs: null,
    });
    expect(report).toMatchObject({ connected: 4, registrations: 12, pushesSent: 0, latency: null });
    expect(server.stats().pushes).toBe(0);
  });

  it("stops early when the signal aborts and still reports", async () => {
    const controller = new AbortController();
    const report = await runLoadTest({
      serverURL: server.url,
      agents: 5,
      durationMs: 60_000,
      pushIntervalMs: 50,
      progressIntervalMs: 50,
      onProgress: (snapshot) => {
        if (snapshot.pushesReceived > 0) controller.abort();
      },
      signal: controller.signal,
    });
    expect(report.aborted).toBe(true);
    expect(report.pushesReceived).toBeGreaterThan(0);
    expect(report.pushesReceived).toBe(report.pushesSent);
  });

  it("counts pushes the server refuses as failed, with the status in the errors", async () => {
    const strict = await createPushServer({ port: 0, maxDataBytes: 100 });
    try {
      const report = await runLoadTest({
        serverURL: strict.url,
        agents: 2,
        durationMs: 300,
        pushIntervalMs: 100,
        payloadBytes: 200,
      });
      expect(report.registrations).toBe(2);
      expect(report.pushesFailed).toBeGreaterThan(0);
      expect(report).toMatchObject({ pushesSent: 0, pushesReceived: 0, pushesLost: 0, latency: null });
      expect(report.errors).toHaveLength(1);
      expect(report.errors[0]).toMatch(/^push refused: 413 /);
    } finally {
      await strict.close();
    }
  });

  it("counts agents that cannot connect as failures, with the reason", async () => {
    // Nothing listens on the discard port, and no test can bind it.
    const url = "ws://127.0.0.1:9/";
    const report = await runLoadTest({ serverURL: url, agents: 3, durationMs: 300 });
    expect(report).toMatchObject({ connected: 0, peakConnected: 0, connectFailures: 3, registrations: 0 });
    // The service's warning names the cause; the agent's last line is that warning.
    const refused = `push: cannot connect to ${url}: connection refused by 127.0.0.1:9; retrying`;
    expect(report.errors).toEqual([
      `${refused} (×3)`,
      `not connected when the run ended (last: ${refused}) (×3)`,
    ]);
  });
});

describe("option validation", () => {
  const base: LoadTestOptions = { serverURL: "ws://127.0.0.1:1/", agents: 1, durationMs: 1_000 };
  const cases: [string, Partial<LoadTestOptions>, ErrorConstructor, RegExp][] = [
    ["zero agents", { agents: 0 }, RangeError, /^agents must be a whole number from 1 to/],
    ["fractional agents", { agents: 1.5 }, RangeError, /^agents must be a whole number/],
    ["agents as a string", { agents: "10" as unknown as number }, TypeError, /^agents must be a number/],
    ["zero subscriptions", { subscriptionsPerAgent: 0 }, RangeError, /^subscriptionsPerAgent/],
    ["zero duration", { durationMs: 0 }, RangeError, /^durationMs must be a number of milliseconds > 0/],
    ["NaN duration", { durationMs: Number.NaN }, RangeError, /^durationMs/],
    ["negative interval", { pushIntervalMs: -1 }, RangeError, /^pushIntervalMs/],
    [
      "a negative drain window",
      { drainTimeoutMs: -1 },
      RangeError,
      /^drainTimeoutMs must be a number of milliseconds ≥ 0/,
    ],
    [
      "a drain window past setTimeout's range",
      { drainTimeoutMs: 2 ** 31 },
      RangeError,
      /^drainTimeoutMs .*≤ 2147483647/,
    ],
    [
      "a tiny payload",
      { payloadBytes: 4 },
      RangeError,
      /^payloadBytes must be a whole number from 16 to 3993/,
    ],
    ["a huge payload", { payloadBytes: 5000 }, RangeError, /^payloadBytes/],
    ["an http:// server", { serverURL: "http://127.0.0.1/" }, TypeError, /^serverURL must be a wss:\/\//],
    ["not a URL", { serverURL: "nope" }, TypeError, /^serverURL is not a valid URL/],
    [
      "ws:// to a remote host",
      { serverURL: "ws://push.example.com/" },
      TypeError,
      /ws:\/\/ to a non-loopback host.*allowInsecureServerURL/,
    ],
  ];
  for (const [what, change, type, message] of cases) {
    it(`refuses ${what}`, async () => {
      const run = runLoadTest({ ...base, ...change });
      await expect(run).rejects.toThrow(type);
      await expect(run).rejects.toThrow(message);
    });
  }
});

describe("runScenarios option validation", () => {
  const base = {
    serverURL: "ws://127.0.0.1:1/",
    plans: [],
    scenarios: new Map(),
    payloadMode: "relay" as const,
    vapid: { subject: "mailto:x@example.invalid", publicKey: "x", privateKey: "y" },
    durationMs: 1_000,
  };
  const cases: [string, Record<string, unknown>, ErrorConstructor, RegExp][] = [
    ["a zero duration", { durationMs: 0 }, RangeError, /^durationMs must be a number of milliseconds > 0/],
    ["a duration past setTimeout's range", { durationMs: 2 ** 31 + 5 }, RangeError, /^durationMs/],
    [
      "a negative drain window",
      { drainTimeoutMs: -5 },
      RangeError,
      /^drainTimeoutMs must be a number of milliseconds ≥ 0/,
    ],
    ["a drain window as a string", { drainTimeoutMs: "5" }, TypeError, /^drainTimeoutMs must be a number/],
    ["a zero reply timeout", { replyTimeoutMs: 0 }, RangeError, /^replyTimeoutMs/],
    ["a zero progress interval", { progressIntervalMs: 0 }, RangeError, /^progressIntervalMs/],
    [
      "a fractional send concurrency",
      { sendConcurrency: 1.5 },
      RangeError,
      /^sendConcurrency must be a whole number from 1 to 100000/,
    ],
    ["a zero connect concurrency", { connectConcurrency: 0 }, RangeError, /^connectConcurrency/],
  ];
  for (const [what, change, type, message] of cases) {
    it(`refuses ${what} before any socket opens`, async () => {
      const run = runScenarios({ ...base, ...change } as ScenarioRunOptions);
      await expect(run).rejects.toThrow(type);
      await expect(run).rejects.toThrow(message);
    });
  }

  it("takes a null duration and a zero drain window", () => {
    expect(() => checkScenarioRunOptions({ ...base, durationMs: null, drainTimeoutMs: 0 })).not.toThrow();
  });
});
