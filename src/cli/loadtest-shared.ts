/**
 * What both modes of `push-agent loadtest` share (the fixed mode in loadtest.ts, the plan mode in
 * loadtest-plan.ts): the checked --server URL, decimal and seconds flags, and the progress line.
 * Its own module so that the two modes do not import each other.
 */

import { isLoopbackHost } from "../transport/websocket.ts";
import { booleanOption, type ParsedValues, stringOption, UsageError, urlOption } from "./args.ts";
import type { Output } from "./command.ts";

/** The server URL, checked: wss://, or ws:// to loopback unless --allow-insecure. */
export function serverOption(values: ParsedValues): { serverURL: string; allowInsecure: boolean } {
  const serverURL = urlOption(values, "server", ["ws:", "wss:"]);
  if (serverURL === undefined) throw new UsageError("--server URL is required");
  const allowInsecure = booleanOption(values, "allow-insecure");
  const url = new URL(serverURL);
  if (url.protocol === "ws:" && !allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new UsageError(
      `--server ${url.host} uses ws:// to a non-loopback host; use wss:// or --allow-insecure`,
    );
  }
  return { serverURL, allowInsecure };
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
