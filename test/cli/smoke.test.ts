/**
 * `push-agent smoke`: every check passes against `push-agent serve` run as a process, --json
 * gives the same results as data, and a server whose endpoint accepts pushes without delivering
 * them fails the push checks (exit 1), with the checks that needed them skipped.
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { SmokeResult } from "../../src/loadtest/smoke.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { killAll, runCli } from "./helpers.ts";
import { runMain } from "./in-process.ts";

afterEach(killAll);

const run = (argv: string[]) => runMain(argv);

const CHECKS = 14;

describe("push-agent smoke", () => {
  it("passes every check against push-agent serve, one line each, exit 0", async () => {
    const serve = runCli(["serve", "--port", "0"]);
    const [, wsURL] = await serve.waitForStdout(/push server listening at (ws:\/\/127\.0\.0\.1:\d+\/)\n/);
    const smoke = runCli(["smoke", "--server", wsURL!]);
    const exit = await smoke.exited;
    expect(smoke.stderr()).toBe("");
    expect(exit.code, smoke.stdout()).toBe(0);
    const lines = smoke.stdout().trimEnd().split("\n");
    expect(lines).toHaveLength(CHECKS + 1);
    expect(lines.slice(0, CHECKS).every((line) => line.startsWith("PASS  "))).toBe(true);
    expect(lines).toContain("PASS  push to an unregistered endpoint is refused (410)");
    expect(lines.at(-1)).toBe(`${CHECKS} passed, 0 failed, 0 skipped`);
    serve.process.kill("SIGTERM");
    await serve.exited;
  });

  describe("in process", () => {
    let server: PushServer | null = null;
    let fake: Server | null = null;

    afterEach(async () => {
      await server?.close();
      await new Promise((resolve) => (fake ? fake.close(resolve) : resolve(null)));
      server = null;
      fake = null;
    });

    it("--json prints every result, and a broadcast the server knows is answered with its version", async () => {
      server = await createPushServer({ port: 0, broadcasts: { "check/bc": "v7" } });
      const result = await run(["smoke", "--server", server.url, "--json", "--broadcast", "check/bc"]);
      expect(result.code, result.stdout).toBe(0);
      const { results } = JSON.parse(result.stdout) as { results: SmokeResult[] };
      expect(results).toHaveLength(CHECKS);
      expect(results.map((r) => r.status)).toEqual(Array(CHECKS).fill("PASS"));
      expect(results.at(-1)).toMatchObject({
        name: "broadcast_subscribe is answered",
        detail: "check/bc v7",
      });
    });

    it("fails (exit 1) when pushes are accepted but never delivered, and skips what needed them", async () => {
      // An endpoint that says 201 to everything and delivers nothing.
      fake = createServer((req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(201).end());
      });
      await new Promise<void>((resolve) => fake!.listen(0, "127.0.0.1", resolve));
      const endpointURL = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      server = await createPushServer({ port: 0, endpointURL });
      const result = await run(["smoke", "--server", server.url, "--timeout", "0.5"]);
      expect(result.code).toBe(1);
      const lines = result.stdout.split("\n");
      expect(lines).toContain("FAIL  push aes128gcm, unsigned: no push within 500 ms");
      expect(lines).toContain(
        "FAIL  push to an unregistered endpoint is refused: the push got 201, not 404/410",
      );
      expect(lines).toContain(
        'SKIP  restart keeps the uaid and the subscription; acked pushes stay acked: needs "push aes128gcm, unsigned"',
      );
      expect(lines).toContain("PASS  register with a VAPID key (endpoint issued)");
    });
  });
});
