/**
 * The scenario layer against the local server: every built-in scenario once (api_test), the
 * relay bytes checked on arrival, raw protocol commands with wrong inputs, a user-agent flow,
 * plan parsing, and the merged report's numbers.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runVapidKeys } from "../../src/loadtest/payload.ts";
import { PlanError, parsePlans } from "../../src/loadtest/plan.ts";
import type { ScenarioError } from "../../src/loadtest/protocol-client.ts";
import { buildReport } from "../../src/loadtest/report.ts";
import { runScenarios } from "../../src/loadtest/runner.ts";
import { loadScenarios } from "../../src/loadtest/scenario-module.ts";
import type { ScenarioDefinition } from "../../src/loadtest/scenario-types.ts";
import { runPlan } from "../../src/loadtest/workers.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";

let server: PushServer;
const vapid = runVapidKeys();

beforeEach(async () => {
  server = await createPushServer({ port: 0 });
});

afterEach(async () => {
  await server.close();
});

function config(plans: string[], extra: Partial<Parameters<typeof runPlan>[0]> = {}) {
  return {
    serverURL: server.url,
    allowInsecureServerURL: false,
    plans,
    args: {},
    scenarioModule: null,
    payloadMode: "relay" as const,
    durationMs: 20_000,
    statsd: null,
    vapid,
    ...extra,
  };
}

describe("built-in scenarios against the local server", () => {
  it("api_test runs every scenario once and all of them pass", async () => {
    const report = await runPlan(config(["api_test,1,1,0"]), 1);
    expect(report.errorMessages).toEqual([]);
    expect(report.errors).toEqual({});
    expect(report.finished).toBe(true);
    // api_test itself plus the ten it spawns.
    expect(report.users).toEqual({ started: 11, completed: 11, failed: 0, stopped: 0 });
    expect(report.pushes.received).toBeGreaterThan(30);
    expect(report.pushes.lost).toBe(0);
    expect(report.counters["notification.refused"]).toBe(3);
    expect(report.connections.opened).toBe(report.connections.closed);
  });

  it("basic with VAPID and e2e payloads goes through a real user agent and decrypts", async () => {
    const report = await runPlan(config(["basic,3,0,0,vapid=1"], { payloadMode: "e2e" }), 1);
    expect(report.errorMessages).toEqual([]);
    expect(report.users.completed).toBe(3);
    expect(report.counters["notification.decrypted"]).toBe(3);
    expect(report.timers["update.latency"]?.count).toBe(3);
  });

  it("connect_and_idle_forever holds its connections until the duration ends", async () => {
    const report = await runPlan(config(["connect_and_idle_forever,20,0,0"], { durationMs: 1_000 }), 1);
    expect(report.finished).toBe(false);
    expect(report.connections.peak).toBe(20);
    expect(report.users).toEqual({ started: 20, completed: 0, failed: 0, stopped: 20 });
    expect(report.timeline.at(-1)?.connections ?? 0).toBeLessThanOrEqual(20);
  });
});

describe("raw protocol commands", () => {
  it("send exactly the frames asked for, wrong ones included, and return the replies", async () => {
    const seen: unknown[] = [];
    const scenario: ScenarioDefinition = {
      name: "raw",
      description: "",
      params: {},
      run: async (ctx) => {
        await ctx.connect();
        ctx.sendFrame('{"messageType":"hello","use_webpush":true,"broadcasts":{},"uaid":"not a uaid"}');
        const hello = await ctx.expectMessage("hello", 2_000);
        seen.push(hello?.uaid.length);
        const bad = await ctx.register(undefined, "not base64!");
        seen.push(bad.status, bad.pushEndpoint);
        const closed = await ctx.register("not-a-uuid").catch((error: ScenarioError) => error.kind);
        seen.push(closed);
        await ctx.connect();
        await ctx.hello();
        const good = await ctx.register();
        const data = ctx.randomData(100, 100);
        const sent = await ctx.sendNotification({ endpoint: good.pushEndpoint!, data });
        seen.push(sent.status);
        const got = await ctx.expectNotification(good.channelID, 2_000);
        seen.push(
          got?.data === Buffer.from(data).toString("base64url"),
          got?.headers?.encoding,
          got?.latencyMs !== null,
        );
        ctx.ack(got!.channelID, got!.version);
        ctx.disconnect();
      },
    };
    const scenarios = new Map([["raw", scenario]]);
    const data = await runScenarios({
      serverURL: server.url,
      plans: parsePlans("raw,1,0,0", scenarios),
      scenarios,
      payloadMode: "relay",
      vapid,
      durationMs: 10_000,
    });
    expect(data.errors).toEqual([]);
    expect(data.users.completed).toBe(1);
    // A uaid that is no UUID gets a fresh one; a channelID that is no UUID is refused.
    // A channelID that is no UUID closes the connection (autoconnect's 1011 SM).
    expect(seen).toEqual([32, 400, null, "disconnected", 201, true, "aes128gcm", true]);
    const report = buildReport({ serverURL: server.url, plans: ["raw"], payload: "relay" }, [data]);
    expect(report.latency?.count).toBe(1);
    expect(report.errors).toEqual({ register: 1 });
    expect(report.connections).toEqual({ opened: 2, closed: 2, peak: 1 });
  });
});

describe("test plans", () => {
  it("parses the | form, positional and named arguments, and --arg overrides", async () => {
    const scenarios = await loadScenarios();
    const plans = parsePlans(
      "basic,1000,50,0 | notification_forever,10,5,2,1,1|aplt.scenarios:register_forever,2,1,0,reg_delay=3",
      scenarios,
      { notif_delay: 9, unrelated: 1 },
    );
    expect(plans.map((p) => [p.scenario.name, p.count, p.rate, p.delayMs])).toEqual([
      ["basic", 1000, 50, 0],
      ["notification_forever", 10, 5, 2000],
      ["register_forever", 2, 1, 0],
    ]);
    expect(plans[1]!.args).toEqual({ notif_delay: 1, run_once: 1, vapid: 0 });
    expect(plans[2]!.args).toEqual({ reg_delay: 3, run_once: 0 });
    expect(() => parsePlans("nope,1,1,0", scenarios)).toThrow(PlanError);
    expect(() => parsePlans("basic,-1,1,0", scenarios)).toThrow(/count must be/);
    expect(() => parsePlans("basic,1,1,0,1,2", scenarios)).toThrow(/takes 1 argument/);
  });
});
