/**
 * The smoke test: a fixed list of end-to-end checks against any autopush server, each one PASS,
 * FAIL with the reason, or SKIP with why, written to the autopush protocol (autoconnect's
 * recorded behaviour), not to push-agent's own server. Checks run one after another through the
 * scenario layer: raw protocol commands for what the server must answer, and a real PushService
 * for what a browser sees (real encryption, decryption, acks, a restart with the stored uaid).
 * A check that needs an earlier one's result is skipped when that one failed.
 */

import { describeError, type Logger, silentLogger } from "../log.ts";
import { type NetworkOptions, networkOf } from "../net/proxy.ts";
import { webSocketFor } from "../net/socket.ts";
import type { WebSocketConstructor } from "../transport/websocket.ts";
import { ErrorLog } from "./error-log.ts";
import { MetricsCollector } from "./metrics.ts";
import { runVapidKeys } from "./payload.ts";
import { ScenarioRunner } from "./runner.ts";
import type { ScenarioContext, UserAgent } from "./scenario-types.ts";
import { VirtualUser } from "./virtual-user.ts";

export type SmokeStatus = "PASS" | "FAIL" | "SKIP";

export interface SmokeResult {
  name: string;
  status: SmokeStatus;
  /** Why it failed or was skipped; what was seen when it passed. */
  detail: string;
  ms: number;
}

/** `proxy`, `noProxy`, `tls` apply to the WebSocket and the push POSTs alike. */
export interface SmokeOptions extends NetworkOptions {
  serverURL: string;
  allowInsecureServerURL?: boolean;
  /** How long one reply or push may take. Default 5 000. */
  timeoutMs?: number;
  /** The broadcast id to subscribe to. Default "push-agent/smoke". */
  broadcastID?: string;
  WebSocket?: WebSocketConstructor;
  logger?: Logger;
  /** Called as each check ends. */
  onResult?: (result: SmokeResult) => void;
}

/** A failed check: the message is the reason. */
class CheckFailed extends Error {}
/** A check that cannot run here: the message says why. */
class CheckSkipped extends Error {}

const fail = (reason: string): never => {
  throw new CheckFailed(reason);
};

interface Shared {
  ctx: ScenarioContext;
  timeoutMs: number;
  broadcastID: string;
  agent: UserAgent | null;
  /** Scopes of the agent's subscriptions, unsigned and VAPID. */
  scopes: { plain: string; vapid: string };
  endpoints: Map<string, string>;
}

interface Check {
  name: string;
  needs?: string;
  run(shared: Shared): Promise<string>;
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeResult[]> {
  const WebSocket = await webSocketFor(options);
  const runner = new ScenarioRunner({
    serverURL: options.serverURL,
    allowInsecureServerURL: options.allowInsecureServerURL,
    payloadMode: "e2e",
    sink: new MetricsCollector(),
    errors: new ErrorLog(10),
    vapid: runVapidKeys(),
    scenarios: new Map(),
    WebSocket,
    ...networkOf(options),
    logger: options.logger ?? silentLogger,
    replyTimeoutMs: options.timeoutMs ?? 5_000,
  });
  const user = new VirtualUser(runner.run, 0, {});
  const shared: Shared = {
    ctx: user,
    timeoutMs: options.timeoutMs ?? 5_000,
    broadcastID: options.broadcastID ?? "push-agent/smoke",
    agent: null,
    scopes: { plain: "https://smoke.invalid/plain", vapid: "https://smoke.invalid/vapid" },
    endpoints: new Map(),
  };
  const results: SmokeResult[] = [];
  try {
    for (const check of CHECKS) {
      const result = await runCheck(check, shared, results);
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    await user.close();
    await runner.stop();
  }
  return results;
}

async function runCheck(check: Check, shared: Shared, done: SmokeResult[]): Promise<SmokeResult> {
  const startedAt = performance.now();
  const ms = () => Math.round(performance.now() - startedAt);
  const needed = check.needs ? done.find((r) => r.name === check.needs) : undefined;
  if (needed && needed.status !== "PASS") {
    return { name: check.name, status: "SKIP", detail: `needs "${check.needs}"`, ms: 0 };
  }
  try {
    const detail = await check.run(shared);
    return { name: check.name, status: "PASS", detail, ms: ms() };
  } catch (error) {
    if (error instanceof CheckSkipped)
      return { name: check.name, status: "SKIP", detail: error.message, ms: ms() };
    return { name: check.name, status: "FAIL", detail: describeError(error), ms: ms() };
  } finally {
    // Every check starts from a closed raw connection.
    shared.ctx.disconnect();
  }
}

async function freshChannel(shared: Shared) {
  const { ctx } = shared;
  await ctx.connect();
  const hello = await ctx.hello(null);
  const registration = await ctx.register();
  if (!registration.pushEndpoint) fail(`register answered status ${registration.status}`);
  return { uaid: hello.uaid, channelID: registration.channelID, endpoint: registration.pushEndpoint! };
}

async function reconnect(shared: Shared, uaid: string): Promise<void> {
  await shared.ctx.connect();
  const hello = await shared.ctx.hello(uaid);
  if (hello.uaid !== uaid) fail(`the reconnect got another uaid (${hello.uaid})`);
}

function sentOK(status: number, what: string): void {
  if (status < 200 || status > 299) fail(`${what}: the server answered ${status}`);
}

async function pushDecrypted(
  shared: Shared,
  encoding: "aes128gcm" | "aesgcm",
  vapid: boolean,
): Promise<string> {
  const agent = shared.agent ?? fail("no user agent");
  const scope = vapid ? shared.scopes.vapid : shared.scopes.plain;
  const subscription = (await agent.service.getSubscription(scope))?.toJSON() ?? fail("no subscription");
  const text = `smoke ${encoding}${vapid ? " vapid" : ""} ${shared.ctx.randomChannelID()}`;
  const result = await shared.ctx.sendNotification({
    endpoint: subscription.endpoint,
    keys: subscription.keys,
    data: text,
    encoding,
    vapid,
  });
  sentOK(result.status, "the push");
  const push = await agent.expectPush(scope, shared.timeoutMs);
  if (!push) fail(`no push within ${shared.timeoutMs} ms`);
  if (push!.text !== text) fail("the decrypted text differs from what was sent");
  return `${result.status}, decrypted, acked`;
}

const CHECKS: Check[] = [
  {
    name: "hello assigns a uaid",
    async run({ ctx }) {
      await ctx.connect();
      const hello = await ctx.hello(null);
      if (hello.status !== 200) fail(`hello status ${hello.status}`);
      if (!hello.useWebPush) fail("use_webpush is not true");
      if (!/^[0-9a-f]{32}$/i.test(hello.uaid)) return `uaid ${hello.uaid} (not the usual 32 hex digits)`;
      return `uaid ${hello.uaid.slice(0, 8)}…`;
    },
  },
  {
    name: "register without a VAPID key",
    needs: "hello assigns a uaid",
    async run(shared) {
      const { endpoint } = await freshChannel(shared);
      const url = new URL(endpoint);
      if (url.protocol !== "https:" && url.protocol !== "http:") fail(`endpoint ${endpoint} is not http(s)`);
      shared.endpoints.set("plain", endpoint);
      return url.origin;
    },
  },
  {
    name: "register with a VAPID key",
    needs: "hello assigns a uaid",
    async run(shared) {
      const { ctx } = shared;
      await ctx.connect();
      await ctx.hello(null);
      const registration = await ctx.register(ctx.randomChannelID(), ctx.vapidPublicKey);
      if (!registration.pushEndpoint) fail(`register answered status ${registration.status}`);
      if (registration.pushEndpoint === shared.endpoints.get("plain"))
        fail("the same endpoint as without a key");
      return "endpoint issued";
    },
  },
  {
    name: "user agent connects and subscribes",
    needs: "register without a VAPID key",
    async run(shared) {
      const agent = shared.ctx.userAgent();
      await agent.start();
      await agent.subscribe(shared.scopes.plain);
      await agent.subscribe(shared.scopes.vapid, { vapid: true });
      shared.agent = agent;
      return "2 subscriptions";
    },
  },
  {
    name: "push aes128gcm, unsigned",
    needs: "user agent connects and subscribes",
    run: (shared) => pushDecrypted(shared, "aes128gcm", false),
  },
  {
    name: "push aes128gcm, VAPID-signed",
    needs: "user agent connects and subscribes",
    run: (shared) => pushDecrypted(shared, "aes128gcm", true),
  },
  {
    name: "push aesgcm, unsigned",
    needs: "user agent connects and subscribes",
    run: (shared) => pushDecrypted(shared, "aesgcm", false),
  },
  {
    name: "push aesgcm, VAPID-signed",
    needs: "user agent connects and subscribes",
    run: (shared) => pushDecrypted(shared, "aesgcm", true),
  },
  {
    name: "pushes stored while disconnected arrive after a reconnect",
    needs: "register without a VAPID key",
    async run(shared) {
      const { ctx } = shared;
      const { uaid, channelID, endpoint } = await freshChannel(shared);
      ctx.disconnect();
      const sent = [ctx.randomData(128, 128), ctx.randomData(128, 128), ctx.randomData(128, 128)];
      for (const data of sent)
        sentOK((await ctx.sendNotification({ endpoint, data, ttl: 60 })).status, "a push");
      await reconnect(shared, uaid);
      const got = await ctx.expectNotifications([channelID, channelID, channelID], shared.timeoutMs);
      for (const n of got) ctx.ack(n.channelID, n.version);
      if (got.length < sent.length) fail(`${got.length} of ${sent.length} arrived`);
      if (got.some((n) => n.latencyMs === null)) fail("a stored push came back with other bytes");
      return `${got.length} of ${sent.length}, bytes intact`;
    },
  },
  {
    name: "TTL 0 push to an offline agent is not delivered",
    needs: "register without a VAPID key",
    async run(shared) {
      const { ctx } = shared;
      const { uaid, channelID, endpoint } = await freshChannel(shared);
      ctx.disconnect();
      const dropped = await ctx.sendNotification({
        endpoint,
        data: ctx.randomData(64, 64),
        ttl: 0,
        track: false,
      });
      sentOK(dropped.status, "the TTL 0 push");
      await reconnect(shared, uaid);
      await expectOnlyMarker(shared, channelID, endpoint, "the TTL 0 push was delivered");
      return `accepted (${dropped.status}), not delivered`;
    },
  },
  {
    name: "Topic replaces a stored push",
    needs: "register without a VAPID key",
    async run(shared) {
      const { ctx } = shared;
      const { uaid, channelID, endpoint } = await freshChannel(shared);
      ctx.disconnect();
      const topic = "smoke";
      const first = ctx.randomData(64, 64);
      const second = ctx.randomData(64, 64);
      sentOK(
        (await ctx.sendNotification({ endpoint, data: first, ttl: 60, topic, track: false })).status,
        "push 1",
      );
      sentOK((await ctx.sendNotification({ endpoint, data: second, ttl: 60, topic })).status, "push 2");
      await reconnect(shared, uaid);
      const got = await ctx.expectNotification(channelID, shared.timeoutMs);
      if (!got) fail("no push arrived");
      ctx.ack(got!.channelID, got!.version);
      if (got!.latencyMs === null) fail("the first push arrived, not its replacement");
      await expectOnlyMarker(shared, channelID, endpoint, "the replaced push arrived too");
      return "only the replacement arrived";
    },
  },
  {
    name: "push to an unregistered endpoint is refused",
    needs: "register without a VAPID key",
    async run(shared) {
      const { ctx } = shared;
      const { channelID, endpoint } = await freshChannel(shared);
      const { status } = await ctx.unregister(channelID);
      if (status !== 200) fail(`unregister status ${status}`);
      const result = await ctx.sendNotification({
        endpoint,
        data: ctx.randomData(64, 64),
        ttl: 60,
        track: false,
      });
      if (result.status !== 404 && result.status !== 410) fail(`the push got ${result.status}, not 404/410`);
      return String(result.status);
    },
  },
  {
    name: "restart keeps the uaid and the subscription; acked pushes stay acked",
    needs: "push aes128gcm, unsigned",
    async run(shared) {
      const agent = shared.agent ?? fail("no user agent");
      const uaid = agent.uaid;
      const before = (await agent.service.getSubscription(shared.scopes.plain))?.endpoint;
      await agent.stop();
      await agent.start();
      if (agent.uaid !== uaid) fail("the uaid changed");
      const after = (await agent.service.getSubscription(shared.scopes.plain))?.endpoint;
      if (!after || after !== before) fail("the subscription changed");
      // Anything unacked would be re-sent at hello, before this push.
      const detail = await pushDecrypted(shared, "aes128gcm", false).catch((error: Error) =>
        fail(`after the restart: ${error.message} (an earlier push not acked?)`),
      );
      return `same uaid, ${detail}`;
    },
  },
  {
    name: "broadcast_subscribe is answered",
    needs: "hello assigns a uaid",
    async run({ ctx, broadcastID, timeoutMs }) {
      await ctx.connect();
      await ctx.hello(null);
      ctx.broadcastSubscribe({ [broadcastID]: "v0" });
      const reply = await ctx.expectMessage("broadcast", timeoutMs);
      if (!reply)
        throw new CheckSkipped(`no broadcast reply within ${timeoutMs} ms (broadcasts off on this server?)`);
      const version = reply.broadcasts.get(broadcastID);
      const error = reply.broadcastErrors.get(broadcastID);
      if (version !== undefined) return `${broadcastID} ${version}`;
      if (error !== undefined) return `${broadcastID}: ${error}`;
      return fail("the broadcast reply does not mention the id");
    },
  },
];

/** Send a marker push now: it must be the next (and only) push of the channel. */
async function expectOnlyMarker(shared: Shared, channelID: string, endpoint: string, problem: string) {
  const { ctx } = shared;
  const marker = await ctx.sendNotification({ endpoint, data: ctx.randomData(64, 64), ttl: 60 });
  sentOK(marker.status, "the marker push");
  const next = await ctx.expectNotification(channelID, shared.timeoutMs);
  if (!next) fail("the marker push did not arrive");
  ctx.ack(next!.channelID, next!.version);
  if (next!.latencyMs === null) fail(problem);
}

export function formatSmokeResult(result: SmokeResult): string {
  const detail = result.detail
    ? result.status === "PASS"
      ? ` (${result.detail})`
      : `: ${result.detail}`
    : "";
  return `${result.status}  ${result.name}${detail}`;
}
