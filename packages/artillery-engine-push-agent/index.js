/**
 * artillery-engine-push-agent: Web Push load tests on Artillery (`engine: push-agent`). Each
 * Artillery virtual user is one push-agent VirtualUser, the scenario context of
 * `push-agent loadtest`, and the flow's steps (steps.js) are its commands. Metrics go to
 * Artillery as `push_agent.*` counters and histograms through the scenario layer's MetricsSink,
 * so `ensure` thresholds and publish-metrics plugins see them.
 *
 * Artillery loads engines with require(), and push-agent is an ES module: it is imported on the
 * first virtual user. Outside an installed push-agent (this repository's checkout), the built
 * copy in ../../dist is used. The engine drives push-agent's plumbing, which is not public API:
 * `push-agent/loadtest/internal` (a ScenarioRunner and the users it makes with createUser).
 *
 * When the run ends (Artillery's runner emits "done" on the engine's event emitter) the engine
 * stops its runner: every user's socket and the keep-alive sockets of the push sender close, so
 * nothing of the run keeps the process alive. cleanup() does the same, for any other driver.
 */

"use strict";

const { existsSync } = require("node:fs");
const path = require("node:path");
const { pathToFileURL } = require("node:url");
const { runFlow } = require("./steps.js");

const PREFIX = "push_agent.";

async function loadLibrary() {
  try {
    return await import("push-agent/loadtest/internal");
  } catch (error) {
    const local = path.join(__dirname, "..", "..", "dist", "loadtest", "internal.js");
    if (existsSync(local)) return import(pathToFileURL(local).href);
    throw error;
  }
}

/** Artillery's metrics as a push-agent MetricsSink. */
function artillerySink(ee) {
  return {
    counter: (name, value = 1) => ee.emit("counter", PREFIX + name, value),
    histogram: (name, ms) => ee.emit("histogram", PREFIX + name, ms),
    rate: (name) => ee.emit("rate", PREFIX + name),
  };
}

class PushAgentEngine {
  /** How push-agent/loadtest/internal is loaded; tests point it at the sources. */
  static library = loadLibrary;

  constructor(script, ee, helpers) {
    this.script = script;
    this.ee = ee;
    this.helpers = helpers;
    const engines = script.config?.engines ?? {};
    this.options = engines["push-agent"] ?? {};
    this.target = script.config?.target;
    this.setup = null;
    this.active = 0;
    this.cleaning = null;
    // Artillery's runner emits "done" on this emitter once every virtual user ended.
    if (typeof ee?.on === "function") ee.on("done", () => void this.cleanup());
  }

  /** Stop the runner: users' sockets and the sender's keep-alive sockets close. Idempotent. */
  async cleanup() {
    const setup = this.setup;
    if (!setup || this.active > 0) return;
    this.setup = null;
    const { runner } = await setup.catch(() => ({ runner: null }));
    await runner?.stop();
  }

  createScenario(scenarioSpec, ee) {
    const flow = scenarioSpec.flow || [];
    return (context, callback) => {
      ee.emit("started");
      this.runUser(flow, context, ee).then(
        () => {
          ee.emit("done");
          callback(null, context);
        },
        (error) => {
          ee.emit("error", errorCode(error));
          callback(error, context);
        },
      );
    };
  }

  async runUser(flow, context, ee) {
    this.active++;
    try {
      await this.#runUser(flow, context, ee);
    } finally {
      this.active--;
    }
  }

  async #runUser(flow, context, ee) {
    const { lib, runner, scenarios } = await this.ready();
    context.vars ??= {};
    const sink = artillerySink(ee);
    // A user of the run (its sender, sockets' settings, stop state) reporting Artillery's metrics.
    const user = runner.createUser(sink);
    const state = {
      lib,
      runner,
      user,
      sink,
      scenarios,
      vars: context.vars,
      template: (value) => this.template(value, context),
      subscriptions: new Map(),
      agent: null,
    };
    try {
      await runFlow(flow, state);
    } finally {
      await user.close();
    }
  }

  ready() {
    this.setup ??= (async () => {
      if (typeof this.target !== "string")
        throw new Error("config.target must be the push server's ws:// or wss:// URL");
      const lib = await PushAgentEngine.library();
      const module = this.options.scenarioModule
        ? path.resolve(path.dirname(this.script.scriptPath || "."), this.options.scenarioModule)
        : null;
      const scenarios = await lib.loadScenarios(module);
      const runner = new lib.ScenarioRunner({
        serverURL: this.target,
        allowInsecureServerURL: this.options.allowInsecure === true,
        payloadMode: this.options.payload === "e2e" ? "e2e" : "relay",
        sink: artillerySink(this.ee),
        errors: new lib.ErrorLog(10),
        vapid: lib.runVapidKeys(),
        scenarios,
        WebSocket: await lib.loadDefaultWebSocket(),
        connectConcurrency: this.options.connectConcurrency,
        sendConcurrency: this.options.sendConcurrency,
      });
      return { lib, runner, scenarios };
    })();
    return this.setup;
  }

  /** `{{ name }}` from the user's variables, through Artillery's own templating when it gave us one. */
  template(value, context) {
    if (typeof value !== "string" || !value.includes("{{")) return value;
    if (this.helpers && typeof this.helpers.template === "function")
      return this.helpers.template(value, context);
    return value.replace(/\{\{\s*([\w.$-]+)\s*\}\}/g, (_, name) => {
      const found = context.vars?.[name];
      return found === undefined ? "" : String(found);
    });
  }
}

/** Artillery counts errors by code: the scenario layer's kind when there is one. */
function errorCode(error) {
  if (typeof error?.kind === "string") return `push_agent.${error.kind}`;
  return error instanceof Error ? error.message : String(error);
}

module.exports = PushAgentEngine;
