/**
 * The reconnect backoff of one connection: retryBaseInterval × 2^n after n failed attempts,
 * capped at pingInterval, one timer at a time. A parsed frame from the server, a probe that
 * finds a dead socket and coming back online reset n.
 */

import type { Logger } from "../log.ts";

export interface BackoffOptions {
  retryBaseInterval: number;
  pingInterval: number;
  logger: Logger;
}

export class ReconnectBackoff {
  readonly #options: BackoffOptions;
  /** Attempts since the last reset: the exponent of the next delay. */
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  get failures(): number {
    return this.#failures;
  }

  /** A reconnect is scheduled. */
  get waiting(): boolean {
    return this.#timer !== null;
  }

  reset(): void {
    this.#failures = 0;
  }

  /** Run `attempt` after the next delay, replacing any scheduled one. */
  schedule(attempt: () => void): void {
    this.cancel();
    const { retryBaseInterval, pingInterval, logger } = this.#options;
    const delay = Math.min(retryBaseInterval * 2 ** this.#failures, pingInterval);
    this.#failures++;
    logger.debug(`push: reconnecting in ${delay} ms`);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      attempt();
    }, delay);
  }

  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
