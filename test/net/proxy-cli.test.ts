/**
 * The CLI's network flags against real proxies: `smoke` through an HTTP CONNECT proxy with Basic
 * auth to a private-CA wss:// server (--ca), `loadtest` through SOCKS5, `send` through the proxy,
 * and a wrong password reported as the proxy's failure, credentials masked.
 */

import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { sendPush } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { killAll, runCli, SUBSCRIPTION_JSON } from "../cli/helpers.ts";
import { runMain } from "../cli/in-process.ts";
import { Inbox } from "../faults/support/local.ts";
import { startHttpProxy, startSocksProxy } from "../helpers/proxies.ts";
import { privateCaServer } from "./support/fixture.ts";

const SECRET = "cli-S3cret";
const fixture = privateCaServer();
const { cleanups, proxy } = fixture;

describe("CLI commands through proxies", () => {
  it("smoke passes through an authenticating HTTP proxy to a private-CA server", async () => {
    const http = await proxy(startHttpProxy({ user: "ops", password: SECRET }));
    const result = await runMain([
      "smoke",
      "--server",
      fixture.server.url,
      "--proxy",
      http.url,
      "--ca",
      fixture.pki.caFile,
      "--json",
    ]);
    const report = JSON.parse(result.stdout) as {
      results: { name: string; status: string; detail: string }[];
    };
    const failed = report.results.filter((r) => r.status === "FAIL");
    expect(failed, result.stderr).toEqual([]);
    expect(report.results.filter((r) => r.status === "PASS").length).toBeGreaterThan(5);
    expect(result.code).toBe(0);
    expect(http.tunnels.filter((t) => t === fixture.target()).length).toBeGreaterThan(2);
  });

  it("smoke with a wrong proxy password fails naming the proxy, without the password", async () => {
    const http = await proxy(startHttpProxy({ user: "ops", password: SECRET }));
    const wrong = http.url.replace(SECRET, "Wr0ng-pass");
    const result = await runMain([
      "smoke",
      "--server",
      fixture.server.url,
      "--proxy",
      wrong,
      "--ca",
      fixture.pki.caFile,
      "--timeout",
      "2",
    ]);
    expect(result.code).toBe(1);
    const output = result.stdout + result.stderr;
    expect(output).toContain(`proxy http://***@127.0.0.1:${http.port} wants credentials (407`);
    expect(output).not.toContain("Wr0ng-pass");
    expect(output).not.toContain("ops:");
  });

  it("loadtest runs its agents and its pushes through SOCKS5", async () => {
    const socks = await proxy(startSocksProxy());
    const result = await runMain([
      "loadtest",
      "--server",
      fixture.server.url,
      "--proxy",
      socks.url,
      "--ca",
      fixture.pki.caFile,
      "--agents",
      "3",
      // Long enough for three TLS connections through SOCKS5 on a loaded 2-core machine.
      "--duration",
      "4",
      "--rate",
      "4",
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      peakConnected: number;
      pushesSent: number;
      pushesReceived: number;
      pushesLost: number;
    };
    expect(report.peakConnected).toBe(3);
    expect(report.pushesReceived).toBeGreaterThan(0);
    expect(report.pushesReceived).toBe(report.pushesSent);
    // Three agents' WebSockets, and at least one POST connection.
    expect(socks.tunnels.filter((t) => t === fixture.target()).length).toBeGreaterThanOrEqual(4);
  });

  it("loadtest --plan: the worker processes get the proxy and the CA too", async () => {
    const http = await proxy(startHttpProxy({ user: "plan", password: SECRET }));
    const result = await runMain([
      "loadtest",
      "--server",
      fixture.server.url,
      "--plan",
      "basic,4,0,0",
      "--workers",
      "1",
      "--proxy",
      http.url,
      "--ca",
      fixture.pki.caFile,
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      users: { completed: number; failed: number };
      pushes: { sent: number; received: number; lost: number };
    };
    expect(report.users).toMatchObject({ completed: 4, failed: 0 });
    expect(report.pushes).toMatchObject({ sent: 4, received: 4, lost: 0 });
    // Four users' sockets and the push POSTs, all through the proxy, from the worker process.
    expect(http.tunnels.filter((t) => t === fixture.target()).length).toBeGreaterThanOrEqual(5);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
  });

  it("listen (a child process) subscribes and receives through a SOCKS5 proxy with --ca", async () => {
    const socks = await proxy(startSocksProxy({ user: "lis", password: SECRET }));
    const listen = runCli([
      "listen",
      "--server",
      fixture.server.url,
      "--state",
      path.join(fixture.pki.dir, "listen-state"),
      "--proxy",
      socks.url,
      "--ca",
      fixture.pki.caFile,
      "--once",
    ]);
    cleanups.push(() => killAll());
    const [json] = await listen.waitForStdout(SUBSCRIPTION_JSON);
    const sent = await sendPush(JSON.parse(json), "to listen via SOCKS5", {
      proxy: false,
      tls: { ca: fixture.pki.ca },
    });
    expect(sent.statusCode).toBe(201);
    expect(await listen.exited).toEqual({ code: 0, signal: null });
    expect(listen.stdout()).toContain("to listen via SOCKS5");
    expect(socks.tunnels).toContain(fixture.target());
    expect(listen.stderr()).not.toContain(SECRET);
  });

  it("send goes through the proxy and the push arrives", async () => {
    const http = await proxy(startHttpProxy());
    const agent = new PushService({
      serverURL: fixture.server.url,
      db: openMemoryPushDB(createMemoryStorage()),
      tls: { ca: fixture.pki.ca },
      proxy: false,
      wakeCheckInterval: 0,
    });
    cleanups.push(() => agent.stop());
    const inbox = new Inbox(agent);
    await agent.start();
    await agent.ready();
    const subscription = await agent.subscribe({ scope: "https://cli.example/" });
    const file = path.join(fixture.pki.dir, "sub.json");
    writeFileSync(file, JSON.stringify(subscription.toJSON()));
    const result = await runMain([
      "send",
      file,
      "via --proxy",
      "--proxy",
      http.url,
      "--ca",
      fixture.pki.caFile,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^201 /);
    await inbox.all(["via --proxy"]);
    expect(http.tunnels).toEqual([fixture.target()]);
  });
});
