/**
 * The load test's error collector: thousands of agents failing the same way must give a report
 * of a few lines, so it keeps the first distinct messages with a count each and only counts the
 * rest.
 */

export class ErrorLog {
  readonly #limit: number;
  readonly #messages = new Map<string, number>();
  #others = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(message: string): void {
    const count = this.#messages.get(message);
    if (count !== undefined) this.#messages.set(message, count + 1);
    else if (this.#messages.size < this.#limit) this.#messages.set(message, 1);
    else this.#others++;
  }

  /** "message" or "message (×N)", in first-seen order, then how many others were not kept. */
  lines(): string[] {
    const lines = [...this.#messages].map(([message, count]) =>
      count > 1 ? `${message} (×${count})` : message,
    );
    if (this.#others > 0) lines.push(`… and ${this.#others} more of other kinds`);
    return lines;
  }
}
