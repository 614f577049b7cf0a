/**
 * Wake-up detection without an embedder hook: timers do not run while the machine sleeps, but
 * the wall clock does, so a timer due every `interval` ms that finds the clock jumped more than
 * WAKE_SLACK past it reports a sleep. All detectors of a process with the same interval share one
 * timer (SharedWakeTimers below; a timer per service was about 0.5 KB of every idle agent); it is
 * cleared when the last of them stops.
 */

/** A wall-clock gap this much longer than the check's period means the machine slept. */
export const WAKE_SLACK = 30_000;

/**
 * The timer functions in effect when a detector starts. Test fake timers (vitest's
 * useFakeTimers) replace the globals; a detector started under them must share a timer they
 * drive, never one armed earlier on the real clock, and the other way round.
 */
interface Clock {
  setInterval: typeof setInterval;
  clearInterval: typeof clearInterval;
}

function currentClock(): Clock {
  return { setInterval, clearInterval };
}

/** One shared timer and the detectors it checks for. */
interface WakeGroup {
  /** Clears the timer with the clearInterval of the clock that armed it. */
  cancel: () => void;
  /** When the timer last ran (or was armed). */
  last: number;
  members: Set<WakeDetector>;
}

/**
 * The process's shared wake timers, one per (clock, interval). The clock is told apart by its
 * setInterval function itself: that is what a fake-timer install swaps, so no hook into the
 * test runner is needed to notice it.
 */
class SharedWakeTimers {
  readonly #byClock = new Map<typeof setInterval, Map<number, WakeGroup>>();
  /** What each timer runs: the check of its group's detectors. */
  readonly #check: (group: WakeGroup, interval: number) => void;

  constructor(check: (group: WakeGroup, interval: number) => void) {
    this.#check = check;
  }

  get size(): number {
    let count = 0;
    for (const byInterval of this.#byClock.values()) count += byInterval.size;
    return count;
  }

  /** The group for `interval` on the current clock, its timer armed on first use. */
  join(interval: number): WakeGroup {
    const clock = currentClock();
    let byInterval = this.#byClock.get(clock.setInterval);
    if (!byInterval) {
      byInterval = new Map();
      this.#byClock.set(clock.setInterval, byInterval);
    }
    const existing = byInterval.get(interval);
    if (existing) return existing;
    const group: WakeGroup = { cancel: () => {}, last: Date.now(), members: new Set() };
    const { setInterval: schedule, clearInterval: clear } = clock;
    const timer = schedule(() => this.#check(group, interval), interval);
    // Plain calls: browsers refuse setInterval and clearInterval called as methods of another object.
    group.cancel = () => clear(timer);
    // Never what keeps a Node process alive.
    (timer as { unref?: () => void }).unref?.();
    byInterval.set(interval, group);
    return group;
  }

  /** The group's last member left: clear its timer and forget it. */
  release(group: WakeGroup, interval: number): void {
    group.cancel();
    for (const [schedule, byInterval] of this.#byClock) {
      if (byInterval.get(interval) !== group) continue;
      byInterval.delete(interval);
      if (byInterval.size === 0) this.#byClock.delete(schedule);
    }
  }
}

export class WakeDetector {
  static readonly #timers = new SharedWakeTimers((group, interval) => WakeDetector.#check(group, interval));

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
    return WakeDetector.#timers.size;
  }

  start(): void {
    if (this.#group || this.#interval <= 0) return;
    this.#since = Date.now();
    this.#group = WakeDetector.#timers.join(this.#interval);
    this.#group.members.add(this);
  }

  stop(): void {
    const group = this.#group;
    if (!group) return;
    this.#group = null;
    group.members.delete(this);
    if (group.members.size === 0) WakeDetector.#timers.release(group, this.#interval);
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
