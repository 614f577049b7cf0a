#!/usr/bin/env node
// push-agent's launcher. Installed from npm (no src/ in the package) it runs the compiled CLI in
// dist/. In a checkout it re-runs the TypeScript sources through tsx (a devDependency), with the
// "push-agent-source" condition, so a stale dist/ never hides a change; PUSH_AGENT_USE_DIST=1
// runs the build instead.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const built = new URL("../dist/cli/index.js", import.meta.url);
const checkout = existsSync(new URL("../src/cli/index.ts", import.meta.url));

if (existsSync(built) && (!checkout || process.env.PUSH_AGENT_USE_DIST === "1")) {
  const { runProcess } = await import(built.href);
  await runProcess(process.argv.slice(2));
} else {
  runFromSource();
}

function runFromSource() {
  const source = fileURLToPath(new URL("../src/cli/index.ts", import.meta.url));
  let tsx;
  try {
    // Resolved from this package, not from the caller's working directory.
    tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  } catch {
    process.stderr.write(
      "push-agent: dist/ is missing and tsx is not installed; run `npm run build` first\n",
    );
    process.exit(1);
  }
  const child = spawn(
    process.execPath,
    ["--import", tsx, "--conditions=push-agent-source", source, ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  // The child does the clean shutdown; a second copy of a terminal's Ctrl+C is harmless to it.
  const forward = (signal) => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, forward);
  child.on("error", (error) => {
    process.stderr.write(`push-agent: cannot start ${process.execPath}: ${error.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.off(s, forward);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}
