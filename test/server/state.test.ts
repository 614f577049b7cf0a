/**
 * createPushServer's `state` directory, in process: broadcast versions set at run time come
 * back after a restart (configured versions win), an unsubscribed channel stays gone while the
 * other keeps its stored message, and the directory cannot be shared by two live servers.
 * (test/cli/serve-state.test.ts restarts a real server process.)
 */

import { chmod, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { sendPush } from "../../src/server/send.ts";
import { PushService } from "../../src/service/push-service.ts";
import { captureLogger } from "../helpers/logger.ts";

let dir: string;
const servers: PushServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "push-agent-server-state-"));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function start(options: Parameters<typeof createPushServer>[0] = {}) {
  const server = await createPushServer({ port: 0, logger: captureLogger(), state: dir, ...options });
  servers.push(server);
  return server;
}

it("keeps broadcast versions across a restart; versions configured at start win", async () => {
  const first = await start({ broadcasts: { configured: "c1", kept: "k1" } });
  first.setBroadcast("kept", "k2");
  first.setBroadcast("added", "a1");
  await first.close();
  const second = await start({ broadcasts: { configured: "c2" } });
  expect(second.stats().broadcasts).toEqual({ configured: "c2", kept: "k2", added: "a1" });
});

it("keeps an unsubscription: its endpoint stays refused after a restart, the other channel's stored message is kept", async () => {
  const first = await start();
  const db = openMemoryPushDB();
  const service = new PushService({ serverURL: first.url, db, logger: captureLogger() });
  await service.start();
  const kept = await service.subscribe({ scope: "https://kept.example/" });
  const dropped = await service.subscribe({ scope: "https://dropped.example/" });
  await dropped.unsubscribe();
  await service.stop();
  expect((await sendPush(kept.toJSON(), "stored", { TTL: 600 })).statusCode).toBe(201);
  await first.close();

  const second = await start();
  expect(second.stats()).toMatchObject({ users: 1, channels: 1, storedMessages: 1 });
  // Same tokens, new port: only the base URL changes.
  const moved = (endpoint: string) => `${second.endpointURL}${new URL(endpoint).pathname}`;
  const refused = await sendPush({ ...dropped.toJSON(), endpoint: moved(dropped.endpoint) }, "x", {
    TTL: 60,
  });
  expect(refused.statusCode).toBe(410);
  const again = await sendPush({ ...kept.toJSON(), endpoint: moved(kept.endpoint) }, "live", { TTL: 60 });
  expect(again.statusCode).toBe(201);
  expect(second.stats().storedMessages).toBe(2);
});

it("refuses a directory another live server holds, with one clear line", async () => {
  await start();
  await expect(start()).rejects.toThrow(/push server state .* is in use by another process/);
});

it("rejects an empty state path", async () => {
  await expect(createPushServer({ port: 0, state: "" })).rejects.toThrow(RangeError);
});

it("keeps the state directory private: 0700, files 0600, a wider existing directory tightened", async () => {
  await chmod(dir, 0o755);
  const server = await start();
  await server.close();
  expect((await stat(dir)).mode & 0o777).toBe(0o700);
  const files = await readdir(dir);
  expect(files).toContain("CURRENT");
  for (const file of files) expect([file, (await stat(join(dir, file))).mode & 0o777]).toEqual([file, 0o600]);
});
