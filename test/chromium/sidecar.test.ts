/**
 * `push-agent browser`, the sidecar, as a process against a running Chromium: it attaches with one
 * line, the browser's pages subscribe and its service worker gets pushes; it exits 0 when the
 * browser closes; after a restart of both with the same profile and the same --state, the page's
 * getSubscription() is the same and pushes (one sent while nothing ran) keep arriving. Bad
 * endpoints and an unreachable push server get one-line errors.
 */

import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { killAll, runCli } from "../cli/helpers.ts";
import { Driver, HAS_CHROMIUM, launchChromium, SETUP_TIMEOUT, Site, suiteName } from "./harness.ts";

let workdir: string;
let pushServer: PushServer;
let site: Site;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(!HAS_CHROMIUM)(suiteName("push-agent browser (the sidecar)"), () => {
  beforeAll(async () => {
    workdir = await mkdtemp(path.join(tmpdir(), "push-agent-sidecar-"));
    [pushServer, site] = await Promise.all([createPushServer({ port: 0, host: "127.0.0.1" }), Site.start()]);
  }, SETUP_TIMEOUT);

  afterAll(async () => {
    killAll();
    await site?.close();
    await pushServer?.close();
    await rm(workdir, { recursive: true, force: true });
  });

  it(
    "survives a restart of Chromium and the sidecar: same subscription, pushes keep arriving",
    async () => {
      const profile = path.join(workdir, "profile");
      const state = path.join(workdir, "state");
      // CDP's permission overrides last as long as the DevTools client that set them: the user's
      // grant is made again in each run, before the sidecar attaches, and outlives the sidecar.
      const run = async () => {
        const chromium = await launchChromium(profile);
        const driver = await Driver.connect(chromium.wsURL);
        await driver.grant(site.origin, "granted");
        const sidecar = runCli([
          "browser",
          "--cdp",
          chromium.httpURL,
          "--server",
          pushServer.url,
          "--state",
          state,
        ]);
        const [line] = await sidecar.waitForStdout(/^attached to .*\n/);
        expect(line).toMatch(
          /^attached to http:\/\/127\.0\.0\.1:\d+ \(\d+ pages, \d+ service workers\); pushes through ws:/,
        );
        return { chromium, sidecar, driver };
      };

      // First run: subscribe, one push, then the browser goes away and the sidecar exits 0.
      const first = await run();
      const page = await first.driver.open(site.url);
      await page.value("register()");
      const subscription = await page.value<{ endpoint: string }>(
        `subscribe(${JSON.stringify(site.vapid.publicKey)})`,
      );
      expect(await site.send(site.subscriptions[0]!, "first run")).toBe(201);
      await site.until(() => site.received.length === 1, "the first run's push");
      await first.chromium.close();
      await first.driver.close();
      expect(await first.sidecar.exited).toEqual({ code: 0, signal: null });
      expect(first.sidecar.stdout().split("\n").filter(Boolean)).toHaveLength(1);
      expect((await stat(state)).mode & 0o777).toBe(0o700);

      // Nothing runs: the server keeps this one for the next session.
      expect(await site.send(site.subscriptions[0]!, "while nothing ran")).toBe(201);

      // Second run, same profile and state: the stored push arrives with no page open. The first
      // run's push may come again: the browser closed right after the worker reported it, possibly
      // before its ack left (at-least-once), and never anything else.
      const second = await run();
      const texts = () => site.received.map((r) => r.text);
      await site.until(() => texts().includes("while nothing ran"), "the push sent while nothing ran");
      const again = await second.driver.open(site.url);
      const resumed = await again.value<{ endpoint: string } | null>(
        "navigator.serviceWorker.ready.then((r) => r.pushManager.getSubscription()).then((s) => s && s.toJSON())",
      );
      expect(resumed?.endpoint).toBe(subscription.endpoint);
      expect(await site.send(site.subscriptions[0]!, "second run")).toBe(201);
      await site.until(() => texts().includes("second run"), "the second run's push");
      expect(site.received.every((r) => r.isPushEvent && r.isTrusted)).toBe(true);
      expect(texts().filter((t) => t !== "first run")).toEqual(["while nothing ran", "second run"]);
      expect(texts().filter((t) => t === "first run").length).toBeLessThanOrEqual(2);

      // SIGTERM: detaches, exits 0.
      second.sidecar.process.kill("SIGTERM");
      expect(await second.sidecar.exited).toEqual({ code: 0, signal: null });
      await second.driver.close();
      await second.chromium.close();
    },
    SETUP_TIMEOUT * 2,
  );

  it("says in one line that no browser is at the URL", async () => {
    const sidecar = runCli([
      "browser",
      "--cdp",
      `http://127.0.0.1:${await closedPort()}`,
      "--state",
      path.join(workdir, "s1"),
    ]);
    expect((await sidecar.exited).code).toBe(1);
    expect(sidecar.stderr()).toMatch(/^push-agent browser: no browser at http:\/\/127\.0\.0\.1:\d+: .*\n$/);
  });

  it("says in one line that a page's endpoint is not the browser's", async () => {
    const port = await closedPort();
    const sidecar = runCli([
      "browser",
      "--cdp",
      `ws://127.0.0.1:${port}/devtools/page/ABC`,
      "--state",
      path.join(workdir, "s2"),
    ]);
    expect((await sidecar.exited).code).toBe(1);
    expect(sidecar.stderr()).toMatch(/^push-agent browser: ws:\/\/\S+ is not a browser-level endpoint.*\n$/);
  });

  it(
    "says in one line that the push server is unreachable",
    async () => {
      const chromium = await launchChromium(path.join(workdir, "profile-unreachable"));
      try {
        const server = `ws://127.0.0.1:${await closedPort()}/`;
        const sidecar = runCli([
          "browser",
          "--cdp",
          chromium.wsURL,
          "--server",
          server,
          "--state",
          path.join(workdir, "s3"),
        ]);
        expect((await sidecar.exited).code).toBe(1);
        expect(sidecar.stderr()).toMatch(
          /^push-agent browser: cannot reach the push server at ws:\/\/127\.0\.0\.1:\d+\/: .*\n$/,
        );
      } finally {
        await chromium.close();
      }
    },
    SETUP_TIMEOUT,
  );
});
