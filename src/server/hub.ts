/**
 * The shared state between the WebSocket side and the HTTP side (what autoconnect's registry
 * and router port are to autopush): live sessions by uaid, the store, the token codec, the
 * broadcast registry, the clock, and routing of a push to a live session or to storage.
 */

import type { Logger } from "../log.ts";
import type { BroadcastRegistry } from "./broadcasts.ts";
import type { Connection } from "./connection.ts";
import type { ResolvedOptions } from "./options.ts";
import type { MemoryStore, Notification } from "./store.ts";
import type { TokenCodec } from "./tokens.ts";

export type PushOutcome = "direct" | "stored" | "dropped";

export interface HubCounters {
  pushes: number;
  direct: number;
  stored: number;
  dropped: number;
  /** Pushes refused (503) because the state directory could not keep them. */
  refused: number;
}

export class PushHub {
  /** Sessions that completed hello, by uaid: the newest connection wins. */
  readonly sessions = new Map<string, Connection>();
  /** Every open socket, hello'd or not. */
  readonly connections = new Set<Connection>();
  readonly counters: HubCounters = { pushes: 0, direct: 0, stored: 0, dropped: 0, refused: 0 };
  /** Set once the HTTP side is listening. */
  endpointBase = "";
  #lastSortkey = 0;

  constructor(
    readonly options: ResolvedOptions,
    readonly store: MemoryStore,
    readonly codec: TokenCodec,
    readonly broadcasts: BroadcastRegistry,
  ) {
    // A restarted server must not reuse a sortkey (they key stored messages and the read pointer).
    this.#lastSortkey = store.highestSortkey();
  }

  get logger(): Logger {
    return this.options.logger;
  }

  now(): number {
    return this.options.now();
  }

  nowSec(): number {
    return Math.floor(this.options.now() / 1000);
  }

  /** Millisecond sortkeys, strictly increasing so two pushes in one millisecond keep their order. */
  nextSortkey(): number {
    this.#lastSortkey = Math.max(this.#lastSortkey + 1, Math.floor(this.now()));
    return this.#lastSortkey;
  }

  endpointFor(uaid: string, chid: string, vapidKey?: Uint8Array): string {
    const token = this.codec.endpointToken(uaid, chid, vapidKey);
    return `${this.endpointBase}/wpush/${vapidKey ? "v2" : "v1"}/${token}`;
  }

  /**
   * Direct delivery when the UA is connected, else storage while TTL > 0, else dropped. With a
   * state directory "stored" resolves once the message is on disk; when the disk refuses it,
   * nothing is kept and the StateWriteError is thrown (the caller answers 503).
   */
  async route(uaid: string, n: Notification): Promise<PushOutcome> {
    if (this.sessions.get(uaid)?.deliverDirect(n)) return this.#count("direct");
    if (n.ttl === 0) return this.#count("dropped");
    const failure = this.store.failure;
    if (failure) {
      this.counters.refused++;
      throw failure;
    }
    const saved = this.store.save(uaid, n);
    if (!saved) return this.#count("dropped");
    try {
      await this.store.flushed();
    } catch (err) {
      this.store.unsave(uaid, n, saved);
      this.counters.refused++;
      throw err;
    }
    this.sessions.get(uaid)?.checkStorageNudge();
    return this.#count("stored");
  }

  #count(outcome: PushOutcome): PushOutcome {
    this.counters.pushes++;
    this.counters[outcome]++;
    return outcome;
  }

  /** A closing connection's unacked direct messages go to storage with a fresh timestamp. */
  saveUnacked(uaid: string, pending: Notification[]): void {
    let saved = 0;
    for (const n of pending) {
      if (this.store.save(uaid, { ...n, timestamp: this.nowSec(), sortkey: this.nextSortkey() })) saved++;
    }
    if (saved > 0) this.sessions.get(uaid)?.checkStorageNudge();
  }
}
