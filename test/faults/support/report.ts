/**
 * Reliability bookkeeping for the fault and fuzz suites: every suite writes what it threw at the
 * client and what came out (sent / delivered / duplicated / lost / crashes) to
 * `.tmp/reliability/<suite>.json`; scripts/reliability-report.ts turns those files into
 * RELIABILITY.md. Also counts uncaught exceptions and unhandled rejections of the test process.
 *
 * A figure the run did not count is `null`, never a literal 0: the report prints "not measured".
 */

import type { ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { testDecryptWorkers } from "../../helpers/decrypt-workers.ts";

export const SLOW = process.env.SLOW === "1";

/** A figure counted by the run, or `null` where the run could not count it ("not measured"). */
export type Count = number | null;

export interface ReliabilityRow {
  /** Stable id; rows are sorted by it in the report (e.g. "F1a", "H2"). */
  id: string;
  category: "fault" | "hostile";
  title: string;
  /** How many times the fault was injected, or how many inputs were generated. */
  runs: number;
  /** Messages sent towards the app (0 where the row is about inputs rather than messages). */
  sent: Count;
  /** Distinct messages the app received. */
  delivered: Count;
  /** Deliveries to the app beyond the first of a message. */
  duplicated: Count;
  /** Messages sent but never delivered. */
  lost: Count;
  /** Uncaught exceptions, unhandled rejections, or host processes that died on their own. */
  crashes: Count;
  notes?: string;
}

export interface ReliabilityFile {
  suite: string;
  mode: "SLOW" | "default";
  finishedAt: string;
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  rows: ReliabilityRow[];
}

export const RELIABILITY_DIR = fileURLToPath(new URL("../../../.tmp/reliability/", import.meta.url));

/** Collects rows during a suite; `write()` (call it in afterAll) stores them. */
export class ReliabilityLog {
  readonly rows: ReliabilityRow[] = [];
  readonly #suite: string;

  constructor(suite: string) {
    // A run with decryption on worker threads reports beside the main-thread run, not over it.
    this.#suite = testDecryptWorkers > 0 ? `${suite}-workers` : suite;
  }

  add(input: ReliabilityRow): void {
    const row =
      testDecryptWorkers > 0
        ? {
            ...input,
            id: `${input.id}w`,
            notes: [input.notes, `decryption on ${testDecryptWorkers} worker threads`]
              .filter(Boolean)
              .join("; "),
          }
        : input;
    const existing = this.rows.findIndex((r) => r.id === row.id);
    if (existing >= 0) this.rows.splice(existing, 1, row);
    else this.rows.push(row);
  }

  write(): void {
    if (this.rows.length === 0) return;
    const cpu = cpus();
    const file: ReliabilityFile = {
      suite: this.#suite,
      mode: SLOW ? "SLOW" : "default",
      finishedAt: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpu: cpu[0]?.model.trim() ?? "unknown",
      cores: cpu.length,
      rows: this.rows,
    };
    mkdirSync(RELIABILITY_DIR, { recursive: true });
    writeFileSync(`${RELIABILITY_DIR}${this.#suite}.json`, `${JSON.stringify(file, null, 2)}\n`);
  }
}

/**
 * Counts uncaught exceptions and unhandled rejections while installed. Vitest reports them as
 * well; the counter lets a test assert zero and put the number in the report.
 */
export class CrashCounter {
  uncaught = 0;
  unhandled = 0;
  /** Child processes that exited on their own with a non-zero code or a signal. */
  childExits = 0;
  /** Crashes another process counted and reported (e.g. a child's own uncaught errors). */
  reported = 0;
  readonly errors: unknown[] = [];
  readonly #onUncaught = (error: unknown) => {
    this.uncaught++;
    this.errors.push(error);
  };
  readonly #onUnhandled = (reason: unknown) => {
    this.unhandled++;
    this.errors.push(reason);
  };

  install(): this {
    process.on("uncaughtException", this.#onUncaught);
    process.on("unhandledRejection", this.#onUnhandled);
    return this;
  }

  uninstall(): void {
    process.off("uncaughtException", this.#onUncaught);
    process.off("unhandledRejection", this.#onUnhandled);
  }

  /**
   * Counts `child` as crashed if it exits with a non-zero code or a signal while `expected()`
   * says no exit is due (a kill or close the test asked for is not a crash).
   */
  watch(child: ChildProcess, expected: () => boolean = () => false): this {
    child.once("exit", (code, signal) => {
      if (expected() || (code === 0 && signal === null)) return;
      this.childExits++;
      this.errors.push(new Error(`child ${child.pid} exited on its own (code ${code}, signal ${signal})`));
    });
    return this;
  }

  /** Adds crashes counted elsewhere (a child's uncaught exceptions it reported over IPC). */
  add(count: number): void {
    this.reported += count;
  }

  get total(): number {
    return this.uncaught + this.unhandled + this.childExits + this.reported;
  }
}

/** A small seeded PRNG (mulberry32), so a failing random schedule can be replayed with SEED=. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function testSeed(): number {
  const fromEnv = Number(process.env.SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Date.now() % 2 ** 31;
}
