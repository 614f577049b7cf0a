/**
 * What both modes of `push-agent loadtest` share (the fixed mode in loadtest.ts, the plan mode in
 * loadtest-plan.ts): the checked --server URL, decimal and seconds flags, and the progress line.
 * Its own module so that the two modes do not import each other.
 */

import { type ParsedValues, stringOption, UsageError } from "./args.ts";
import type { Output } from "./command.ts";
import { serverOptions } from "./listen.ts";

/** The server URL, required here (no default), checked as listen checks it. */
export function serverOption(values: ParsedValues): { serverURL: string; allowInsecure: boolean } {
  if (values.server === undefined) throw new UsageError("--server URL is required");
  return serverOptions(values);
}

/** A plain decimal number ("2", "0.5"); no signs, exponents or units. */
export function decimalOption(values: ParsedValues, name: string, range: { min: number; max: number }) {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= range.min && value <= range.max)) {
    throw new UsageError(`--${name} must be a number from ${range.min} to ${range.max}, got '${text}'`);
  }
  return value;
}

/** Seconds as a decimal, returned in ms; at most a day. */
export function secondsOption(values: ParsedValues, name: string, zeroAllowed: boolean): number | undefined {
  const seconds = decimalOption(values, name, { min: 0, max: 86_400 });
  if (seconds === undefined) return undefined;
  const ms = Math.round(seconds * 1000);
  if (ms === 0 && !zeroAllowed) throw new UsageError(`--${name} must be more than 0 seconds`);
  return ms;
}

export interface StatusLine {
  /** A line of its own (clears an in-place line first). */
  line(text: string): void;
  /** Overwrite the in-place line (terminals only). */
  update(text: string): void;
  /** Finish an in-place line, if one is showing. */
  end(): void;
}

export function statusLine(out: Output, tty: boolean): StatusLine {
  let showing = false;
  const clear = () => {
    if (showing) out.write("\r\x1b[K");
    showing = false;
  };
  return {
    line(text) {
      clear();
      out.write(`${text}\n`);
    },
    update(text) {
      out.write(`\r${text}\x1b[K`);
      showing = true;
    },
    end() {
      if (showing && tty) out.write("\n");
      showing = false;
    },
  };
}
