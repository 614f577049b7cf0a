/**
 * Waiting for a count to settle, with a deadline: the drain windows of the fixed mode (pusher.ts)
 * and the scenario runner (runner.ts). The owner calls the waker after every change it makes.
 */

/**
 * Resolves once `settled()` holds (checked now and whenever the waker set through `onChange`
 * runs) or after timeoutMs; `onChange(null)` is called at the end so the owner drops the waker.
 */
export function untilSettled(
  settled: () => boolean,
  timeoutMs: number,
  onChange: (wake: (() => void) | null) => void,
): Promise<void> {
  if (settled() || timeoutMs === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      onChange(null);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    onChange(() => {
      if (settled()) done();
    });
  });
}
