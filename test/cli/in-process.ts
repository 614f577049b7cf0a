/** Running a CLI command line in this process (main() with collected output and its own signal). */

import { Readable } from "node:stream";
import { main } from "../../src/cli/index.ts";

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InProcessOptions {
  /** Environment the command sees instead of process.env. */
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Called with stderr so far after every write (to abort once a line appeared). */
  onStderr?: (stderr: string) => void;
}

export async function runMain(
  argv: string[],
  input = "",
  options: InProcessOptions = {},
): Promise<InProcessRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: {
      write: (chunk: string) => {
        stderr += chunk;
        options.onStderr?.(stderr);
        return true;
      },
    },
    stdin: Readable.from([input]),
    signal: options.signal ?? new AbortController().signal,
    ...(options.env ? { env: options.env } : {}),
  });
  return { code, stdout, stderr };
}
