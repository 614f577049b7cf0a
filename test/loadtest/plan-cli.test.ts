/**
 * `push-agent loadtest --plan` in-process against the local server: the JSON report, two
 * workers (child processes) merged into one report, metrics over UDP to a statsd socket on
 * 127.0.0.1, user scenarios from .ts and .js modules, and --list-scenarios.
 */

import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ScenarioReport } from "../../src/loadtest/report.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { runMain } from "../cli/in-process.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const run = (argv: string[]) => runMain(argv);

let server: PushServer;

beforeEach(async () => {
  server = await createPushServer({ port: 0 });
});

afterEach(async () => {
  await server.close();
});

describe("push-agent loadtest --plan", () => {
  it("--json: the plan's users, connections, pushes and latency", async () => {
    const result = await run([
      "loadtest",
      "--server",
      server.url,
      "--plan",
      "basic,6,0,0",
      "--workers",
      "1",
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as ScenarioReport;
    expect(report.users).toEqual({ started: 6, completed: 6, failed: 0, stopped: 0 });
    expect(report.pushes).toMatchObject({ sent: 6, received: 6, acked: 6, lost: 0 });
    expect(report.latency?.count).toBe(6);
    expect(report.registrations).toBe(6);
    expect(report.workers).toHaveLength(1);
    expect(report.finished).toBe(true);
  });

  it("--workers 2 runs a share in each child process and merges one report", async () => {
    const result = await run([
      "loadtest",
      "--server",
      server.url,
      "--plan",
      "basic,7,0,0|register_forever,3,0,0,0,1",
      "--workers",
      "2",
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as ScenarioReport;
    expect(report.users).toEqual({ started: 10, completed: 10, failed: 0, stopped: 0 });
    expect(report.pushes.received).toBe(7);
    expect(report.latency?.count).toBe(7);
    expect(report.registrations).toBe(10);
    expect(report.workers.map((w) => w.worker)).toEqual([0, 1]);
    const pids = new Set(report.workers.map((w) => w.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(process.pid)).toBe(false);
    // The timeline adds up to the totals.
    expect(report.timeline.reduce((sum, second) => sum + second.received, 0)).toBe(7);
  });

  describe("statsd", () => {
    let socket: Socket;
    const packets: string[] = [];

    beforeEach(async () => {
      packets.length = 0;
      socket = createSocket("udp4");
      socket.on("message", (message) => packets.push(message.toString()));
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    });

    afterEach(() => socket.close());

    it("sends counters and timings with the prefix to a UDP socket", async () => {
      const port = (socket.address() as AddressInfo).port;
      const result = await run([
        "loadtest",
        "--server",
        server.url,
        "--plan",
        "basic,4,0,0",
        "--workers",
        "1",
        "--statsd",
        `127.0.0.1:${port}`,
        "--statsd-prefix",
        "pa.test",
        "--json",
      ]);
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as ScenarioReport;
      const lines = () => packets.flatMap((packet) => packet.split("\n"));
      const total = (name: string) =>
        lines()
          .filter((line) => line.startsWith(`pa.test.${name}:`) && line.endsWith("|c"))
          .reduce((sum, line) => sum + Number(line.slice(line.indexOf(":") + 1, -2)), 0);
      // Datagrams are sent before the run returns; this only waits for the receiving side's events.
      await new Promise<void>((resolve, reject) => {
        const watchdog = setTimeout(
          () => reject(new Error(`statsd got only: ${packets.join(" / ")}`)),
          5_000,
        );
        const check = () => {
          if (total("notification.received") < 4) return;
          clearTimeout(watchdog);
          socket.off("message", check);
          resolve();
        };
        socket.on("message", check);
        check();
      });
      expect(total("notification.sent")).toBe(report.pushes.sent);
      expect(total("notification.received")).toBe(4);
      expect(total("connection.opened")).toBe(report.connections.opened);
      const timings = lines().filter((line) =>
        /^pa\.test\.notification\.latency:\d+(\.\d+)?\|ms$/.test(line),
      );
      expect(timings).toHaveLength(4);
    });
  });

  it("runs user scenarios from a .ts and a .js module, with their counters and timers", async () => {
    const ts = await run([
      "loadtest",
      "--server",
      server.url,
      "--scenario",
      fixture("user-scenarios.ts"),
      "--plan",
      "echo,2,0,0|repeat,1,0,0,times=3",
      "--workers",
      "1",
      "--json",
    ]);
    expect(ts.code, ts.stderr).toBe(0);
    const report = JSON.parse(ts.stdout) as ScenarioReport;
    expect(report.counters["echo.done"]).toBe(5);
    expect(report.timers.echo?.count).toBe(5);
    expect(report.users.completed).toBe(3);

    const js = await run([
      "loadtest",
      "--server",
      server.url,
      "--scenario",
      fixture("user-scenarios.mjs"),
      "--plan",
      "hello_only,3,0,0",
      "--workers",
      "2",
      "--json",
    ]);
    expect(js.code, js.stderr).toBe(0);
    expect((JSON.parse(js.stdout) as ScenarioReport).counters["hello_only.done"]).toBe(3);
  });

  it("--list-scenarios prints the built-ins with ap-loadtester's parameters, and the module's", async () => {
    const result = await run(["loadtest", "--list-scenarios", "--scenario", fixture("user-scenarios.mjs")]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^notification_forever_stored +.*\[qty_stored=32,ttl=300,notif_delay=30,run_once=0\]$/m,
    );
    expect(result.stdout).toMatch(/^hello_only /m);
    for (const name of ["basic", "basic_topic", "api_test", "loadtest", "notification_forever_bad_tokens"]) {
      expect(result.stdout).toMatch(new RegExp(`^${name} `, "m"));
    }
  });

  it("exits 1 when a virtual user fails, naming the error kind", async () => {
    const closed = await createPushServer({ port: 0 });
    const url = closed.url;
    await closed.close();
    const result = await run(["loadtest", "--server", url, "--plan", "basic,2,0,0", "--workers", "1"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/errors +connect 2/);
    expect(result.stderr).toContain("2 virtual user(s) failed");
  });

  it("a worker that dies stops the run: the other workers are stopped, the reason is reported, exit 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "push-agent-crash-"));
    process.env.CRASH_MARKER = join(dir, "marker");
    try {
      const result = await run([
        "loadtest",
        "--server",
        server.url,
        "--scenario",
        fixture("crashing-worker.mjs"),
        "--plan",
        "crash_one_worker,2,0,0",
        "--workers",
        "2",
        "--drain",
        "0.2",
        "--json",
      ]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /a worker failed, the run was stopped: worker [01] exited \(7\) before its report/,
      );
      const report = JSON.parse(result.stdout) as ScenarioReport;
      expect(report.workerFailures).toEqual([
        expect.stringMatching(/^worker [01] exited \(7\) before its report$/),
      ]);
      // The surviving worker's user was stopped, and its data is in the report.
      expect(report.workers).toHaveLength(1);
      expect(report.users).toMatchObject({ started: 1, stopped: 1 });
      expect(report.finished).toBe(false);
      // Nothing is left loading the server.
      const deadline = Date.now() + 5_000;
      while (server.stats().connections > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(server.stats().connections).toBe(0);
    } finally {
      delete process.env.CRASH_MARKER;
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
