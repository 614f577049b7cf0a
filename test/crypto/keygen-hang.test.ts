/**
 * Key generation must never hang the process. Node 20 deadlocks when a GC runs
 * inside KeyObject.export({ format: "jwk" }) after generateKeyPairSync("ec"); the old Node backend
 * did exactly that and hung this child within a few thousand iterations, every run. The child
 * calls the public generateKeys() 50,000 times; the watchdog is minutes above the few seconds it
 * needs, so a kill means a hang, not a slow machine.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("./support/keygen-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ITERATIONS = 50_000;
const WATCHDOG_MS = 180_000;

interface ChildResult {
  code: number | null;
  killedByWatchdog: boolean;
  stdout: string;
  stderr: string;
}

function runChild(): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=push-agent-source", CHILD, String(ITERATIONS)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    let killedByWatchdog = false;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const watchdog = setTimeout(() => {
      killedByWatchdog = true;
      child.kill("SIGKILL");
    }, WATCHDOG_MS);
    child.on("error", (error) => {
      clearTimeout(watchdog);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(watchdog);
      resolve({ code, killedByWatchdog, stdout, stderr });
    });
  });
}

it(
  "generateKeys() 50,000 times with short strings kept alive finishes (no GC deadlock)",
  async () => {
    const result = await runChild();
    const progress = result.stdout.trim().split("\n").at(-1);
    expect(result.killedByWatchdog, `hung; last progress line: ${progress}`).toBe(false);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`done ${ITERATIONS} 4096`);
  },
  WATCHDOG_MS + 10_000,
);
