/**
 * The Chromium the browser suites drive: Debian's /usr/bin/chromium (or CHROMIUM_PATH), with the
 * flags that keep a headless run quiet and offline. playwright-core never downloads a browser.
 */

import { existsSync } from "node:fs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const HAS_CHROMIUM = existsSync(CHROMIUM);

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
];
