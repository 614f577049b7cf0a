/**
 * What the three walkthrough scripts share: which Chromium, its headless flags, a free port,
 * waiting for the site's page to list a message, and running a script's main() from the shell.
 */

import { createServer } from "node:net";
import type { Page } from "puppeteer-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const HEADLESS_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/** A port free a moment ago on 127.0.0.1 (for --remote-debugging-port, which cannot report 0 back to Playwright). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits until the site's page lists `text` (its service worker posted it). */
export async function waitForMessage(page: Page, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    (expected) =>
      Array.from(document.querySelectorAll("#messages li")).some((li) => li.textContent === expected),
    { timeout },
    text,
  );
}

/** Runs `main` when `moduleURL` is the script node was started with; one line and exit 1 on failure. */
export function runAsScript(moduleURL: string, main: () => Promise<void>): void {
  if (moduleURL !== `file://${process.argv[1]}`) return;
  main().catch((error: unknown) => {
    console.error(`example:chromium-e2e: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
