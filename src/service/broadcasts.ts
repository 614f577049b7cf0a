/**
 * Broadcast ("Megaphone") listeners: their handlers, their persisted versions, and the dispatch
 * of versions the server announces in the hello reply or a `broadcast` message. Like Firefox's
 * PushBroadcastService, the listeners live apart from the connection: they can be added before
 * the service starts or while it connects, and the next hello carries them.
 */

import type { PushDB } from "../db/push-db.ts";
import { describeError, type Logger } from "../log.ts";
import { broadcastSubscribeFrame } from "../protocol/messages.ts";
import type { Connection, ConnectionState } from "./connection.ts";

export type BroadcastPhase = "hello" | "register" | "broadcast";
export type BroadcastHandler = (
  version: string,
  id: string,
  context: { phase: BroadcastPhase },
) => unknown | Promise<unknown>;

/** The placeholder version the server uses for "nothing to tell"; never delivered. */
export const NOP_VERSION = "____NOP____";

export class Broadcasts {
  // The maps and the set are made on first use: most services never have a broadcast.
  #handlers: Map<string, BroadcastHandler> | null = null;
  /** The version each listener was added with: what a store that lacks the id gets. */
  #added: Map<string, string> | null = null;
  /** Every known id → version (stored ∪ added): what a hello carries. */
  #versions: Map<string, string> | null = null;
  /** Ids whose broadcast_subscribe is in flight: their first answer has phase "register". */
  #registering: Set<string> | null = null;
  /** The current socket's hello has taken its snapshot: later listeners need a broadcast_subscribe. */
  #helloTaken = false;
  #db: PushDB | null = null;
  #connection: Connection | null = null;
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** The service started: merge with the store (a stored version wins) and persist new ids. */
  async attach(db: PushDB, connection: Connection): Promise<void> {
    const stored = await db.getBroadcasts();
    const versions = new Map(Object.entries(stored));
    const missing: [string, string][] = [];
    for (const [id, version] of this.#added ?? []) {
      const has = versions.get(id);
      if (has === undefined) missing.push([id, version]);
      else if (has !== version) this.#logger.debug(`push: broadcast ${id} keeps its stored version`);
      versions.set(id, has ?? version);
    }
    // Attached before the writes, so a listener added meanwhile is merged and written too.
    this.#versions = versions.size > 0 ? versions : null;
    this.#db = db;
    this.#connection = connection;
    this.#helloTaken = false;
    for (const [id, version] of missing) await db.setBroadcast(id, version);
  }

  /** The service stopped: handlers and versions stay, for the next start. */
  detach(): void {
    this.#db = null;
    this.#connection = null;
    this.#registering = null;
    this.#helloTaken = false;
  }

  /** What the hello about to be sent carries; listeners added after this subscribe on their own. */
  helloBroadcasts(): Record<string, string> {
    this.#helloTaken = true;
    return this.#versions ? Object.fromEntries(this.#versions) : {};
  }

  connectionChanged(state: ConnectionState): void {
    // A new socket builds a new hello, which will carry whatever is known by then.
    if (state === "ShutDown" || state === "WaitingForWebSocket") this.#helloTaken = false;
    // Queued broadcast_subscribe frames die with the socket; the next hello carries those ids.
    if (state === "ShutDown") this.#registering = null;
  }

  async add(id: unknown, version: unknown, handler: unknown): Promise<void> {
    if (typeof id !== "string" || id.length === 0)
      throw new TypeError("broadcast id should be a non-empty string");
    if (typeof version !== "string") throw new TypeError("broadcast version should be a string");
    if (version.length === 0) throw new TypeError("broadcast version should not be an empty string");
    if (typeof handler !== "function") throw new TypeError("broadcast handler should be a function");
    this.#handlers ??= new Map();
    this.#handlers.set(id, handler as BroadcastHandler);
    const known = this.#versions?.get(id);
    if (known !== undefined) {
      if (known !== version) this.#logger.debug(`push: broadcast ${id} keeps its stored version`);
      return;
    }
    this.#added ??= new Map();
    this.#added.set(id, version);
    this.#versions ??= new Map();
    this.#versions.set(id, version);
    const connection = this.#connection;
    // Not started, or the hello is still to be built: that hello carries it.
    if (!connection || !this.#helloTaken) {
      await this.#db?.setBroadcast(id, version);
      return;
    }
    this.#registering ??= new Set();
    this.#registering.add(id);
    connection.sendWhenReady(broadcastSubscribeFrame({ [id]: version }));
    await this.#db?.setBroadcast(id, version);
  }

  async received(
    versions: Map<string, string>,
    errors: Map<string, string>,
    source: "hello" | "broadcast",
  ): Promise<void> {
    for (const [id, reason] of errors) this.#logger.warn(`push: broadcast ${id}: ${reason}`);
    for (const [id, version] of versions) {
      const phase: BroadcastPhase =
        source === "hello" ? "hello" : this.#registering?.has(id) ? "register" : "broadcast";
      this.#registering?.delete(id);
      await this.#deliver(id, version, phase);
    }
  }

  async #deliver(id: string, version: string, phase: BroadcastPhase): Promise<void> {
    if (version === NOP_VERSION) return;
    const handler = this.#handlers?.get(id);
    if (!handler) {
      this.#logger.warn(`push: ignoring broadcast for unknown id ${id}`);
      return;
    }
    try {
      await handler(version, id, { phase });
    } catch (error) {
      this.#logger.error(`push: broadcast handler for ${id} failed: ${describeError(error)}`);
      return;
    }
    if (this.#versions?.get(id) === version) return;
    this.#versions ??= new Map();
    this.#versions.set(id, version);
    await this.#db?.setBroadcast(id, version);
  }
}
