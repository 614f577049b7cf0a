/**
 * Broadcast ("Megaphone") listeners: their handlers, their persisted versions, and the dispatch
 * of versions the server announces in the hello reply or a `broadcast` message.
 */

import type { PushDB } from "../db/push-db.ts";
import { describeError, type Logger } from "../log.ts";
import { broadcastSubscribeFrame } from "../protocol/messages.ts";
import type { Connection } from "./connection.ts";

export type BroadcastPhase = "hello" | "register" | "broadcast";
export type BroadcastHandler = (
  version: string,
  id: string,
  context: { phase: BroadcastPhase },
) => unknown | Promise<unknown>;

/** The placeholder version the server uses for "nothing to tell"; never delivered. */
export const NOP_VERSION = "____NOP____";

export class Broadcasts {
  // Both made on the first broadcast listener: most services never add one.
  #handlers: Map<string, BroadcastHandler> | null = null;
  /** Ids whose broadcast_subscribe is in flight: their first answer has phase "register". */
  #registering: Set<string> | null = null;
  readonly #db: PushDB;
  readonly #connection: Connection;
  readonly #logger: Logger;

  constructor(db: PushDB, connection: Connection, logger: Logger) {
    this.#db = db;
    this.#connection = connection;
    this.#logger = logger;
  }

  async add(id: unknown, version: unknown, handler: unknown): Promise<void> {
    if (typeof id !== "string" || id.length === 0)
      throw new TypeError("broadcast id should be a non-empty string");
    if (typeof version !== "string") throw new TypeError("broadcast version should be a string");
    if (version.length === 0) throw new TypeError("broadcast version should not be an empty string");
    if (typeof handler !== "function") throw new TypeError("broadcast handler should be a function");
    this.#handlers ??= new Map();
    this.#handlers.set(id, handler as BroadcastHandler);
    const stored = (await this.#db.getBroadcasts())[id];
    if (stored !== undefined) {
      if (stored !== version) this.#logger.debug(`push: broadcast ${id} keeps its stored version`);
      return;
    }
    await this.#db.setBroadcast(id, version);
    // In WaitingForWebSocket or ShutDown the next hello carries it; otherwise subscribe now.
    const state = this.#connection.state;
    if (state === "Ready" || state === "WaitingForHello") {
      this.#registering ??= new Set();
      this.#registering.add(id);
      this.#connection.sendWhenReady(broadcastSubscribeFrame({ [id]: version }));
    }
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
    const stored = (await this.#db.getBroadcasts())[id];
    if (stored !== version) await this.#db.setBroadcast(id, version);
  }
}
