/**
 * End to end through the CLI: an in-process push server, `listen` as a child subscribing with
 * a VAPID key, `send` children pushing to the printed subscription, and a restart of `listen`
 * on the same --state resuming the same endpoint.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import webpush from "web-push";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { cli, killAll, runCli, SUBSCRIPTION_JSON } from "./helpers.ts";

let server: PushServer;
let dir: string;

beforeEach(async () => {
  server = await createPushServer({ port: 0 });
  dir = await mkdtemp(path.join(tmpdir(), "push-agent-cli-"));
});

afterEach(async () => {
  killAll();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Subscription {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

it("listen prints the subscription, then each push sent with `send`; a restart resumes it", async () => {
  const vapid = webpush.generateVAPIDKeys();
  const state = path.join(dir, "state");
  const listen = runCli([
    "listen",
    "--server",
    server.url,
    "--state",
    state,
    "--vapid-key",
    vapid.publicKey,
    "--count",
    "2",
  ]);
  const [json] = await listen.waitForStdout(SUBSCRIPTION_JSON);
  const subscription = JSON.parse(json) as Subscription;
  expect(Object.keys(subscription)).toEqual(["endpoint", "expirationTime", "keys"]);
  expect(subscription.endpoint.startsWith(`${server.endpointURL}/wpush/v2/`)).toBe(true);
  const file = path.join(dir, "subscription.json");
  await writeFile(file, json);

  // `=VALUE`: a base64url key may start with "-", which parseArgs would take for an option.
  const signing = ["--vapid-subject", "mailto:cli@example.com", `--vapid-private-key=${vapid.privateKey}`];
  const [first, second, unsigned] = await Promise.all([
    cli(["send", file, "first payload", ...signing]),
    cli(["send", "-", "second payload", "--encoding", "aesgcm", "--urgency", "high", ...signing], {
      input: json,
    }),
    // A v2 endpoint needs VAPID: the push service's refusal is reported and exits 1.
    cli(["send", file, "unsigned"]),
  ]);
  for (const sent of [first, second]) {
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/^201 Created\nLocation: http:\/\/127\.0\.0\.1:\d+\/m\/\S+\n$/);
  }
  expect(unsigned.code).toBe(1);
  expect(unsigned.stderr).toMatch(/^401 Unauthorized\n.*VAPID/);

  expect(await listen.exited).toEqual({ code: 0, signal: null });
  const lines = listen.stdout().slice(json.length).trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines.map((line) => line.split(" ").slice(2).join(" ")).sort()).toEqual([
    "first payload",
    "second payload",
  ]);
  for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z \S+ /);
  expect(listen.stderr()).toContain("subscribed");

  // Same --state: the same subscription comes back, and only new pushes are printed.
  const again = runCli([
    "listen",
    "--server",
    server.url,
    "--state",
    state,
    "--vapid-key",
    vapid.publicKey,
    "--json",
  ]);
  const [json2] = await again.waitForStdout(SUBSCRIPTION_JSON);
  expect(JSON.parse(json2)).toEqual(subscription);
  expect(again.stderr()).toContain("resumed");
  const vapidDetails = { subject: "mailto:cli@example.com", ...vapid };
  const sent = await sendPush(subscription, "third\npayload", { TTL: 60, vapidDetails });
  expect(sent.statusCode).toBe(201);
  const [line] = await again.waitForStdout(/^\{"messageId".*\n/m);
  expect(JSON.parse(line)).toEqual({
    messageId: sent.location?.split("/m/")[1],
    scope: "push-agent:listen",
    data: Buffer.from("third\npayload").toString("base64url"),
    text: "third\npayload",
  });

  again.process.kill("SIGTERM");
  expect(await again.exited).toEqual({ code: 0, signal: null });
  expect(again.stdout().slice(json2.length).trimEnd().split("\n")).toHaveLength(1);
});

it("listen says why it cannot connect on its `cannot connect` line", async () => {
  const refusing = createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", () => resolve()));
  const { port } = refusing.address() as AddressInfo;
  try {
    const url = `ws://127.0.0.1:${port}/`;
    const listen = runCli(["listen", "--server", url, "--state", path.join(dir, "state")]);
    const line = `push-agent: cannot connect to ${url}: HTTP 503 from 127.0.0.1:${port} instead of 101 Switching Protocols; retrying\n`;
    await listen.waitForStderr(/cannot connect to .*\n/);
    expect(listen.stderr()).toBe(`push-agent: connecting to ${url}\n${line}`);
    listen.process.kill("SIGTERM");
    expect(await listen.exited).toEqual({ code: 0, signal: null });
  } finally {
    refusing.closeAllConnections();
    await new Promise<void>((resolve) => refusing.close(() => resolve()));
  }
});
