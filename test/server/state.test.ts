/**
 * createPushServer's `state` directory, in process: broadcast versions set at run time come
 * back after a restart (configured versions win), and the directory cannot be shared by two
 * live servers.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
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

it("refuses a directory another live server holds, with one clear line", async () => {
  await start();
  await expect(start()).rejects.toThrow(/push server state .* is in use by another process/);
});

it("rejects an empty state path", async () => {
  await expect(createPushServer({ port: 0, state: "" })).rejects.toThrow(RangeError);
});
