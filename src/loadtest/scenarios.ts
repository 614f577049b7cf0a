/**
 * The built-in scenarios, under ap-loadtester's names and with its parameters (delays in
 * seconds, `run_once` 0/1), so operators who know that tool recognise them. They work at the raw
 * protocol level with relay payloads; `basic` and `notification_forever` switch to a real user
 * agent and encrypted pushes under `--payload e2e`. Where ap-loadtester only sent, these also
 * check the answer: pushes to unregistered or forged endpoints must be refused.
 */

import { ScenarioError } from "./protocol-client.ts";
import type { ScenarioArgs, ScenarioContext, ScenarioDefinition } from "./scenario-types.ts";

const EXPECT_MS = 5_000;
const seconds = (value: string | number | undefined, fallback: number) => {
  const n = Number(value);
  return (Number.isFinite(n) && n >= 0 ? n : fallback) * 1000;
};
const flag = (value: string | number | undefined) => value === "true" || (Number(value) || 0) !== 0;
const count = (value: string | number | undefined, fallback: number) => {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
};

function accepted(status: number, what: string): void {
  if (status < 200 || status > 299)
    throw new ScenarioError("push_refused", `${what}: the push was refused (${status})`);
}

async function expectOne(ctx: ScenarioContext, channelID: string, ms = EXPECT_MS) {
  const notification = await ctx.expectNotification(channelID, ms);
  if (!notification) throw new ScenarioError("expect_timeout", `no notification within ${ms} ms`);
  return notification;
}

/** connect + hello + register: the start of most scenarios. */
async function subscribed(ctx: ScenarioContext, key: string | null = null) {
  await ctx.connect();
  const hello = await ctx.hello(null);
  const registration = await ctx.register(ctx.randomChannelID(), key);
  if (!registration.pushEndpoint) {
    throw new ScenarioError("register", `register refused (status ${registration.status})`);
  }
  return { uaid: hello.uaid, channelID: registration.channelID, endpoint: registration.pushEndpoint };
}

async function reconnect(ctx: ScenarioContext, uaid: string): Promise<void> {
  await ctx.connect();
  const hello = await ctx.hello(uaid);
  if (hello.uaid !== uaid) throw new ScenarioError("uaid_changed", "the server gave a new uaid on reconnect");
}

async function basic(ctx: ScenarioContext): Promise<void> {
  const vapid = flag(ctx.args.vapid);
  if (ctx.payloadMode === "e2e") return basicUserAgent(ctx, vapid);
  const { channelID, endpoint } = await subscribed(ctx, vapid ? ctx.vapidPublicKey : null);
  ctx.timerStart("update.latency");
  const result = await ctx.sendNotification({ endpoint, data: ctx.randomData(32, 32), ttl: 60, vapid });
  accepted(result.status, "basic");
  const notification = await expectOne(ctx, channelID);
  if (notification.latencyMs === null) throw new ScenarioError("data_mismatch", "the data came back changed");
  ctx.timerStop("update.latency");
  ctx.ack(notification.channelID, notification.version);
  await ctx.unregister(channelID);
  ctx.disconnect();
}

async function basicUserAgent(ctx: ScenarioContext, vapid: boolean): Promise<void> {
  const agent = ctx.userAgent();
  await agent.start();
  const scope = `https://loadtest.invalid/basic-${ctx.id}`;
  const subscription = await agent.subscribe(scope, { vapid });
  const text = `basic ${ctx.id} ${ctx.randomChannelID()}`;
  ctx.timerStart("update.latency");
  const result = await ctx.sendNotification({
    endpoint: subscription.endpoint,
    keys: subscription.keys,
    data: text,
    vapid,
  });
  accepted(result.status, "basic");
  const push = await agent.expectPush(scope, EXPECT_MS);
  if (!push) throw new ScenarioError("expect_timeout", `no push within ${EXPECT_MS} ms`);
  if (push.text !== text) throw new ScenarioError("data_mismatch", "the decrypted text differs");
  ctx.timerStop("update.latency");
  ctx.counter("notification.decrypted");
  await agent.unsubscribe(scope);
  await agent.stop();
}

/** Two pushes with one Topic while offline: only the second may arrive. */
async function basicTopic(ctx: ScenarioContext): Promise<void> {
  const topic = String(ctx.args.topic);
  const { uaid, channelID, endpoint } = await subscribed(ctx);
  ctx.disconnect();
  const first = ctx.randomData(64, 64);
  const second = ctx.randomData(64, 64);
  const replaced = await ctx.sendNotification({ endpoint, data: first, ttl: 300, topic, track: false });
  accepted(replaced.status, "basic_topic");
  accepted((await ctx.sendNotification({ endpoint, data: second, ttl: 300, topic })).status, "basic_topic");
  await reconnect(ctx, uaid);
  const got = await expectOne(ctx, channelID);
  ctx.ack(got.channelID, got.version);
  // A marker sent now arrives after anything stored: it must be the very next one.
  const marker = await ctx.sendNotification({ endpoint, data: ctx.randomData(64, 64), ttl: 60 });
  accepted(marker.status, "basic_topic");
  const next = await expectOne(ctx, channelID);
  ctx.ack(next.channelID, next.version);
  if (got.data !== Buffer.from(second).toString("base64url") || next.latencyMs === null) {
    throw new ScenarioError("topic", "the Topic did not replace the stored push");
  }
  await ctx.unregister(channelID);
  ctx.disconnect();
}

async function connectAndIdleForever(ctx: ScenarioContext): Promise<void> {
  await ctx.connect();
  await ctx.hello(null);
  while (!ctx.stopped) await ctx.wait(100_000);
}

async function reconnectForever(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.reconnect_delay, 30);
  const { uaid, channelID, endpoint } = await subscribed(ctx);
  for (;;) {
    await pushAndReceive(ctx, channelID, endpoint, false);
    await ctx.wait(delay);
    ctx.disconnect();
    await reconnect(ctx, uaid);
    if (flag(ctx.args.run_once)) return finish(ctx, channelID);
  }
}

async function registerForever(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.reg_delay, 30);
  await ctx.connect();
  await ctx.hello(null);
  for (;;) {
    const registration = await ctx.register(ctx.randomChannelID());
    if (!registration.pushEndpoint)
      throw new ScenarioError("register", `register refused (${registration.status})`);
    await ctx.wait(delay);
    if (flag(ctx.args.run_once)) return finish(ctx, registration.channelID);
  }
}

async function pushAndReceive(ctx: ScenarioContext, channelID: string, endpoint: string, vapid: boolean) {
  ctx.timerStart("update.latency");
  const result = await ctx.sendNotification({ endpoint, data: ctx.randomData(), ttl: 60, vapid });
  accepted(result.status, "notification");
  const notification = await expectOne(ctx, channelID);
  ctx.timerStop("update.latency");
  ctx.ack(notification.channelID, notification.version);
}

async function notificationForever(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.notif_delay, 30);
  const vapid = flag(ctx.args.vapid);
  if (ctx.payloadMode === "e2e") return notificationForeverUserAgent(ctx, delay, vapid);
  const { channelID, endpoint } = await subscribed(ctx, vapid ? ctx.vapidPublicKey : null);
  for (;;) {
    await pushAndReceive(ctx, channelID, endpoint, vapid);
    await ctx.wait(delay);
    if (flag(ctx.args.run_once)) return finish(ctx, channelID);
  }
}

async function notificationForeverUserAgent(
  ctx: ScenarioContext,
  delay: number,
  vapid: boolean,
): Promise<void> {
  const agent = ctx.userAgent();
  await agent.start();
  const scope = `https://loadtest.invalid/notification-${ctx.id}`;
  const subscription = await agent.subscribe(scope, { vapid });
  for (let n = 0; ; n++) {
    const text = `${n}:${ctx.randomChannelID()}`;
    ctx.timerStart("update.latency");
    const result = await ctx.sendNotification({
      endpoint: subscription.endpoint,
      keys: subscription.keys,
      data: text,
      vapid,
    });
    accepted(result.status, "notification");
    const push = await agent.expectPush(scope, EXPECT_MS);
    if (!push) throw new ScenarioError("expect_timeout", `no push within ${EXPECT_MS} ms`);
    if (push.text !== text) throw new ScenarioError("data_mismatch", "the decrypted text differs");
    ctx.timerStop("update.latency");
    await ctx.wait(delay);
    if (flag(ctx.args.run_once)) {
      await agent.unsubscribe(scope);
      return agent.stop();
    }
  }
}

/** qty_stored pushes while offline, then reconnect and drain them all. */
async function notificationForeverStored(ctx: ScenarioContext): Promise<void> {
  const stored = count(ctx.args.qty_stored, 32);
  const ttl = count(ctx.args.ttl, 300);
  const delay = seconds(ctx.args.notif_delay, 30);
  const { uaid, channelID, endpoint } = await subscribed(ctx);
  ctx.disconnect();
  for (;;) {
    const data = ctx.randomData();
    for (let i = 0; i < stored; i++) {
      accepted((await ctx.sendNotification({ endpoint, data, ttl })).status, "stored");
    }
    await reconnect(ctx, uaid);
    let drained = 0;
    for (;;) {
      const notification = await ctx.expectNotification(channelID, 2_000);
      if (!notification) break;
      ctx.ack(channelID, notification.version);
      drained++;
    }
    if (drained < stored)
      throw new ScenarioError("stored_lost", `${drained} of ${stored} stored pushes arrived`);
    if (flag(ctx.args.run_once)) return finish(ctx, channelID);
    ctx.disconnect();
    await ctx.wait(delay);
  }
}

/** A push received live but not acked, a reconnect: the server must deliver it again from its store. */
async function notificationForeverDirectStore(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.cycle_delay, 10);
  const { uaid, channelID, endpoint } = await subscribed(ctx);
  for (;;) {
    const data = ctx.randomData();
    accepted((await ctx.sendNotification({ endpoint, data, ttl: 600 })).status, "direct_store");
    await expectOne(ctx, channelID, 2_000);
    ctx.disconnect();
    await ctx.wait(delay);
    await reconnect(ctx, uaid);
    const again = await ctx.expectNotification(channelID, 10_000);
    if (!again) throw new ScenarioError("stored_lost", "the unacked push was not delivered again");
    ctx.ack(channelID, again.version);
    if (flag(ctx.args.run_once)) return finish(ctx, channelID);
  }
}

/** Pushes to an endpoint whose channel was unregistered must be refused (404/410). */
async function notificationForeverUnsubscribed(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.notif_delay, 30);
  const { channelID, endpoint } = await subscribed(ctx);
  await ctx.unregister(channelID);
  for (;;) {
    const result = await ctx.sendNotification({ endpoint, data: ctx.randomData(), ttl: 60 });
    if (result.status !== 404 && result.status !== 410) {
      throw new ScenarioError(
        "unsubscribed_accepted",
        `a push to an unregistered endpoint got ${result.status}`,
      );
    }
    ctx.counter("notification.refused");
    await ctx.wait(delay);
    if (flag(ctx.args.run_once)) return ctx.disconnect();
  }
}

/** The endpoint's token replaced by token_length random characters: must be refused with a 4xx. */
async function notificationForeverBadTokens(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.notif_delay, 30);
  const length = Math.max(1, count(ctx.args.token_length, 140));
  const { endpoint } = await subscribed(ctx);
  for (;;) {
    const bad = badToken(endpoint, length);
    await expectRefused(ctx, bad, "a forged token");
    await ctx.wait(delay);
    if (flag(ctx.args.run_once)) return ctx.disconnect();
  }
}

/** Pushes to paths that are no push endpoint at all: must be refused with a 4xx. */
async function notificationForeverBadEndpoints(ctx: ScenarioContext): Promise<void> {
  const delay = seconds(ctx.args.notif_delay, 30);
  const { endpoint } = await subscribed(ctx);
  const origin = new URL(endpoint).origin;
  for (;;) {
    const path = ctx.randomChannelID().replaceAll("-", "");
    await expectRefused(ctx, `${origin}/wpush/v9/${path}`, "an unknown endpoint");
    await ctx.wait(delay);
    if (flag(ctx.args.run_once)) return ctx.disconnect();
  }
}

async function expectRefused(ctx: ScenarioContext, endpoint: string, what: string): Promise<void> {
  const result = await ctx.sendNotification({ endpoint, data: ctx.randomData(), ttl: 60 });
  if (result.status < 400 || result.status > 499) {
    throw new ScenarioError("bad_endpoint_accepted", `a push to ${what} got ${result.status}`);
  }
  ctx.counter("notification.refused");
}

function badToken(endpoint: string, length: number): string {
  const url = new URL(endpoint);
  const parts = url.pathname.split("/");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  let token = "";
  for (let i = 0; i < length; i++) token += alphabet[Math.floor(Math.random() * alphabet.length)];
  parts[parts.length - 1] = token;
  url.pathname = parts.join("/");
  return url.toString();
}

async function finish(ctx: ScenarioContext, channelID: string): Promise<void> {
  await ctx.unregister(channelID);
  ctx.disconnect();
}

const ONCE = ["basic", "basic_topic", "reconnect_forever", "register_forever", "notification_forever"];
const ONCE_TOO = [
  "notification_forever_stored",
  "notification_forever_direct_store",
  "notification_forever_unsubscribed",
  "notification_forever_bad_tokens",
  "notification_forever_bad_endpoints",
];

/** Every scenario once (run_once, short delays), then the run can finish. */
async function apiTest(ctx: ScenarioContext): Promise<void> {
  const plans = [...ONCE, ...ONCE_TOO].map((name) =>
    name.startsWith("basic") ? `${name},1,1,0` : `${name},1,1,0,${shortArgs(name, 1)}`,
  );
  ctx.spawn(plans.join("|"));
}

/** Every scenario at once, forever. */
async function loadtest(ctx: ScenarioContext): Promise<void> {
  const plans = [
    "connect_and_idle_forever,1,1,0",
    ...[...ONCE.slice(2), ...ONCE_TOO].map((n) => `${n},1,1,0,${shortArgs(n, 0)}`),
  ];
  ctx.spawn(plans.join("|"));
}

function shortArgs(name: string, runOnce: number): string {
  switch (name) {
    case "reconnect_forever":
      return `reconnect_delay=2,run_once=${runOnce}`;
    case "register_forever":
      return `reg_delay=2,run_once=${runOnce}`;
    case "notification_forever_stored":
      return `qty_stored=30,ttl=300,notif_delay=2,run_once=${runOnce}`;
    case "notification_forever_direct_store":
      return `cycle_delay=2,run_once=${runOnce}`;
    default:
      return `notif_delay=2,run_once=${runOnce}`;
  }
}

function define(name: string, description: string, params: ScenarioArgs, run: ScenarioDefinition["run"]) {
  return { name, description, params, run } satisfies ScenarioDefinition;
}

export const builtinScenarios: ScenarioDefinition[] = [
  define("basic", "connect, hello, register, push, expect, ack, unregister, disconnect", { vapid: 0 }, basic),
  define(
    "basic_topic",
    "two pushes with one Topic while offline: only the second arrives",
    { topic: "loadtest" },
    basicTopic,
  ),
  define("connect_and_idle_forever", "connect, hello, then hold the connection", {}, connectAndIdleForever),
  define(
    "reconnect_forever",
    "push, receive, wait, reconnect with the uaid, forever",
    { reconnect_delay: 30, run_once: 0 },
    reconnectForever,
  ),
  define(
    "register_forever",
    "register a new channel every reg_delay s",
    { reg_delay: 30, run_once: 0 },
    registerForever,
  ),
  define(
    "notification_forever",
    "push, receive, ack every notif_delay s",
    { notif_delay: 30, run_once: 0, vapid: 0 },
    notificationForever,
  ),
  define(
    "notification_forever_stored",
    "qty_stored pushes while disconnected, then reconnect and drain them",
    { qty_stored: 32, ttl: 300, notif_delay: 30, run_once: 0 },
    notificationForeverStored,
  ),
  define(
    "notification_forever_direct_store",
    "a push received but not acked is delivered again after a reconnect",
    { cycle_delay: 10, run_once: 0 },
    notificationForeverDirectStore,
  ),
  define(
    "notification_forever_unsubscribed",
    "pushes to an unregistered endpoint must be refused (404/410)",
    { notif_delay: 30, run_once: 0 },
    notificationForeverUnsubscribed,
  ),
  define(
    "notification_forever_bad_tokens",
    "pushes to a forged endpoint token must be refused (4xx)",
    { notif_delay: 30, run_once: 0, token_length: 140 },
    notificationForeverBadTokens,
  ),
  define(
    "notification_forever_bad_endpoints",
    "pushes to unknown endpoint paths must be refused (4xx)",
    { notif_delay: 30, run_once: 0 },
    notificationForeverBadEndpoints,
  ),
  define("api_test", "every scenario once, then stop", {}, apiTest),
  define("loadtest", "every scenario at once, forever", {}, loadtest),
];
