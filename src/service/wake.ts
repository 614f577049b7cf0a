/**
 * Wake-up detection without an embedder hook: timers do not run while the machine sleeps, but
 * the wall clock does, so a timer due every `interval` ms that finds the clock jumped more than
 * WAKE_SLACK past it reports a sleep.
 */

/** A wall-clock gap this much longer than the check's period means the machine slept. */
export const WAKE_SLACK = 30_000;

export class WakeDetector {
  readonly #interval: number;
  readonly #onWake: (gapMs: number) => void;
  #timer: ReturnType<typeof setInterval> | null = null;
  #last = 0;

  /** `interval` 0 disables the detector. */
  constructor(interval: number, onWake: (gapMs: number) => void) {
    this.#interval = interval;
    this.#onWake = onWake;
  }

  start(): void {
    if (this.#timer || this.#interval <= 0) return;
    this.#last = Date.now();
    this.#timer = setInterval(() => this.#check(), this.#interval);
    // Never what keeps a Node process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #check(): void {
    const now = Date.now();
    const gap = now - this.#last;
    this.#last = now;
    if (gap > this.#interval + WAKE_SLACK) this.#onWake(gap);
  }
}
