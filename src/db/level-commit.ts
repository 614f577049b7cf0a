/**
 * The LevelDB store's group commit: at most one batch in flight, and every change staged
 * meanwhile (or in the same tick) goes to disk together in the next one. Changes decided but not
 * yet written stay in an overlay that later decisions read through. A failed batch fails every
 * change staged with it and the ones queued behind it.
 */

import type { ClassicLevel } from "classic-level";

export type Level = ClassicLevel<string, string>;
/** A staged change: a string to put, undefined to delete. */
export type Value = string | undefined;
type BatchOp = { type: "put"; key: string; value: string } | { type: "del"; key: string };

/** What the commit counts (the store's LevelPushDBStats). */
interface CommitStats {
  batches: number;
  writes: number;
}

export interface Pending {
  value: Value;
  seq: number;
}

interface Batch {
  /**
   * The newest staged change per key. A batch is applied atomically, so writing only the last
   * value of a key changed many times in one batch (a busy channel's pushCount) is the same.
   */
  changes: Map<string, Pending>;
  writes: number;
  done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/** Group commit: at most one batch in flight; everything staged meanwhile forms the next one. */
export class GroupCommit {
  /** Staged changes not yet on disk, newest per key. */
  readonly overlay = new Map<string, Pending>();
  /** Bumped when a batch fails; decisions that straddle a failure are rejected. */
  epoch = 0;
  failure: unknown = null;
  #seq = 0;
  #open: Batch | null = null;
  #inflight: Batch | null = null;
  readonly #db: Level;
  readonly #sync: boolean;
  readonly #stats: CommitStats;

  constructor(db: Level, sync: boolean, stats: CommitStats) {
    this.#db = db;
    this.#sync = sync;
    this.#stats = stats;
  }

  stage(changes: ReadonlyMap<string, Value>): Promise<void> {
    if (!this.#open) {
      this.#open = newBatch();
      // Let the rest of this tick's mutations join before writing.
      if (!this.#inflight) setImmediate(() => this.#flush());
    }
    const batch = this.#open;
    for (const [key, value] of changes) {
      const pending = { value, seq: ++this.#seq };
      this.overlay.set(key, pending);
      batch.changes.set(key, pending);
    }
    batch.writes++;
    return batch.done;
  }

  /** Resolves once everything staged so far is on disk. */
  barrier(): Promise<void> {
    return (this.#open ?? this.#inflight)?.done ?? Promise.resolve();
  }

  async drain(): Promise<void> {
    for (let batch = this.#open ?? this.#inflight; batch; batch = this.#open ?? this.#inflight) {
      await batch.done.catch(() => {});
    }
  }

  #flush(): void {
    if (this.#inflight || !this.#open) return;
    const batch = this.#open;
    this.#open = null;
    this.#inflight = batch;
    const ops: BatchOp[] = [];
    for (const [key, { value }] of batch.changes) {
      ops.push(value === undefined ? { type: "del", key } : { type: "put", key, value });
    }
    this.#db.batch(ops, { sync: this.#sync }).then(
      () => this.#finish(batch, null),
      (err: unknown) => this.#finish(batch, err ?? new Error("LevelDB batch failed")),
    );
  }

  #finish(batch: Batch, err: unknown): void {
    this.#inflight = null;
    if (err) {
      this.#fail(batch, err);
      return;
    }
    for (const [key, { seq }] of batch.changes) {
      if (this.overlay.get(key)?.seq === seq) this.overlay.delete(key);
    }
    this.#stats.batches++;
    this.#stats.writes += batch.writes;
    this.#flush();
    batch.resolve();
  }

  /** The overlay may now hold changes that never reach the disk: drop them and everything built on them. */
  #fail(batch: Batch, err: unknown): void {
    this.epoch++;
    this.failure = err;
    const queued = this.#open;
    this.#open = null;
    this.overlay.clear();
    batch.reject(err);
    queued?.reject(err);
  }
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Every writer awaits `done`; this only keeps a batch nobody waits on from being reported.
  done.catch(() => {});
  return { changes: new Map(), writes: 0, done, resolve, reject };
}
