/**
 * `push-agent serve` as a process: it prints both URLs, serves pushes, and a SIGTERM to the
 * launcher reaches the server, which closes and exits 0.
 */

import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import { killAll, runCli } from "./helpers.ts";

afterEach(killAll);

it("prints its URLs, answers on them, and exits 0 on SIGTERM", async () => {
  const serve = runCli(["serve", "--port", "0"]);
  const [, wsURL] = await serve.waitForStdout(/push server listening at (ws:\/\/127\.0\.0\.1:\d+\/)\n/);
  const [, endpointURL] = await serve.waitForStdout(/push endpoints at (http:\/\/127\.0\.0\.1:\d+)\n/);
  expect(new URL(wsURL!).port).toBe(new URL(endpointURL!).port);

  // An unknown push endpoint is refused by the server the CLI started, so it is really serving.
  const response = await fetch(`${endpointURL}/wpush/v1/not-a-token`, {
    method: "POST",
    headers: { TTL: "0" },
  });
  expect(response.status).toBeGreaterThanOrEqual(400);

  serve.process.kill("SIGTERM");
  expect(await serve.exited).toEqual({ code: 0, signal: null });
  expect(serve.stderr()).toContain("stopping push server");
});

it("exits 1 with one line when the port is taken", async () => {
  const first = runCli(["serve", "--port", "0"]);
  const [, port] = await first.waitForStdout(/listening at ws:\/\/127\.0\.0\.1:(\d+)\//);
  const second = runCli(["serve", "--port", port!]);
  expect((await second.exited).code).toBe(1);
  expect(second.stderr()).toMatch(/^push-agent serve: .*EADDRINUSE.*\n$/);
  first.process.kill("SIGINT");
  expect((await first.exited).code).toBe(0);
});

it("echoes no subprotocol by default, like autoconnect, and echoes push-notification with --echo-subprotocol", async () => {
  const protocolOf = async (args: string[]) => {
    const serve = runCli(["serve", "--port", "0", ...args]);
    const [, url] = await serve.waitForStdout(/push server listening at (ws:\/\/127\.0\.0\.1:\d+\/)\n/);
    const ws = new WebSocket(url!, ["push-notification"]);
    const selected = await new Promise<string>((resolve) => {
      // Node 20's `ws` fails a handshake whose requested subprotocol is not echoed.
      ws.on("open", () => resolve(ws.protocol));
      ws.on("error", (error) => resolve(`error: ${error.message}`));
    });
    ws.terminate();
    serve.process.kill("SIGTERM");
    await serve.exited;
    return selected;
  };
  expect(await protocolOf([])).toBe("error: Server sent no subprotocol");
  expect(await protocolOf(["--echo-subprotocol"])).toBe("push-notification");
});
