/**
 * What every subcommand is to the dispatcher: a name, a one-line summary and run(argv, ctx).
 * defineCommand builds one from a CommandSpec, so --help and argument errors behave the same
 * in every subcommand. A command that wants its own parsing can implement Command directly.
 */

import { type CommandSpec, formatHelp, type ParsedValues, parseCommand } from "./args.ts";

export interface Output {
  write(chunk: string): unknown;
}

export interface CliContext {
  stdout: Output;
  stderr: Output;
  stdin: NodeJS.ReadableStream;
  /** Aborted on SIGINT/SIGTERM: long-running commands stop cleanly when it fires. */
  signal: AbortSignal;
  /** Environment variables (default process.env): `send` reads the VAPID private key from one. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface Command {
  name: string;
  summary: string;
  /** Resolves with the exit code. Throws UsageError for bad input (exit 2), anything else exits 1. */
  run(argv: string[], ctx: CliContext): Promise<number>;
}

export interface CommandArgs {
  values: ParsedValues;
  positionals: string[];
}

export function defineCommand(
  spec: CommandSpec,
  run: (args: CommandArgs, ctx: CliContext) => Promise<number>,
): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    async run(argv, ctx) {
      const parsed = parseCommand(spec, argv);
      if (parsed.help) {
        ctx.stdout.write(formatHelp(spec));
        return 0;
      }
      return run({ values: parsed.values, positionals: parsed.positionals }, ctx);
    },
  };
}

/** Resolves when the signal aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
