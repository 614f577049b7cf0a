/**
 * The LevelDB store: the PushDB contract on a temp directory, plus group commit, locking,
 * closing, and durability of acknowledged writes across a SIGKILL.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type LevelPushDB, openLevelPushDB } from "../../src/db/level.ts";
import type { PushRecord } from "../../src/db/push-db.ts";
import { pushDBContract } from "./contract.ts";
import { makeRecord } from "./records.ts";

const tempDir = () => mkdtemp(join(tmpdir(), "push-agent-level-"));

pushDBContract("LevelDB (classic-level)", async () => {
  const dir = await tempDir();
  let current = await openLevelPushDB(dir);
  return {
    db: current,
    reopen: async () => {
      current = await openLevelPushDB(dir);
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("openLevelPushDB", () => {
  let dir: string;
  const opened: LevelPushDB[] = [];

  beforeEach(async () => {
    dir = await tempDir();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function open(location = dir): Promise<LevelPushDB> {
    const db = await openLevelPushDB(location);
    opened.push(db);
    return db;
  }

  const increment = (r: PushRecord) => ({ ...r, pushCount: r.pushCount + 1 });

  it("creates missing parent directories", async () => {
    const db = await open(join(dir, "nested", "store"));
    await db.setUAID("x");
    expect(await db.getUAID()).toBe("x");
  });

  it("group-commits concurrent writes into few batches, each caller resolved after its write", async () => {
    const db = await open();
    await db.put(makeRecord(1));
    const before = { ...db.stats };
    const results = await Promise.all(Array.from({ length: 50 }, () => db.update("channel-1", increment)));
    expect(results.map((r) => r?.pushCount).sort((a, b) => a! - b!)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    expect(db.stats.writes - before.writes).toBe(50);
    expect(db.stats.batches - before.batches).toBeLessThan(10);
    expect((await db.getByChannelID("channel-1"))?.pushCount).toBe(50);
  });

  it("group-commits mixed writes on many records", async () => {
    const db = await open();
    const before = db.stats.batches;
    await Promise.all([
      ...Array.from({ length: 100 }, (_, n) => db.put(makeRecord(n))),
      db.setUAID("u"),
      db.setBroadcast("b", "1"),
    ]);
    expect(db.stats.batches - before).toBeLessThan(10);
    expect(await db.getAll()).toHaveLength(100);
  });

  it("refuses a second open of a store that is in use, in one line", async () => {
    await open();
    const error = await openLevelPushDB(dir).then(
      () => expect.unreachable("second open succeeded"),
      (err: unknown) => err as Error,
    );
    expect(error.message).toMatch(/locked/);
    expect(error.message).toContain(dir);
    expect(error.message).not.toContain("\n");
  });

  it("writes everything issued before close, then rejects further use", async () => {
    const db = await openLevelPushDB(dir);
    const pending = Array.from({ length: 20 }, (_, n) => db.put(makeRecord(n)));
    await db.close();
    await Promise.all(pending);
    await expect(db.put(makeRecord(99))).rejects.toThrow(/closed/);
    await expect(db.getAll()).rejects.toThrow(/closed/);
    await db.close(); // idempotent

    const reopened = await open();
    expect(await reopened.getAll()).toHaveLength(20);
  });

  it("keeps every acknowledged write across a SIGKILL and reopens cleanly", async () => {
    const writer = new WriterProcess(dir);
    try {
      await writer.untilAcked(1);
      // While the writer lives, its LOCK keeps everyone else out, with a one-line reason.
      await expect(openLevelPushDB(dir)).rejects.toThrow(/^PushDB at .* is locked: another live process/);
      await writer.untilAcked(150);
    } finally {
      // Kill mid-stream: more writes are in flight, and what was acked so far must survive.
      await writer.kill();
    }
    const { acked } = writer;
    expect(acked.puts.length).toBeGreaterThanOrEqual(150);

    const db = await open();
    const records = new Map((await db.getAll()).map((r) => [r.channelID, r]));
    for (const n of acked.puts) expect(records.get(`channel-${n}`), `acked put ${n}`).toBeDefined();
    expect(records.get("counter")?.pushCount ?? 0).toBeGreaterThanOrEqual(acked.maxCount);
    expect(await db.getUAID()).toBe("writer-uaid");
    // Still fully usable.
    await db.update("counter", increment);
    await db.put(makeRecord(100_000));
    expect(await db.getByChannelID("channel-100000")).toBeDefined();
  });
});

const writerScript = fileURLToPath(new URL("./fixtures/level-writer.ts", import.meta.url));
/** `--import tsx` resolves from the working directory: run the child from the package root. */
const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

interface Acked {
  /** Record numbers whose put resolved in the writer. */
  puts: number[];
  /** The highest counter value whose update resolved. */
  maxCount: number;
}

/** The crash-test child (fixtures/level-writer.ts) and what it has acknowledged on stdout. */
class WriterProcess {
  readonly acked: Acked = { puts: [], maxCount: 0 };
  private readonly child: ChildProcess;
  private readonly closed: Promise<void>;
  private stderr = "";
  private buffered = "";
  private killed = false;
  private onProgress = () => {};

  constructor(location: string) {
    this.child = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=push-agent-source", writerScript, location],
      { cwd: packageRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.child.stdout!.on("data", (chunk: Buffer) => this.read(chunk.toString()));
    // "close" comes after the last stdout chunk, so lines printed just before the kill count too.
    this.closed = new Promise((resolve) => this.child.once("close", () => resolve()));
  }

  /** Resolves once `count` puts were acknowledged; rejects if the writer dies first. */
  untilAcked(count: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.acked.puts.length >= count) resolve();
      };
      this.onProgress = check;
      check();
      this.closed.then(() => {
        if (this.acked.puts.length < count) reject(new Error(`writer exited early: ${this.stderr}`));
      });
    });
  }

  async kill(): Promise<void> {
    if (!this.killed && this.child.exitCode === null) {
      this.killed = true;
      this.child.kill("SIGKILL");
    }
    await this.closed;
  }

  private read(text: string): void {
    const lines = (this.buffered + text).split("\n");
    this.buffered = lines.pop()!;
    for (const line of lines) {
      const [kind, value] = line.split(" ");
      if (kind === "put") this.acked.puts.push(Number(value));
      if (kind === "count") this.acked.maxCount = Math.max(this.acked.maxCount, Number(value));
    }
    this.onProgress();
  }
}
