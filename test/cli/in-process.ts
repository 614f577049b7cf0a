/** Running a CLI command line in this process (main() with collected output and its own signal). */

import { Readable } from "node:stream";
import { main } from "../../src/cli/index.ts";

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runMain(argv: string[], input = ""): Promise<InProcessRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from([input]),
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}
