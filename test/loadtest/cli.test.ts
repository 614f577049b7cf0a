/**
 * `push-agent loadtest` in-process against the local server: the JSON and text reports, the
 * progress line on a terminal, Ctrl+C (the context's signal) still printing the report, exit 1
 * when nothing connects, and the one-line exit-2 answers to bad arguments.
 */

import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/index.ts";
import type { LoadTestReport } from "../../src/loadtest/index.ts";
import type { Logger } from "../../src/log.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from([]),
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

describe("push-agent loadtest against the local server", () => {
  let server: PushServer;
  /** Called with each line the server logs (one per connection and per push). */
  let onServerLog: (message: string) => void = () => {};

  beforeEach(async () => {
    onServerLog = () => {};
    const log = (message: string) => onServerLog(message);
    const logger: Logger = { debug: () => {}, info: log, warn: log, error: log };
    server = await createPushServer({ port: 0, logger });
  });

  afterEach(async () => {
    await server.close();
  });

  it("--json prints the report as JSON and exits 0", async () => {
    const result = await run([
      "loadtest",
      "--server",
      server.url,
      "--agents",
      "3",
      "--duration",
      "1",
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as LoadTestReport;
    expect(report).toMatchObject({
      serverURL: server.url,
      agents: 3,
      subscriptionsPerAgent: 1,
      connected: 3,
      connectFailures: 0,
      registrations: 3,
      registrationFailures: 0,
      pushesFailed: 0,
      pushesLost: 0,
    });
    expect(report.pushesSent).toBeGreaterThan(0);
    expect(report.pushesReceived).toBe(report.pushesSent);
    expect(report.latency!.p50).toBeLessThanOrEqual(report.latency!.p99);
    expect(result.stderr).toMatch(/^push-agent loadtest: 3 agents × 1 subscription against ws:/);
  });

  it("prints a text report; --rate 0 only connects and registers", async () => {
    const result = await run([
      "loadtest",
      "--server",
      server.url,
      "--agents",
      "2",
      "--subscriptions",
      "3",
      "--duration",
      "0.3",
      "--rate",
      "0",
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Load test of ws:\/\/127\.0\.0\.1:\d+\/: 2 agents × 3 subscriptions, /);
    expect(result.stdout).toMatch(
      /^ {2}connections {4}2 connected at the end, peak 2 of 2 started; 0 failed/m,
    );
    expect(result.stdout).toMatch(/^ {2}registrations {2}6 ok, 0 failed$/m);
    expect(result.stdout).toMatch(
      /^ {2}pushes {9}0 sent, 0 received, 0 lost, 0 failed, 0 in flight at the end \(drain 5\.0s\)$/m,
    );
    expect(result.stdout).toMatch(/^ {2}push latency {3}-$/m);
    expect(server.stats().channels).toBe(6);
  });

  it("Ctrl+C stops the run early and still prints the report; a terminal gets a progress line", async () => {
    const controller = new AbortController();
    // Stop once pushes flow (the server logs each one) and a progress line was shown.
    let pushed = false;
    onServerLog = (message) => {
      if (message.startsWith("push-server: push ")) pushed = true;
    };
    const stderrWrites: string[] = [];
    let stderr = "";
    let stdout = "";
    const code = await main(
      ["loadtest", "--server", server.url, "--agents", "3", "--duration", "600", "--rate", "20", "--json"],
      {
        stdout: { write: (chunk: string) => (stdout += chunk) },
        stderr: {
          isTTY: true,
          write: (chunk: string) => {
            stderr += chunk;
            stderrWrites.push(chunk);
            if (chunk.startsWith("\r") && pushed) controller.abort();
          },
        } as { write(chunk: string): boolean; isTTY: boolean },
        stdin: Readable.from([]),
        signal: controller.signal,
      },
    );
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as LoadTestReport;
    expect(report.aborted).toBe(true);
    expect(report.pushesReceived).toBe(report.pushesSent);
    const progress = stderrWrites.find((chunk) => chunk.startsWith("\r"));
    expect(progress).toMatch(/^\r +\d+\.\ds {2}connected \d\/3 {2}registered \d {2}sent \d+ {2}received \d+/);
    expect(progress?.endsWith("\x1b[K")).toBe(true);
  });

  it("exits 1 when no agent can connect", async () => {
    // Nothing listens on the discard port, and no test can bind it.
    const url = "ws://127.0.0.1:9/";
    const result = await run(["loadtest", "--server", url, "--agents", "2", "--duration", "0.3"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/0 connected at the end, peak 0 of 2 started; 2 failed/);
    expect(result.stdout).toMatch(/not connected when the run ended/);
    expect(result.stderr.trimEnd().split("\n").at(-1)).toBe("push-agent loadtest: no agent connected");
  });
});

describe("push-agent loadtest arguments", () => {
  it("--help prints the usage and every option", async () => {
    const result = await run(["loadtest", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: push-agent loadtest \[options\]/);
    for (const option of [
      "--server URL",
      "--agents N",
      "--subscriptions M",
      "--duration S",
      "--rate R",
      "--payload-bytes N",
      "--vapid",
      "--connect-concurrency N",
      "--ramp-up S",
      "--send-concurrency N",
      "--allow-insecure",
      "--json",
    ]) {
      expect(result.stdout).toContain(option);
    }
  });

  it("is listed in push-agent --help", async () => {
    const result = await run(["--help"]);
    expect(result.stdout).toMatch(/^ {2}loadtest +Load-test a push server/m);
  });

  const url = "ws://127.0.0.1:9/";
  const cases: [string, string[], RegExp][] = [
    ["no --server", [], /--server URL is required/],
    ["zero agents", ["--server", url, "--agents", "0"], /--agents must be a whole number 1-1000000, got '0'/],
    [
      "zero subscriptions",
      ["--server", url, "--subscriptions", "0"],
      /--subscriptions must be a whole number/,
    ],
    ["a zero duration", ["--server", url, "--duration", "0"], /--duration must be more than 0 seconds/],
    ["a negative duration", ["--server", url, "--duration", "-1"], /--duration/],
    ["a rate that is not a number", ["--server", url, "--rate", "fast"], /--rate must be a number from 0/],
    ["a negative drain window", ["--server", url, "--drain", "-1"], /--drain/],
    [
      "a drain window over a day",
      ["--server", url, "--drain", "90000"],
      /--drain must be a number from 0 to 86400/,
    ],
    [
      "a tiny payload",
      ["--server", url, "--payload-bytes", "8"],
      /--payload-bytes must be a whole number 16-3993/,
    ],
    ["an http:// server", ["--server", "http://127.0.0.1/"], /--server must be a ws:\/\/ or wss:\/\/ URL/],
    [
      "ws:// to a remote host",
      ["--server", "ws://example.com/"],
      /ws:\/\/ to a non-loopback host.*--allow-insecure/,
    ],
    ["an unknown option", ["--server", url, "--bogus"], /unknown option '--bogus'/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what} exits 2 with one line`, async () => {
      const result = await run(["loadtest", ...args]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(/\(see push-agent loadtest --help\)\n$/);
    });
  }
});
