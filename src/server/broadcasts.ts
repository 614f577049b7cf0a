/**
 * Broadcasts (Megaphone): the server-side versions, the per-connection subscription bookkeeping
 * (deltas against what the client says it has, "Broadcast not found" errors) and the poller that
 * GETs the Megaphone API. A version change is pushed to subscribed connections at once rather
 * than on the next WebSocket ping tick as autopush does: the client sees the same frame, sooner.
 */

import type { Logger } from "../log.ts";

const POLL_TIMEOUT = 10_000;

export type BroadcastListener = (changed: ReadonlyMap<string, string>) => void;

/** What a hello reply or a `broadcast` frame carries: deltas, plus `errors` when any id is unknown. */
export type BroadcastPayload = Record<string, string | Record<string, string>>;

export class BroadcastRegistry {
  readonly #versions = new Map<string, string>();
  readonly #listeners = new Set<BroadcastListener>();

  constructor(initial: Record<string, string> = {}) {
    for (const [id, version] of Object.entries(initial)) this.#versions.set(id, version);
  }

  get(id: string): string | undefined {
    return this.#versions.get(id);
  }

  all(): Record<string, string> {
    return Object.fromEntries(this.#versions);
  }

  /** Merge new versions (Megaphone never removes ids); listeners hear only real changes. */
  update(versions: Record<string, string>): void {
    const changed = new Map<string, string>();
    for (const [id, version] of Object.entries(versions)) {
      if (this.#versions.get(id) === version) continue;
      this.#versions.set(id, version);
      changed.set(id, version);
    }
    if (changed.size === 0) return;
    for (const listener of this.#listeners) listener(changed);
  }

  onChange(listener: BroadcastListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Subscribe a connection to the ids the client listed with the versions it has. Returns the
   * payload to send: ids whose server version differs, and unknown ids under `errors`.
   */
  subscribe(subscriptions: Map<string, string>, requested: Record<string, string>): BroadcastPayload {
    const payload: BroadcastPayload = {};
    const errors: Record<string, string> = {};
    for (const [id, clientVersion] of Object.entries(requested)) {
      const version = this.#versions.get(id);
      if (version === undefined) {
        errors[id] = "Broadcast not found";
        continue;
      }
      subscriptions.set(id, version);
      if (version !== clientVersion) payload[id] = version;
    }
    if (Object.keys(errors).length > 0) payload.errors = errors;
    return payload;
  }
}

/** The deltas of a change that concern one connection; updates what it is known to have. */
export function deltaFor(
  subscriptions: Map<string, string>,
  changed: ReadonlyMap<string, string>,
): Record<string, string> | undefined {
  let delta: Record<string, string> | undefined;
  for (const [id, version] of changed) {
    const has = subscriptions.get(id);
    if (has === undefined || has === version) continue;
    subscriptions.set(id, version);
    delta ??= {};
    delta[id] = version;
  }
  return delta;
}

/** Polls the Megaphone API: GET → {"broadcasts": {id: version}}. */
export class MegaphonePoller {
  readonly #url: string;
  readonly #interval: number;
  readonly #registry: BroadcastRegistry;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  #inFlight = false;

  constructor(url: string, interval: number, registry: BroadcastRegistry, logger: Logger) {
    this.#url = url;
    this.#interval = interval;
    this.#registry = registry;
    this.#logger = logger;
  }

  /** First poll is awaited so the first hello already sees the versions; failures only log. */
  async start(): Promise<void> {
    await this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#abort.abort();
  }

  async poll(): Promise<void> {
    // A slow Megaphone must not pile up requests, nor hold up server start for long.
    if (this.#inFlight) return;
    this.#inFlight = true;
    try {
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(POLL_TIMEOUT)]);
      const response = await fetch(this.#url, { signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      this.#registry.update(parseMegaphone(await response.json()));
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      this.#logger.warn(`push-server: megaphone poll failed: ${(err as Error).message}`);
    } finally {
      this.#inFlight = false;
    }
  }
}

function parseMegaphone(body: unknown): Record<string, string> {
  const broadcasts = (body as { broadcasts?: unknown } | null)?.broadcasts;
  if (typeof broadcasts !== "object" || broadcasts === null) throw new Error("no broadcasts object");
  const out: Record<string, string> = {};
  for (const [id, version] of Object.entries(broadcasts)) {
    if (typeof version === "string") out[id] = version;
  }
  return out;
}
