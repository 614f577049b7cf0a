/**
 * `push-agent serve --state DIR` across restarts of the server process: messages stored while
 * the user agent was away reach it after a restart (SIGTERM, then SIGKILL right after the 201),
 * with the same uaid, the endpoints handed out before the restart still accept pushes, and so
 * does one registered just before a SIGKILL.
 * Without --state, a restart forgets the uaid, as before.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import webpush from "web-push";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import type { PushMessageEvent } from "../../src/observers.ts";
import { sendPush } from "../../src/sender/send.ts";
import { PushService } from "../../src/service/push-service.ts";
import type { PushSubscription } from "../../src/subscription.ts";
import { captureLogger } from "../helpers/logger.ts";
import { type Child, killAll, runCli } from "./helpers.ts";

const SCOPE = "https://app.example/";
const vapid = webpush.generateVAPIDKeys();
const vapidDetails = { subject: "mailto:test@example.com", ...vapid };
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  killAll();
});

/** A port that was free a moment ago: the restarted server must come back on the same one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function serve(port: number, state?: string): Promise<{ child: Child; url: string }> {
  const child = runCli(["serve", "--port", String(port), ...(state ? ["--state", state] : [])]);
  const [, url] = await child.waitForStdout(/push server listening at (ws:\/\/\S+)\n/);
  return { child, url: url! };
}

async function stopGracefully(child: Child): Promise<void> {
  child.process.kill("SIGTERM");
  expect(await child.exited).toEqual({ code: 0, signal: null });
}

/** A user agent whose store outlives it, so each run says the uaid it had. */
function userAgent(url: string) {
  const storage = createMemoryStorage();
  const run = () => {
    const received: PushMessageEvent[] = [];
    const service = new PushService({
      serverURL: url,
      db: openMemoryPushDB(storage),
      logger: captureLogger(),
    });
    service.observe("push-message", (event) => {
      received.push(event);
    });
    cleanup.push(() => service.stop());
    return { service, received };
  };
  return { storage, run };
}

function push(subscription: PushSubscription, text: string, topic?: string) {
  return sendPush(subscription.toJSON(), text, { TTL: 3600, vapidDetails, ...(topic ? { topic } : {}) });
}

it("keeps uaid, channels and stored messages across a SIGTERM and a SIGKILL restart; old endpoints keep working", async () => {
  const dir = await mkdtemp(join(tmpdir(), "push-agent-state-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();

  let server = await serve(port, dir);
  const ua = userAgent(server.url);
  let agent = ua.run();
  await agent.service.start();
  await agent.service.ready();
  const subscription = await agent.service.subscribe({ scope: SCOPE, applicationServerKey: vapid.publicKey });
  const uaid = agent.service.uaid;
  expect(uaid).toMatch(/^[0-9a-f]{32}$/);
  await agent.service.stop();

  // Stored while the user agent is away: two timestamp messages and a topic message.
  for (const [text, topic] of [["one"], ["two"], ["three", "news"]] as const) {
    expect((await push(subscription, text, topic)).statusCode).toBe(201);
  }
  await stopGracefully(server.child);

  server = await serve(port, dir);
  expect(server.child.stdout()).toMatch(/state in .*: 1 uaids, 3 stored messages/);
  agent = ua.run();
  await agent.service.start();
  await expect.poll(() => agent.received.map((m) => m.data?.text()).sort()).toEqual(["one", "three", "two"]);
  expect(agent.service.uaid).toBe(uaid);
  expect(ua.storage.uaid).toBe(uaid);
  // Acked before the restart below, so they must not come back after it.
  await agent.service.stop();

  // The endpoint from before the first restart; a SIGKILL right after the 201 loses nothing.
  expect((await push(subscription, "after kill")).statusCode).toBe(201);
  // The whole process group: the launcher and the server it runs.
  process.kill(-server.child.process.pid!, "SIGKILL");
  await server.child.exited;

  server = await serve(port, dir);
  agent = ua.run();
  await agent.service.start();
  await expect.poll(() => agent.received.map((m) => m.data?.text())).toEqual(["after kill"]);
  expect(agent.service.uaid).toBe(uaid);
  // Live delivery on the same old endpoint, too.
  expect((await push(subscription, "live")).statusCode).toBe(201);
  await expect.poll(() => agent.received.map((m) => m.data?.text())).toEqual(["after kill", "live"]);

  // A register is answered once its channel is on disk: killed right after, the endpoint lives on.
  const late = await agent.service.subscribe({
    scope: "https://late.example/",
    applicationServerKey: vapid.publicKey,
  });
  await agent.service.stop();
  process.kill(-server.child.process.pid!, "SIGKILL");
  await server.child.exited;
  server = await serve(port, dir);
  expect((await push(late, "to the late one")).statusCode).toBe(201);
  await stopGracefully(server.child);
});

it("forgets everything on restart without --state", async () => {
  const port = await freePort();
  let server = await serve(port);
  const ua = userAgent(server.url);
  let agent = ua.run();
  await agent.service.start();
  const subscription = await agent.service.subscribe({ scope: SCOPE, applicationServerKey: vapid.publicKey });
  const uaid = agent.service.uaid;
  await agent.service.stop();
  await stopGracefully(server.child);

  server = await serve(port);
  expect((await push(subscription, "lost")).statusCode).toBe(404);
  agent = ua.run();
  await agent.service.start();
  await agent.service.ready();
  expect(agent.service.uaid).not.toBe(uaid);
  await agent.service.stop();
  await stopGracefully(server.child);
});
