/**
 * artillery-engine-push-agent's steps against the local server, driven as Artillery drives an
 * engine (constructor(script, ee, helpers), createScenario(spec, ee) → (context, callback)),
 * with an EventEmitter standing in for Artillery's: the `push_agent.*` metrics it emits, the
 * started/done/error events, relay and e2e pushes, loops, templates and built-in scenarios.
 */

import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPushServer, type PushServer } from "../../src/server/index.ts";

interface Engine {
  cleanup(): Promise<void>;
  createScenario(
    spec: { flow: unknown[] },
    ee: EventEmitter,
  ): (context: Context, done: (error: Error | null) => void) => void;
}
interface EngineClass {
  new (script: unknown, ee: EventEmitter, helpers: unknown): Engine;
  library: () => Promise<unknown>;
}
interface Context {
  vars: Record<string, unknown>;
}

const require = createRequire(import.meta.url);
const PushAgentEngine = require("../../packages/artillery-engine-push-agent/index.js") as EngineClass;
// The sources, not a build: what Artillery would get from the installed push-agent.
PushAgentEngine.library = () => import("../../src/loadtest/internal.ts");

let server: PushServer;

beforeEach(async () => {
  server = await createPushServer({ port: 0 });
});

afterEach(async () => {
  await server.close();
});

interface Emitted {
  counters: Map<string, number>;
  histograms: Map<string, number[]>;
  events: string[];
  errors: string[];
}

async function runUser(
  flow: unknown[],
  config: Record<string, unknown> = {},
  vars: Record<string, unknown> = {},
) {
  const ee = new EventEmitter();
  const emitted: Emitted = { counters: new Map(), histograms: new Map(), events: [], errors: [] };
  ee.on("counter", (name: string, value: number) =>
    emitted.counters.set(name, (emitted.counters.get(name) ?? 0) + value),
  );
  ee.on("histogram", (name: string, value: number) => {
    emitted.histograms.set(name, [...(emitted.histograms.get(name) ?? []), value]);
  });
  ee.on("started", () => emitted.events.push("started"));
  ee.on("done", () => emitted.events.push("done"));
  ee.on("error", (code: string) => emitted.errors.push(code));
  const script = { config: { target: server.url, engines: { "push-agent": config } } };
  const engine = new PushAgentEngine(script, ee, {});
  const context: Context = { vars: { ...vars } };
  const error = await new Promise<Error | null>((resolve) =>
    engine.createScenario({ flow }, ee)(context, resolve),
  );
  return { emitted, error, context };
}

describe("artillery-engine-push-agent steps against the local server", () => {
  it("connect, hello, subscribe, push (relay), expect with ack, unsubscribe: metrics under push_agent.", async () => {
    const { emitted, error, context } = await runUser([
      "connect",
      "hello",
      { subscribe: { vapid: true } },
      { loop: [{ push: { size: 512, ttl: 30 } }, { expect: { timeout: 5 } }, { think: 0 }], count: 3 },
      "unsubscribe",
      "disconnect",
    ]);
    expect(error).toBeNull();
    expect(emitted.events).toEqual(["started", "done"]);
    expect(emitted.counters.get("push_agent.connection.opened")).toBe(1);
    expect(emitted.counters.get("push_agent.register")).toBe(1);
    expect(emitted.counters.get("push_agent.unregister")).toBe(1);
    expect(emitted.counters.get("push_agent.notification.sent")).toBe(3);
    expect(emitted.counters.get("push_agent.notification.received")).toBe(3);
    expect(emitted.counters.get("push_agent.notification.ack")).toBe(3);
    expect(emitted.counters.get("push_agent.notification.throughput.bytes")).toBe(3 * 512);
    expect(emitted.histograms.get("push_agent.notification.latency")).toHaveLength(3);
    expect(emitted.histograms.get("push_agent.hello.time")).toHaveLength(1);
    expect(emitted.histograms.get("push_agent.register.time")).toHaveLength(1);
    expect(context.vars.uaid).toMatch(/^[0-9a-f]{32}$/);
    expect(String(context.vars.default_endpoint)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/wpush\/v2\//);
  });

  it("an agent subscription gets encrypted pushes (aes128gcm and aesgcm) that its PushService decrypts", async () => {
    const { emitted, error } = await runUser(
      [
        { subscribe: { name: "ua", agent: true } },
        { push: { subscription: "ua", data: "hello {{ who }}" } },
        { expect: { subscription: "ua" } },
        { push: { subscription: "ua", encoding: "aesgcm", size: 100 } },
        { expect: { subscription: "ua" } },
        { unsubscribe: { subscription: "ua" } },
      ],
      {},
      { who: "artillery" },
    );
    expect(error).toBeNull();
    expect(emitted.counters.get("push_agent.notification.sent")).toBe(2);
    expect(emitted.counters.get("push_agent.notification.received")).toBe(2);
    expect(emitted.histograms.get("push_agent.notification.latency")).toHaveLength(2);
  });

  it("reconnect keeps the uaid and gets a push sent while away; ack: false then an explicit ack", async () => {
    const { error, emitted } = await runUser([
      "connect",
      "hello",
      "subscribe",
      "disconnect",
      "push",
      "reconnect",
      { expect: { ack: false } },
      "ack",
    ]);
    expect(error).toBeNull();
    expect(emitted.counters.get("push_agent.hello")).toBe(2);
    expect(emitted.counters.get("push_agent.notification.ack")).toBe(1);
  });

  it("runs a built-in scenario as a step", async () => {
    const { error, emitted } = await runUser([
      { scenario: { name: "basic" } },
      { scenario: { name: "register_forever", args: { reg_delay: 0, run_once: 1 } } },
    ]);
    expect(error).toBeNull();
    expect(emitted.counters.get("push_agent.scenario.completed")).toBe(2);
    expect(emitted.counters.get("push_agent.notification.received")).toBe(1);
    expect(emitted.counters.get("push_agent.register")).toBe(2);
  });

  it("a push that never arrives fails the user with the error kind as Artillery's error code", async () => {
    const { error, emitted } = await runUser(["connect", "hello", "subscribe", { expect: { timeout: 0.2 } }]);
    expect(error?.message).toBe("no notification within 200 ms");
    expect(emitted.events).toEqual(["started"]);
    expect(emitted.errors).toEqual(["push_agent.expect_timeout"]);
    // The user's socket was closed all the same.
    expect(emitted.counters.get("push_agent.connection.closed")).toBe(1);
  });

  it("refuses an unknown step with a clear message", async () => {
    const { error } = await runUser([{ teleport: {} }]);
    expect(error?.message).toMatch(/a flow step needs one of connect, hello, subscribe/);
  });
});

describe("when the run ends", () => {
  /** TCP sockets open in this process (the in-process server's listener is not one). */
  const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;

  async function untilSockets(count: number): Promise<number> {
    const deadline = Date.now() + 5_000;
    while (openSockets() > count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return openSockets();
  }

  /** A user driven as Artillery does: the runner's emitter to the engine, another for the scenario. */
  async function oneUser(runnerEvents: EventEmitter): Promise<Engine> {
    const script = { config: { target: server.url, engines: { "push-agent": {} } } };
    const engine = new PushAgentEngine(script, runnerEvents, {});
    const scenarioEvents = new EventEmitter();
    const error = await new Promise<Error | null>((resolve) =>
      engine.createScenario({ flow: ["connect", "hello", "subscribe", "push", "expect"] }, scenarioEvents)(
        { vars: {} },
        resolve,
      ),
    );
    expect(error).toBeNull();
    return engine;
  }

  it("Artillery's done closes the sender's keep-alive sockets (the users' sockets closed with them)", async () => {
    const before = await untilSockets(0);
    const runnerEvents = new EventEmitter();
    await oneUser(runnerEvents);
    // The push went over a keep-alive socket that outlives the user (both ends are in this process).
    expect(openSockets()).toBeGreaterThan(before);
    runnerEvents.emit("done", {});
    expect(await untilSockets(before)).toBe(before);
  });

  it("cleanup() does the same for any other driver, and the engine can run again after it", async () => {
    const before = await untilSockets(0);
    const engine = await oneUser(new EventEmitter());
    expect(openSockets()).toBeGreaterThan(before);
    await engine.cleanup();
    expect(await untilSockets(before)).toBe(before);
    // A later user gets a fresh runner.
    const error = await new Promise<Error | null>((resolve) =>
      engine.createScenario(
        { flow: ["connect", "hello", "subscribe", "push", "expect"] },
        new EventEmitter(),
      )({ vars: {} }, resolve),
    );
    expect(error).toBeNull();
    await engine.cleanup();
    expect(await untilSockets(before)).toBe(before);
  });
});
