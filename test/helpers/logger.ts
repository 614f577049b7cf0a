/** A logger that keeps every line, so tests can assert on what was (and was not) logged. */

import type { Logger } from "../../src/log.ts";

export interface CapturedLog {
  level: keyof Logger;
  message: string;
}

export function captureLogger(): Logger & { lines: CapturedLog[]; text(): string } {
  const lines: CapturedLog[] = [];
  const log =
    (level: keyof Logger) =>
    (message: string, ...details: unknown[]) => {
      lines.push({ level, message: [message, ...details.map((d) => JSON.stringify(d))].join(" ") });
    };
  return {
    lines,
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    text: () => lines.map((l) => `${l.level}: ${l.message}`).join("\n"),
  };
}
