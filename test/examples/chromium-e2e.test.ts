/**
 * examples/chromium-e2e end to end: each script launches Debian's Chromium, subscribes through
 * the site's own page, sends with the site's own application server and checks what the service
 * worker did. The Playwright and puppeteer scripts' main() runs here (a failed check throws);
 * the sidecar script runs the way its header says (tsx, the package's source condition) and must
 * exit 0. (Spawned, the first two would also pass but linger a minute after "ok": a bridge timer,
 * see test/chromium-testing/helper.test.ts.)
 */

import { afterEach, describe, expect, it } from "vitest";
import { main as playwrightMain } from "../../examples/chromium-e2e/playwright.ts";
import { main as puppeteerMain } from "../../examples/chromium-e2e/puppeteer.ts";
import { killAll, spawnChild } from "../cli/helpers.ts";
import { CHROMIUM, HAS_CHROMIUM } from "../helpers/chromium.ts";

const RUN_TIMEOUT = 90_000;

/** The script as its header says to run it; a hang becomes a failure (the watchdog kills its process group). */
async function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnChild(process.execPath, ["--import", "tsx", "--conditions=push-agent-source", script]);
  const watchdog = setTimeout(killAll, RUN_TIMEOUT);
  const { code } = await child.exited.finally(() => clearTimeout(watchdog));
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

afterEach(killAll);

describe.skipIf(!HAS_CHROMIUM)(
  `examples/chromium-e2e${HAS_CHROMIUM ? "" : ` (SKIPPED: no browser at ${CHROMIUM})`}`,
  () => {
    it(
      "playwright.ts: subscribes in an off-the-record context, the worker shows the notification",
      async () => {
        const lines: string[] = [];
        await playwrightMain((line) => lines.push(line));
        const stdout = `${lines.join("\n")}\n`;
        expect(stdout).toMatch(/^push server ws:\/\/127\.0\.0\.1:\d+\/, bridge attached\n/);
        expect(stdout).toMatch(/\nsubscribed: http:\/\/127\.0\.0\.1:\d+\/wpush\/v2\/\S+\n/);
        expect(stdout).toMatch(/\nthe service worker showed the notification and told the page\nok\n$/);
      },
      RUN_TIMEOUT + 5_000,
    );

    it(
      "puppeteer.ts: subscribes in the default context, the worker tells the page",
      async () => {
        const lines: string[] = [];
        await puppeteerMain((line) => lines.push(line));
        const stdout = `${lines.join("\n")}\n`;
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
