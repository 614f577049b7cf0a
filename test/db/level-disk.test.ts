/**
 * The LevelDB client store against its disk: the directory is private (0700, files 0600, a
 * wider existing directory tightened); a failing batch (injected, runs everywhere) rejects every
 * write in it and the store reopens before the next; and on a real full disk (a small tmpfs,
 * root only) a write rejects, nothing that rejected comes back, and once space is freed later
 * writes succeed and survive a reopen together with everything acknowledged before.
 */

import { chmod, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openLevelPushDB } from "../../src/db/level.ts";
import { mountTmpfs } from "../helpers/tmpfs.ts";
import { makeRecord } from "./records.ts";

const faults = vi.hoisted(() => ({ batch: false, opens: 0 }));

// A pass-through unless a test sets `faults.batch`.
vi.mock("classic-level", async (importOriginal) => {
  const real = await importOriginal<typeof import("classic-level")>();
  class FailingLevel<K, V> extends real.ClassicLevel<K, V> {
    override async open(...args: unknown[]): Promise<void> {
      faults.opens++;
      return (super.open as (...a: unknown[]) => Promise<void>)(...args);
    }
    // biome-ignore lint/suspicious/noExplicitAny: the overloads of batch() are not worth restating in a mock
    override batch(...args: any[]): any {
      if (args.length > 0 && faults.batch) {
        return Promise.reject(
          Object.assign(new Error("IO error: 000003.log: Input/output error"), { code: "LEVEL_IO_ERROR" }),
        );
      }
      return (super.batch as (...a: unknown[]) => unknown)(...args);
    }
  }
  return { ...real, ClassicLevel: FailingLevel };
});

describe("a failing batch (injected)", () => {
  it("rejects every write in it, never acks it, and the next write reopens the store first", async () => {
    const dir = await mkdtemp(join(tmpdir(), "push-agent-level-fail-"));
    try {
      let db = await openLevelPushDB(dir);
      await db.put(makeRecord(1));
      faults.batch = true;
      // Three writes in one tick share the batch: all three reject with the I/O error.
      const results = await Promise.allSettled([
        db.put(makeRecord(2)),
        db.put(makeRecord(3)),
        db.delete("channel-1"),
      ]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/Input\/output error/);
      faults.batch = false;
      const opens = faults.opens;
      await db.put(makeRecord(4));
      expect(faults.opens).toBe(opens + 1);
      // A second write does not reopen again.
      await db.put(makeRecord(5));
      expect(faults.opens).toBe(opens + 1);
      await db.close();
      db = await openLevelPushDB(dir);
      expect((await db.getAll()).map((r) => r.channelID).sort()).toEqual([
        "channel-1",
        "channel-4",
        "channel-5",
      ]);
      await db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe("modes", () => {
  it("creates the directory 0700 and leaves its files 0600", async () => {
    const parent = await mkdtemp(join(tmpdir(), "push-agent-level-mode-"));
    try {
      const dir = join(parent, "store");
      const db = await openLevelPushDB(dir);
      await db.put(makeRecord(1));
      await db.close();
      expect(await mode(dir)).toBe(0o700);
      const files = await readdir(dir);
      expect(files.length).toBeGreaterThan(2);
      for (const file of files) expect([file, await mode(join(dir, file))]).toEqual([file, 0o600]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it("tightens an existing directory that others could read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "push-agent-level-wide-"));
    try {
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o755);
      const db = await openLevelPushDB(dir);
      await db.close();
      expect(await mode(dir)).toBe(0o700);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const mounted = mountTmpfs("4m");
const skipReason = mounted.ok ? "" : ` (skipped: ${mounted.reason})`;

describe.skipIf(!mounted.ok)(`a full disk${skipReason}`, () => {
  const tmpfs = mounted.ok ? mounted.tmpfs : undefined;
  afterAll(() => tmpfs?.unmount());

  it("rejects the write that found no space, and after space is freed keeps writing durably", async () => {
    const dir = join(tmpfs!.dir, "store");
    let db = await openLevelPushDB(dir);
    await db.put(makeRecord(0));
    tmpfs!.fill();

    // The log's last page may still take a few records; then the disk says no.
    const acked: number[] = [0];
    let rejection: unknown;
    for (let n = 1; n < 500 && rejection === undefined; n++) {
      try {
        await db.put(makeRecord(n, { pushEndpoint: `https://push.example.net/${"x".repeat(2000)}/${n}` }));
        acked.push(n);
      } catch (err) {
        rejection = err;
      }
    }
    expect(String((rejection as Error)?.message)).toMatch(/No space left on device/);
    const refused = acked.length;
    // Still full: the next write rejects too (the store tries to reopen first and cannot).
    await expect(db.put(makeRecord(1000))).rejects.toThrow();

    tmpfs!.free();
    for (let n = 2000; n < 2010; n++) {
      await db.put(makeRecord(n));
      acked.push(n);
    }
    await db.close();

    db = await openLevelPushDB(dir);
    const channels = (await db.getAll()).map((r) => Number(r.channelID.replace("channel-", "")));
    await db.close();
    expect(channels.sort((a, b) => a - b)).toEqual(acked.sort((a, b) => a - b));
    expect(channels).not.toContain(refused);
    expect(channels).not.toContain(1000);
  });
});
