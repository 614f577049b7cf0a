/**
 * The sidecar walkthrough as one script: a Chromium started on its own with a DevTools port, the
 * `push-agent browser` command attached to it as a separate process, and a user (played by
 * puppeteer-core over the same DevTools port) who subscribes on the site and gets a push.
 *
 *   npx tsx --conditions=push-agent-source examples/chromium-e2e/sidecar.ts
 *
 * By hand it is (see README.md): `push-agent serve`, `chromium --remote-debugging-port=9222`,
 * `push-agent browser --cdp http://127.0.0.1:9222 --server ws://127.0.0.1:8080/`.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";
import { createPushServer } from "push-agent/server";
import { startAppServer } from "./app-server.ts";
import { CHROMIUM, HEADLESS_ARGS, runAsScript, waitForMessage } from "./shared.ts";

const PUSH_AGENT = fileURLToPath(new URL("../../bin/push-agent.js", import.meta.url));
const WAIT = 30_000;

/** Resolves with the first match of `pattern` in the stream's text; rejects on exit or after WAIT. */
function waitForLine(
  child: ChildProcess,
  stream: "stdout" | "stderr",
  pattern: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} from the process: ${text}`)), WAIT);
    child[stream]?.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
      const match = pattern.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the process exited (${code}) before ${pattern}: ${text}`));
    });
  });
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "push-agent-sidecar-"));
  const pushServer = await createPushServer({ host: "127.0.0.1", port: 0 }); // = push-agent serve
  const site = await startAppServer();
  const children: ChildProcess[] = [];
  try {
    // 1. The browser, started the usual way plus a DevTools port.
    const chromium = spawn(
      CHROMIUM,
      [
        "--headless",
        ...HEADLESS_ARGS,
        "--remote-debugging-port=0",
        `--user-data-dir=${path.join(dir, "profile")}`,
        "about:blank",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    children.push(chromium);
    const [, wsURL] = await waitForLine(chromium, "stderr", /DevTools listening on (ws:\/\/\S+)/);
    const cdpURL = `http://${new URL(wsURL ?? "").host}`;

    // 2. The sidecar: push-agent browser --cdp … --server … --state …
    const sidecar = spawn(
      process.execPath,
      [
        PUSH_AGENT,
        "browser",
        "--cdp",
        cdpURL,
        "--server",
        pushServer.url,
        "--state",
        path.join(dir, "state"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(sidecar);
    const [attached] = await waitForLine(sidecar, "stdout", /^attached to .*\n/);
    log(attached?.trim() ?? "");

    // 3. The user: allows notifications, opens the site, clicks "Get notified".
    const browser = await puppeteer.connect({ browserURL: cdpURL });
    await browser.setPermission(site.origin, { permission: { name: "notifications" }, state: "granted" });
    const page = await browser.newPage();
    await page.goto(site.origin);
    await page.waitForSelector("#subscribe:not([disabled])", { timeout: WAIT });
    await page.click("#subscribe");
    const [subscription] = await site.waitForSubscriptions(1, WAIT);
    assert.ok(subscription, "the page posted its subscription");
    assert.ok(subscription.endpoint.startsWith(pushServer.endpointURL), "the endpoint is the push server's");
    log(`subscribed: ${subscription.endpoint}`);

    // 4. The site's server sends; the site's worker tells the page.
    assert.deepEqual(await site.notifyAll({ title: "Sidecar", body: "works" }), [201]);
    await waitForMessage(page, "Sidecar: works", WAIT);
    log("the service worker told the page");
    await browser.disconnect();

    // 5. Ctrl+C (SIGTERM here) stops the sidecar with exit code 0.
    const exited = new Promise<number | null>((resolve) => sidecar.once("exit", resolve));
    sidecar.kill("SIGTERM");
    assert.equal(await exited, 0);
    log("sidecar stopped");
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.all(
      children.map((child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise((resolve) => child.once("exit", resolve))
          : null,
      ),
    );
    await site.close();
    await pushServer.close();
    await rm(dir, { recursive: true, force: true });
  }
  log("ok");
}

runAsScript(import.meta.url, () => main());
