/**
 * The state directory refusing writes, injected (runs everywhere; test/faults/disk-full.test.ts
 * fills a real tmpfs where it may mount one): a push that would be stored gets 503 errno 201 and
 * is not kept, a register gets status 500 with an empty endpoint and no channel, the cause is
 * logged once, and once LevelDB writes again the server recovers by itself; a restart sees
 * exactly what was acknowledged.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { captureLogger } from "../helpers/logger.ts";
import { connectHello, messageIdOf, push } from "./helpers.ts";

const faults = vi.hoisted(() => ({ batch: false, open: false, batches: 0, opens: 0 }));

vi.mock("classic-level", async (importOriginal) => {
  const real = await importOriginal<typeof import("classic-level")>();
  const enospc = () =>
    Object.assign(new Error("IO error: /state/000003.log: No space left on device"), {
      code: "LEVEL_IO_ERROR",
    });
  class FailingLevel<K, V> extends real.ClassicLevel<K, V> {
    override async open(...args: unknown[]): Promise<void> {
      faults.opens++;
      if (faults.open) throw Object.assign(new Error("Database failed to open"), { cause: enospc() });
      return (super.open as (...a: unknown[]) => Promise<void>)(...args);
    }
    // biome-ignore lint/suspicious/noExplicitAny: the overloads of batch() are not worth restating in a mock
    override batch(...args: any[]): any {
      if (args.length > 0) {
        faults.batches++;
        if (faults.batch) return Promise.reject(enospc());
      }
      return (super.batch as (...a: unknown[]) => unknown)(...args);
    }
  }
  return { ...real, ClassicLevel: FailingLevel };
});

let dir: string;
const servers: PushServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "push-agent-state-failure-"));
  Object.assign(faults, { batch: false, open: false, batches: 0, opens: 0 });
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function start(logger = captureLogger()) {
  const server = await createPushServer({ port: 0, logger, state: dir, stateRetryInterval: 10 });
  servers.push(server);
  return { server, logger };
}

/** Resolves once `check` holds; fails with `what` after the deadline. */
async function until(what: string, check: () => boolean, deadline = 5000): Promise<void> {
  const end = Date.now() + deadline;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

it("refuses what it cannot keep (503 errno 201, register status 500), logs the cause once, recovers by itself, and a restart sees only what was acknowledged", async () => {
  const { server, logger } = await start();
  const { client, uaid } = await connectHello(server);
  const { endpoint } = await client.subscribe();
  await client.close();
  const kept = await push(endpoint, { body: "kept" });
  expect(kept.status).toBe(201);

  faults.batch = true;
  // The register whose write fails: no endpoint, and no user or channel left behind.
  const { client: second } = await connectHello(server);
  const refusedRegister = await second.register();
  expect(refusedRegister).toMatchObject({ messageType: "register", status: 500, pushEndpoint: "" });
  // While failing, a push for storage is refused before it is stored.
  const refused = await push(endpoint, { body: "refused" });
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("120");
  const body = (await refused.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ code: 503, errno: 201, error: "Service Unavailable" });
  expect(body.message).toMatch(/ENOSPC: no space left on device/);
  expect(server.stats()).toMatchObject({ users: 1, channels: 1, storedMessages: 1, refused: 1, stored: 1 });
  // A second register while failing is answered at once, without touching the store.
  expect(await second.register()).toMatchObject({ status: 500, pushEndpoint: "" });

  // Reopening fails too while the disk is full; every retry stays quiet in the log.
  faults.open = true;
  const opens = faults.opens;
  await until("three reopen attempts", () => faults.opens >= opens + 3);
  const failures = logger.lines.filter(
    (l) => l.level === "error" && l.message.includes("writing state failed"),
  );
  expect(failures).toHaveLength(1);
  expect(failures[0]!.message).toMatch(/ENOSPC/);

  faults.open = false;
  faults.batch = false;
  await until("recovery", () => logger.lines.some((l) => l.message.includes("writing state works again")));
  const after = await push(endpoint, { body: "after" });
  expect(after.status).toBe(201);
  const registered = await second.subscribe();
  expect(registered.endpoint).toMatch(/^http/);
  await second.close();
  await server.close();

  const { server: restarted } = await start();
  expect(restarted.stats()).toMatchObject({ users: 2, channels: 2, storedMessages: 2 });
  const { client: third } = await connectHello(restarted, uaid);
  const delivered = await third.notifications(2);
  expect(delivered.map((f) => f.version)).toEqual([messageIdOf(kept), messageIdOf(after)]);
  expect(delivered.map((f) => Buffer.from(f.data as string, "base64url").toString())).toEqual([
    "kept",
    "after",
  ]);
});

it("a push whose own write fails is taken back: the unread topic message it replaced is delivered instead", async () => {
  const { server } = await start();
  const { client, uaid } = await connectHello(server);
  const { endpoint } = await client.subscribe();
  await client.close();
  const first = await push(endpoint, { body: "first", headers: { Topic: "news" } });
  expect(first.status).toBe(201);
  faults.batch = true;
  const second = await push(endpoint, { body: "second", headers: { Topic: "news" } });
  expect(second.status).toBe(503);
  faults.batch = false;

  const { client: again } = await connectHello(server, uaid);
  const [frame] = await again.notifications(1);
  expect(frame).toMatchObject({ version: messageIdOf(first) });
  expect(Buffer.from(frame!.data as string, "base64url").toString()).toBe("first");
});

it("a direct delivery needs no disk: a connected user gets its push with 201 while writes fail", async () => {
  const { server } = await start();
  const { client } = await connectHello(server);
  const { endpoint } = await client.subscribe();
  faults.batch = true;
  // Make the journal notice: a register is a write.
  expect(await client.register()).toMatchObject({ status: 500 });
  const direct = await push(endpoint, { body: "live" });
  expect(direct.status).toBe(201);
  const [frame] = await client.notifications(1);
  expect(frame).toMatchObject({ version: messageIdOf(direct) });
});

it("an unregister while writes fail gets status 500 and keeps the channel; after recovery it goes through", async () => {
  const { server, logger } = await start();
  const { client } = await connectHello(server);
  const { channelID, endpoint } = await client.subscribe();
  faults.batch = true;
  expect(await client.register()).toMatchObject({ status: 500 });
  client.send({ messageType: "unregister", channelID });
  expect(await client.nextOfType("unregister")).toMatchObject({ channelID, status: 500 });
  expect(server.stats().channels).toBe(1);
  faults.batch = false;
  await until("recovery", () => logger.lines.some((l) => l.message.includes("writing state works again")));
  client.send({ messageType: "unregister", channelID });
  expect(await client.nextOfType("unregister")).toMatchObject({ channelID, status: 200 });
  expect((await push(endpoint, { body: "gone" })).status).toBe(410);
});
