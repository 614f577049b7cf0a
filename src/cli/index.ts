/**
 * The `push-agent` command line: the subcommand table, the dispatcher and the process glue
 * (signals → AbortSignal, exit codes). Run directly (tsx src/cli/index.ts …) it executes; the
 * published bin imports the built copy and calls main().
 *
 * Exit codes: 0 success, 1 failure, 2 bad command-line arguments.
 */

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UsageError } from "./args.ts";
import { browserCommand } from "./browser.ts";
import type { CliContext, Command } from "./command.ts";
import { keysCommand } from "./keys.ts";
import { listenCommand } from "./listen.ts";
import { loadtestCommand } from "./loadtest.ts";
import { sendCommand } from "./send.ts";
import { serveCommand } from "./serve.ts";
import { smokeCommand } from "./smoke.ts";

export type { CliContext, Command } from "./command.ts";

/** Every subcommand; add one here and it is dispatched and listed in --help. */
export const commands: Command[] = [
  serveCommand,
  listenCommand,
  sendCommand,
  keysCommand,
  loadtestCommand,
  smokeCommand,
  browserCommand,
];

/** After a signal, how long a command has to stop cleanly before the process exits anyway. */
const SHUTDOWN_DEADLINE = 10_000;

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "Usage: push-agent <command> [options]",
    "",
    "A Web Push user agent, a local push server and an application-server sender.",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Run `push-agent <command> --help` for the options of a command.",
    "",
  ].join("\n");
}

/** Run one command line; resolves with the exit code. Never throws. */
export async function main(argv: string[], ctx: CliContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? ctx.stderr : ctx.stdout).write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    ctx.stdout.write(`${await version()}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    ctx.stderr.write(`push-agent: unknown command '${name}' (run push-agent --help)\n`);
    return 2;
  }
  try {
    return await command.run(rest, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.stderr.write(`push-agent ${name}: ${error.message} (see push-agent ${name} --help)\n`);
      return 2;
    }
    ctx.stderr.write(`push-agent ${name}: ${describe(error)}\n`);
    return 1;
  }
}

async function version(): Promise<string> {
  const { createRequire } = await import("node:module");
  const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
  return pkg.version;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message}${cause}`;
}

/** The real process: stdio, and SIGINT/SIGTERM turned into an AbortSignal. */
export async function runProcess(argv: string[] = process.argv.slice(2)): Promise<void> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) return;
    controller.abort();
    // A command that cannot stop must not keep a Ctrl+C'd process alive.
    setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A closed stdout (`push-agent listen | head -1`) ends the command like a signal would.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") onSignal();
  });
  const code = await main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    // Lazy: touching process.stdin opens it, and only `send -` reads it.
    get stdin() {
      return process.stdin;
    },
    signal: controller.signal,
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.exitCode = code;
  // Everything is closed by now; this only guards against a stray handle keeping us alive.
  setTimeout(() => process.exit(code), 1_000).unref();
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await runProcess();
