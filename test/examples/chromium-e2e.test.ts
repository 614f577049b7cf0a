/**
 * examples/chromium-e2e end to end: each script, run the way its header says (tsx, the package's
 * source condition), launches Debian's Chromium, subscribes through the site's own page, sends
 * with the site's own application server and checks what the service worker did; it exits 0 only
 * when every check held.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CHROMIUM, HAS_CHROMIUM } from "../helpers/chromium.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RUN_TIMEOUT = 90_000;

function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--conditions=push-agent-source", script], {
      cwd: ROOT,
      env: { ...process.env, CHROMIUM_PATH: CHROMIUM },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const watchdog = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} did not finish in ${RUN_TIMEOUT} ms: ${stdout}${stderr}`));
    }, RUN_TIMEOUT);
    child.once("exit", (code) => {
      clearTimeout(watchdog);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!HAS_CHROMIUM)(
  `examples/chromium-e2e${HAS_CHROMIUM ? "" : ` (SKIPPED: no browser at ${CHROMIUM})`}`,
  () => {
    it(
      "playwright.ts: subscribes in an off-the-record context, the worker shows the notification",
      async () => {
        const { code, stdout, stderr } = await run("examples/chromium-e2e/playwright.ts");
        expect(stderr).toBe("");
        expect(code).toBe(0);
        expect(stdout).toMatch(/^push server ws:\/\/127\.0\.0\.1:\d+\/, bridge attached\n/);
        expect(stdout).toMatch(/\nsubscribed: http:\/\/127\.0\.0\.1:\d+\/wpush\/v2\/\S+\n/);
        expect(stdout).toMatch(/\nthe service worker showed the notification and told the page\nok\n$/);
      },
      RUN_TIMEOUT + 5_000,
    );

    it(
      "puppeteer.ts: subscribes in the default context, the worker tells the page",
      async () => {
        const { code, stdout, stderr } = await run("examples/chromium-e2e/puppeteer.ts");
        expect(stderr).toBe("");
        expect(code).toBe(0);
        expect(stdout).toMatch(/\nthe service worker told the page\nok\n$/);
      },
      RUN_TIMEOUT + 5_000,
    );

    it(
      "sidecar.ts: a separately started Chromium, `push-agent browser` attached to it, a push, exit 0 on SIGTERM",
      async () => {
        const { code, stdout, stderr } = await run("examples/chromium-e2e/sidecar.ts");
        expect(stderr).toBe("");
        expect(code).toBe(0);
        expect(stdout).toMatch(
          /^attached to http:\/\/127\.0\.0\.1:\d+ \(\d+ pages, \d+ service workers\); pushes through ws:\/\/127\.0\.0\.1:\d+\/\n/,
        );
        expect(stdout).toMatch(/\nthe service worker told the page\nsidecar stopped\nok\n$/);
      },
      RUN_TIMEOUT + 5_000,
    );
  },
);
