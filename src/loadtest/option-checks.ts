/**
 * The load tester's option checks, shared by the fixed mode (fixed.ts) and the scenario mode
 * (runner.ts): a bad value throws a one-line TypeError or RangeError naming the option.
 * Durations stop below 2³¹ ms, where setTimeout would fire at once.
 */

/** setTimeout's limit: longer delays fire at once. */
export const MAX_DELAY = 2_147_483_647;

/** The drain window's default: long enough for a busy server's last deliveries, short enough to wait for. */
export const DEFAULT_DRAIN_MS = 5_000;

export function whole(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function milliseconds(name: string, value: unknown, zeroAllowed: boolean): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`);
  const low = zeroAllowed ? value >= 0 : value > 0;
  if (!low || value > MAX_DELAY) {
    const bound = zeroAllowed ? "≥ 0" : "> 0";
    throw new RangeError(
      `${name} must be a number of milliseconds ${bound} and ≤ ${MAX_DELAY}, got ${value}`,
    );
  }
  return value;
}
