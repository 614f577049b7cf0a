/**
 * A real full disk under the client's durable store: the LevelDB store lives on a
 * small tmpfs, the disk is filled while pushes stream in, then room comes back. Every write that
 * failed must have left its message unacked (store-error, logged), the server sends it again, and
 * once there is room every message is acked 100 and on disk. Needs root to mount the tmpfs (CI
 * runs as root); elsewhere it is skipped and limits.test.ts covers the same path with an
 * injected failing store.
 */

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLevelPushDB } from "../../src/db/level.ts";
import type { StoreErrorEvent } from "../../src/observers.ts";
import { FakeAutopush } from "../helpers/fake-autopush.ts";
import { fakeService } from "../helpers/fake-service.ts";
import { mountTmpfs, type Tmpfs } from "../helpers/tmpfs.ts";
import { CrashCounter, ReliabilityLog, SLOW } from "./support/report.ts";

const log = new ReliabilityLog("disk-full-client");

let tmpfs: Tmpfs | null = null;
let why = "";

beforeAll(() => {
  const mounted = mountTmpfs("1m");
  if (mounted.ok) tmpfs = mounted.tmpfs;
  else why = mounted.reason;
});

afterAll(() => {
  log.write();
  tmpfs?.unmount();
});

async function waitFor(done: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the client store on a full disk", () => {
  it("leaves every message it could not record unacked; all reach the app and are acked once there is room", async (context) => {
    if (!tmpfs) {
      context.skip(why);
      return;
    }
    const count = SLOW ? 200 : 40;
    const crashes = new CrashCounter().install();
    const location = join(tmpfs.dir, "db");
    const db = await openLevelPushDB(location);
    const { service, server, logger } = fakeService({ retryBaseInterval: 20 }, new FakeAutopush(), db);
    try {
      await service.start();
      await service.ready();
      const { endpoint } = (await service.subscribe({ scope: "https://disk.example/" })).toJSON();
      const channelID = String(endpoint).split("/").at(-1)!;
      const deliveries: string[] = [];
      const storeErrors: StoreErrorEvent[] = [];
      service.observe("push-message", ({ messageId }) => void deliveries.push(messageId));
      service.observe("store-error", (event) => void storeErrors.push(event));

      tmpfs.fill();
      // One at a time: messages in flight together share one store write (group commit), and a
      // full page of the log file still takes a few small writes before the disk refuses.
      const versions = Array.from({ length: count }, (_, i) => `full-${i}`);
      let pushed = 0;
      while (storeErrors.length < 3 && pushed < count) {
        const before = storeErrors.length + server.acks().size;
        server.notify(channelID, versions[pushed++]!);
        await waitFor(() => storeErrors.length + server.acks().size > before, "an ack or a store error");
      }
      expect(storeErrors.length, "the full disk refused no write").toBeGreaterThanOrEqual(3);
      const ackedWhileFull = server.acks().size;
      for (const version of versions.slice(pushed)) server.notify(channelID, version);
      tmpfs.free();
      await waitFor(() => server.unacked.size === 0, "every message acked once there is room");

      const acks = server.acks();
      expect([...acks.keys()].sort()).toEqual([...versions].sort());
      for (const version of versions) expect(acks.get(version), version).toEqual([100]);
      expect(new Set(deliveries)).toEqual(new Set(versions));
      expect(storeErrors[0]?.error.message).toMatch(/No space left on device/);
      expect(logger.lines.some((l) => l.level === "error" && /the store failed/.test(l.message))).toBe(true);
      // On disk: a fresh open knows every id. LevelDB goes on appending to a log whose last
      // record the ENOSPC tore, and recovery drops what follows it, so the store reopens itself
      // after a failed write; without that, every id recorded after the disk filled was gone.
      await service.stop();
      await db.close();
      const reopened = await openLevelPushDB(location);
      const record = await reopened.getByChannelID(channelID);
      await reopened.close();
      const onDisk = new Set(record?.recentMessageIDs);
      const missingOnDisk = versions.filter((v) => !onDisk.has(v)).length;
      expect(missingOnDisk, "ids acked but missing from the store after a reopen").toBe(0);
      expect(crashes.total).toBe(0);

      const delivered = new Set(deliveries).size;
      log.add({
        id: "F7c",
        category: "fault",
        title: "client LevelDB store on a 1 MB tmpfs filled while pushes stream in, then room again",
        runs: 1,
        sent: count,
        delivered,
        duplicated: deliveries.length - delivered,
        lost: count - delivered,
        crashes: crashes.total,
        notes: `${storeErrors.length} store writes failed (ENOSPC, store-error each, none acked; ${ackedWhileFull} acked while the log file's last page still had room), ${server.sockets.length - 1} reconnects for re-sends; every message acked 100 and, after a reopen, ${count - missingOnDisk} of ${count} ids on disk`,
      });
    } finally {
      crashes.uninstall();
      await service.stop();
      await db.close().catch(() => {});
    }
  }, 120_000);
});
