/**
 * Wake-up detection without an embedder hook: timers do not run while the machine sleeps, but
 * the wall clock does, so a timer due every `interval` ms that finds the clock jumped more than
 * WAKE_SLACK past it reports a sleep. All detectors of a process with the same interval share one
 * timer (a timer per service was about 0.5 KB of every idle agent, issue 15); it is cleared when
 * the last of them stops.
 */

/** A wall-clock gap this much longer than the check's period means the machine slept. */
export const WAKE_SLACK = 30_000;

/** One shared timer and the detectors it checks for. */
interface WakeGroup {
  /** Clears the timer with the clearInterval of the setInterval that armed it. */
  cancel: () => void;
  /** When the timer last ran (or was armed). */
  last: number;
  members: Set<WakeDetector>;
}

export class WakeDetector {
  /**
   * Groups by the runtime's current setInterval, then by interval: fake timers (tests) replace
   * setInterval, and a detector started under them must not join a timer they do not drive.
   */
  static readonly #groups = new Map<typeof setInterval, Map<number, WakeGroup>>();

  readonly #interval: number;
  readonly #onWake: (gapMs: number) => void;
  #group: WakeGroup | null = null;
  /** When this detector started: a sleep before then is not its to report. */
  #since = 0;

  /** `interval` 0 disables the detector. */
  constructor(interval: number, onWake: (gapMs: number) => void) {
    this.#interval = interval;
    this.#onWake = onWake;
  }

  /** How many shared timers are armed (for tests: none once every detector stopped). */
  static get activeTimers(): number {
    let count = 0;
    for (const byInterval of WakeDetector.#groups.values()) count += byInterval.size;
    return count;
  }

  start(): void {
    if (this.#group || this.#interval <= 0) return;
    this.#since = Date.now();
    this.#group = WakeDetector.#join(this.#interval);
    this.#group.members.add(this);
  }

  stop(): void {
    const group = this.#group;
    if (!group) return;
    this.#group = null;
    group.members.delete(this);
    if (group.members.size > 0) return;
    group.cancel();
    for (const [schedule, byInterval] of WakeDetector.#groups) {
      if (byInterval.get(this.#interval) !== group) continue;
      byInterval.delete(this.#interval);
      if (byInterval.size === 0) WakeDetector.#groups.delete(schedule);
    }
  }

  static #join(interval: number): WakeGroup {
    const schedule = setInterval;
    let byInterval = WakeDetector.#groups.get(schedule);
    if (!byInterval) {
      byInterval = new Map();
      WakeDetector.#groups.set(schedule, byInterval);
    }
    const existing = byInterval.get(interval);
    if (existing) return existing;
    const clear = clearInterval;
    const group: WakeGroup = { cancel: () => {}, last: Date.now(), members: new Set() };
    const timer = schedule(() => WakeDetector.#check(group, interval), interval);
    // Plain calls: browsers refuse setInterval and clearInterval called as methods of another object.
    group.cancel = () => clear(timer);
    // Never what keeps a Node process alive.
    (timer as { unref?: () => void }).unref?.();
    byInterval.set(interval, group);
    return group;
  }

  static #check(group: WakeGroup, interval: number): void {
    const now = Date.now();
    const previous = group.last;
    group.last = now;
    for (const detector of [...group.members]) {
      const gap = now - Math.max(previous, detector.#since);
      if (gap > interval + WAKE_SLACK) detector.#onWake(gap);
    }
  }
}
