/**
 * F7: the disk under `push-agent serve --state` fills up (a small tmpfs, filled until ENOSPC;
 * root only, as in CI). Pushes for an offline user go on until the server refuses them with
 * 503 errno 201, the cause is logged once, space is freed, the server recovers by itself, and
 * after a restart the user agent receives exactly the pushes that got 201. Writes the counts
 * to .tmp/reliability/disk-full.json for RELIABILITY.md.
 */

import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { captureLogger } from "../helpers/logger.ts";
import { mountTmpfs } from "../helpers/tmpfs.ts";
import { connectHello, messageIdOf, push } from "../server/helpers.ts";
import { CrashCounter, ReliabilityLog } from "./support/report.ts";

const log = new ReliabilityLog("disk-full");
const crashes = new CrashCounter().install();
const mounted = mountTmpfs("4m");
const skipReason = mounted.ok ? "" : ` (skipped: ${mounted.reason})`;

/** Pushes of this size fill a page of LevelDB's log every two. */
const BODY = "x".repeat(2000);
const BEFORE = 5;
const AFTER = 5;
/** Refusals in a row that end the full-disk phase. */
const REFUSALS = 5;
const DEADLINE_MS = 10_000;

afterAll(() => {
  crashes.uninstall();
  log.write();
  if (mounted.ok) mounted.tmpfs.unmount();
});

describe.skipIf(!mounted.ok)(`F7 disk full under the server's state${skipReason}`, () => {
  it("refuses with 503 what it cannot keep, recovers when space is freed, and loses nothing it acknowledged", async () => {
    const tmpfs = mounted.ok ? mounted.tmpfs : undefined;
    const state = join(tmpfs!.dir, "state");
    const logger = captureLogger();
    const options = { port: 0, state, logger, stateRetryInterval: 20, msgLimit: 1_000_000 };
    let server: PushServer | undefined = await createPushServer(options);
    const accepted: string[] = [];
    let refused = 0;
    let sent = 0;
    const send = async () => {
      sent++;
      const response = await push(endpoint, { body: BODY, ttl: 3600 });
      if (response.status === 201) accepted.push(messageIdOf(response));
      else {
        expect(response.status).toBe(503);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body).toMatchObject({ code: 503, errno: 201 });
        expect(body.message).toMatch(/ENOSPC/);
        refused++;
      }
      return response.status;
    };

    let endpoint: string;
    let uaid: string;
    try {
      const first = await connectHello(server);
      uaid = first.uaid;
      endpoint = (await first.client.subscribe()).endpoint;
      await first.client.close();
      for (let i = 0; i < BEFORE; i++) expect(await send()).toBe(201);

      tmpfs!.fill();
      const acceptedBeforeFull = accepted.length;
      let inRow = 0;
      const full = Date.now() + DEADLINE_MS;
      while (inRow < REFUSALS) {
        if (Date.now() > full) throw new Error("the full disk never refused a push");
        inRow = (await send()) === 503 ? inRow + 1 : 0;
      }
      const failures = logger.lines.filter((l) => l.message.includes("writing state failed")).length;
      expect(failures).toBe(1);

      const acceptedWhileFull = accepted.length - acceptedBeforeFull;
      tmpfs!.free();
      const freedAt = Date.now();
      while ((await send()) !== 201) {
        if (Date.now() > freedAt + DEADLINE_MS) throw new Error("no recovery after the space was freed");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const recoveredMs = Date.now() - freedAt;
      for (let i = 0; i < AFTER; i++) expect(await send()).toBe(201);
      await server.close();
      server = undefined;

      server = await createPushServer({ ...options, logger: captureLogger() });
      const delivered = await receiveAll(server, uaid, accepted.length);
      const unique = new Set(delivered);
      const lost = accepted.filter((id) => !unique.has(id)).length;
      log.add({
        id: "F7",
        category: "fault",
        title: "disk full under the server's --state (a tmpfs filled to ENOSPC), then space freed",
        runs: 1,
        sent: accepted.length,
        delivered: unique.size,
        duplicated: delivered.length - unique.size,
        lost,
        crashes: crashes.total,
        notes:
          `sent = pushes answered 201; ${sent} posted: ${accepted.length} answered 201 (${acceptedBeforeFull} before the disk filled, ` +
          `${acceptedWhileFull} while it was full, ${accepted.length - acceptedBeforeFull - acceptedWhileFull} after space was freed), ${refused} refused with 503 errno 201 while full (not lost: the app server ` +
          `was told to retry); ${failures} "writing state failed" log line; recovered by itself ${recoveredMs} ms after ` +
          `the space came back; ${unique.size} delivered after a restart`,
      });
      expect(refused).toBeGreaterThanOrEqual(REFUSALS);
      expect([...unique].sort()).toEqual([...accepted].sort());
      expect(delivered).toHaveLength(accepted.length);
      expect(crashes.total).toBe(0);
    } finally {
      await server?.close();
    }
  });
});

/** Take every stored message, acking each so the next batch comes, then prove nothing else follows. */
async function receiveAll(server: PushServer, uaid: string, expected: number): Promise<string[]> {
  const { client } = await connectHello(server, uaid);
  const versions: string[] = [];
  while (versions.length < expected) {
    const frame = await client.nextOfType("notification");
    versions.push(frame.version as string);
    client.ack([frame]);
  }
  await client.barrier();
  await client.close();
  return versions;
}
