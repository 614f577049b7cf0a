/**
 * Running the CLI as a real child process: `node bin/push-agent.js …` (which, without dist/,
 * re-runs itself through tsx). Output is collected as it arrives, tests wait on what the child
 * prints or on its exit, and killAll() ends whatever a test left running.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/push-agent.js", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the child exits first. */
  waitForStdout(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The same for stderr. */
  waitForStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<Exit>;
}

const running = new Set<ChildProcess>();

/** Spawn any command line in its own process group, so killAll() also reaches grandchildren. */
export function spawnChild(command: string, args: string[], options: { input?: string } = {}): Child {
  const child = spawn(command, args, { cwd: ROOT, stdio: "pipe", detached: true, env: childEnv() });
  running.add(child);
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  if (options.input !== undefined) child.stdin.end(options.input);
  else child.stdin.end();
  const exited = new Promise<Exit>((resolve) => {
    child.once("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const waitFor = (stream: NodeJS.ReadableStream, text: () => string) => (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = text().match(pattern);
        if (!match) return false;
        stream.off("data", check);
        resolve(match);
        return true;
      };
      if (check()) return;
      stream.on("data", check);
      void exited.then(({ code, signal }) => {
        if (!check())
          reject(new Error(`exited (${code ?? signal}) before printing ${pattern}\n${out}\n${err}`));
      });
    });
  const waitForStdout = waitFor(child.stdout, () => out);
  const waitForStderr = waitFor(child.stderr, () => err);
  return { process: child, stdout: () => out, stderr: () => err, waitForStdout, waitForStderr, exited };
}

export function runCli(args: string[], options: { input?: string } = {}): Child {
  return spawnChild(process.execPath, [BIN, ...args], options);
}

/** Run to completion. */
export async function cli(
  args: string[],
  options: { input?: string } = {},
): Promise<Exit & { stdout: string; stderr: string }> {
  const child = runCli(args, options);
  const exit = await child.exited;
  return { ...exit, stdout: child.stdout(), stderr: child.stderr() };
}

/** Kill every child (and its process group) a test left running. */
export function killAll(): void {
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  running.clear();
}

/** vitest sets variables (e.g. NODE_OPTIONS with its own loaders) that a plain CLI must not inherit. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.VITEST;
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  delete env.TEST;
  return env;
}

/** The pretty-printed subscription JSON that `listen` prints first: everything up to a line "}". */
export const SUBSCRIPTION_JSON = /^\{\n[\s\S]*?\n\}\n/;
