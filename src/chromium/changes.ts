/**
 * Waiting for browser state with a deadline: callers state a condition over what the bridge
 * knows; every change the bridge hears re-checks the waiting conditions. No polling, no sleeps.
 */

export class WaitTimeout extends Error {
  override readonly name = "WaitTimeout";
}

export class Changes {
  readonly #waiters = new Set<() => void>();

  /** Something changed: every waiter re-checks its condition. */
  notify(): void {
    for (const check of [...this.#waiters]) check();
  }

  /**
   * Resolves with the condition's first truthy value; rejects with WaitTimeout after `ms`. A
   * `signal` ends the wait early (rejecting with the signal's reason), so a waiter that lost a
   * race leaves no timer behind.
   */
  until<T>(
    condition: () => T | null | undefined | false,
    ms: number,
    what: string,
    signal?: AbortSignal,
  ): Promise<T> {
    const now = condition();
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = condition();
        if (!value) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new WaitTimeout(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const abandon = () => {
        done();
        reject(signal?.reason);
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal?.removeEventListener("abort", abandon);
      };
      this.#waiters.add(check);
      signal?.addEventListener("abort", abandon, { once: true });
    });
  }
}

/** The promise's outcome, or a WaitTimeout after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeout(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
