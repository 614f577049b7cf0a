/**
 * The flow steps of `engine: push-agent`, each one or a few commands of push-agent's scenario
 * context (VirtualUser). A step is a name, or an object with one step key and its options;
 * strings in options go through `{{ }}` templating first.
 *
 *   connect, hello {uaid}, subscribe {name, vapid, agent}, push {subscription, size, ttl, topic,
 *   urgency, vapid, encoding, data}, expect {subscription, timeout, ack}, ack {subscription},
 *   unsubscribe {subscription}, disconnect, reconnect, scenario {name, args}, think, loop + count
 *
 * Subscriptions are named (default "default"). A raw one (the protocol level) gets relay
 * payloads; an `agent: true` one belongs to a real PushService and gets encrypted pushes that it
 * decrypts. `expect` fails the user when nothing arrives in time.
 */

"use strict";

const DEFAULT = "default";

async function runFlow(flow, state) {
  for (const item of flow) await runStep(item, state);
}

async function runStep(item, state) {
  if (typeof item === "string") return step(item, {}, state);
  if (item === null || typeof item !== "object")
    throw new Error(`a flow step must be a name or an object, got ${item}`);
  if (Array.isArray(item.loop)) return loop(item, state);
  const names = Object.keys(item).filter((key) => key in STEPS);
  if (names.length !== 1)
    throw new Error(`a flow step needs one of ${Object.keys(STEPS).join(", ")}: ${JSON.stringify(item)}`);
  const name = names[0];
  return step(name, item[name], state);
}

function step(name, raw, state) {
  const run = STEPS[name];
  if (!run) throw new Error(`unknown push-agent step '${name}'`);
  return run(options(raw, state), state);
}

/** Step options with templates filled in (a bare value becomes { value }). */
function options(raw, state) {
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) return { value: state.template(raw) };
  const result = {};
  for (const [key, value] of Object.entries(raw)) result[key] = state.template(value);
  return result;
}

async function loop(item, state) {
  const count = Number(state.template(item.count ?? 1));
  if (!Number.isInteger(count) || count < 0)
    throw new Error(`loop count must be a whole number, got ${item.count}`);
  for (let i = 0; i < count; i++) {
    state.vars.$loopCount = i;
    await runFlow(item.loop, state);
  }
}

function subscription(state, name) {
  const found = state.subscriptions.get(name || DEFAULT);
  if (!found) throw new Error(`no subscription '${name || DEFAULT}' (subscribe first)`);
  return found;
}

function fail(state, kind, message) {
  const { ScenarioError } = state.lib;
  throw new ScenarioError(kind, message);
}

async function agentOf(state) {
  if (!state.agent) {
    state.agent = state.user.userAgent();
    await state.agent.start();
  }
  return state.agent;
}

const STEPS = {
  async connect(o, { user }) {
    await user.connect(o.timeout ? { timeoutMs: Number(o.timeout) * 1000 } : {});
  },

  async hello(o, state) {
    const reply = await state.user.hello(o.uaid || null);
    state.vars.uaid = reply.uaid;
  },

  async subscribe(o, state) {
    const name = o.name || DEFAULT;
    const vapid = o.vapid === true || o.vapid === "true";
    if (o.agent === true || o.agent === "true") {
      const agent = await agentOf(state);
      const scope = `https://artillery.invalid/${state.user.id}/${name}`;
      const json = await agent.subscribe(scope, { vapid });
      state.subscriptions.set(name, {
        kind: "agent",
        scope,
        endpoint: json.endpoint,
        keys: json.keys,
        sent: [],
        vapid,
      });
      state.vars[`${name}_endpoint`] = json.endpoint;
      return;
    }
    const reply = await state.user.register(undefined, vapid ? state.user.vapidPublicKey : null);
    if (!reply.pushEndpoint) fail(state, "register", `register refused (status ${reply.status})`);
    state.subscriptions.set(name, {
      kind: "raw",
      channelID: reply.channelID,
      endpoint: reply.pushEndpoint,
      vapid,
    });
    state.vars[`${name}_endpoint`] = reply.pushEndpoint;
  },

  async push(o, state) {
    const target = subscription(state, o.subscription);
    const size = Number(o.size || 2048);
    const request = {
      endpoint: target.endpoint,
      ttl: o.ttl === undefined ? 60 : Number(o.ttl),
      topic: o.topic,
      urgency: o.urgency,
      vapid: o.vapid === undefined ? target.vapid : o.vapid === true || o.vapid === "true",
    };
    let text = null;
    if (target.kind === "agent") {
      text = o.data === undefined ? randomText(size) : String(o.data);
      Object.assign(request, { keys: target.keys, data: text, encoding: o.encoding || "aes128gcm" });
    } else {
      request.data = state.user.randomData(size, size);
    }
    const startedAt = performance.now();
    const result = await state.user.sendNotification(request);
    if (result.status < 200 || result.status > 299)
      fail(state, "push_refused", `the push was refused (${result.status})`);
    if (text !== null) target.sent.push({ text, startedAt });
  },

  async expect(o, state) {
    const target = subscription(state, o.subscription);
    const ms = Number(o.timeout || 5) * 1000;
    if (target.kind === "agent") {
      const push = await state.agent.expectPush(target.scope, ms);
      const sent = target.sent.shift();
      if (!push) {
        if (sent) state.sink.counter("notification.lost");
        fail(state, "expect_timeout", `no push within ${ms} ms`);
      }
      if (sent && push.text !== sent.text)
        fail(state, "data_mismatch", "the decrypted text differs from what was sent");
      state.sink.counter("notification.received");
      if (sent) state.sink.histogram("notification.latency", performance.now() - sent.startedAt);
      return;
    }
    const notification = await state.user.expectNotification(target.channelID, ms);
    if (!notification) fail(state, "expect_timeout", `no notification within ${ms} ms`);
    target.lastVersion = notification.version;
    if (o.ack === false || o.ack === "false") return;
    const code = o.ack === undefined || o.ack === true ? 100 : Number(o.ack);
    state.user.ack(target.channelID, notification.version, code);
  },

  async ack(o, state) {
    const target = subscription(state, o.subscription);
    if (target.kind !== "raw") return; // a user agent acks by itself
    if (!target.lastVersion) fail(state, "ack", "nothing to ack (expect with ack: false first)");
    state.user.ack(target.channelID, target.lastVersion, o.code === undefined ? 100 : Number(o.code));
    target.lastVersion = null;
  },

  async unsubscribe(o, state) {
    const name = o.subscription || DEFAULT;
    const target = subscription(state, name);
    if (target.kind === "agent") await state.agent.unsubscribe(target.scope);
    else await state.user.unregister(target.channelID);
    state.subscriptions.delete(name);
  },

  async disconnect(_o, { user }) {
    user.disconnect();
  },

  async reconnect(_o, state) {
    state.user.disconnect();
    await state.user.connect();
    const reply = await state.user.hello(state.vars.uaid || null);
    if (state.vars.uaid && reply.uaid !== state.vars.uaid)
      fail(state, "uaid_changed", "a new uaid after the reconnect");
    state.vars.uaid = reply.uaid;
  },

  async think(o, { user }) {
    await user.wait(Number(o.value ?? o.seconds ?? 0) * 1000);
  },

  /** A named scenario (built-in or from scenarioModule) as one more virtual user of this run. */
  async scenario(o, state) {
    const name = o.value || o.name;
    const definition = state.scenarios.get(name);
    if (!definition) fail(state, "scenario", `unknown scenario '${name}'`);
    const args = { ...definition.params, ...(typeof o.args === "object" && o.args ? o.args : {}) };
    const user = state.runner.createUser(state.sink, args);
    const outcome = await user.execute(definition);
    if (outcome === "failed") fail(state, "scenario", `scenario ${name} failed`);
  },
};

function randomText(size) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let text = "";
  for (let i = 0; i < size; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)];
  return text;
}

module.exports = { runFlow, STEPS };
