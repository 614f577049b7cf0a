/**
 * Hostile input, the logs: a full session at debug level (two subscriptions, pushes in both
 * encodings and without payload, a decryption failure, a reconnect, an unsubscribe) against the
 * local push server, then the captured log is searched for every secret the store held: each
 * private key's JWK `d` (base64url and hex), each auth secret (base64url, base64, hex, and as
 * JSON-serialized bytes), each endpoint token (whole, or more of it than shortEndpoint shows).
 * Then the CLI's own lines: `send` with the VAPID key from a file and from the environment
 * never prints the key, and `listen` prints a server URL with `user:password` in it without them.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import webpush from "web-push";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { shortEndpoint } from "../../src/log.ts";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { runMain } from "../cli/in-process.ts";
import { Inbox, nextState, send, vapidPublicKey } from "../faults/support/local.ts";
import { TcpProxy } from "../faults/support/proxy.ts";
import { CrashCounter, ReliabilityLog } from "../faults/support/report.ts";
import { testDecryptWorkers } from "../helpers/decrypt-workers.ts";
import { captureLogger } from "../helpers/logger.ts";

const crashes = new CrashCounter().install();
afterAll(() => crashes.uninstall());
const log = new ReliabilityLog("secrets-in-logs");
const URL_PASSWORD = "url-password-8c1f";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => log.write());

/** Every form a byte string could take in a log line. */
function encodings(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes);
  return [
    buffer.toString("base64url"),
    buffer.toString("base64").replace(/=+$/, ""),
    buffer.toString("hex"),
    JSON.stringify([...bytes]).slice(0, 24),
    JSON.stringify(bytes).slice(0, 24),
  ];
}

describe("hostile input: secrets never reach the logs", () => {
  it("a full debug-level session logs no private key, no auth secret and no whole endpoint", async () => {
    const server = await createPushServer({ port: 0 });
    cleanups.push(() => server.close());
    const proxy = await TcpProxy.start(server.port);
    cleanups.push(() => proxy.close());
    const storage = createMemoryStorage();
    const logger = captureLogger();
    const service = new PushService({
      decryptWorkers: testDecryptWorkers,
      // A user:password in the server URL is a credential too.
      serverURL: proxy.url.replace("ws://", `ws://agent:${URL_PASSWORD}@`),
      db: openMemoryPushDB(storage),
      logger,
      retryBaseInterval: 5,
    });
    cleanups.push(() => service.stop());
    const inbox = new Inbox(service);
    const decryptErrors: string[] = [];
    service.observe("decrypt-error", (event) => void decryptErrors.push(event.messageId));
    await service.start();

    const withKey = await service.subscribe({
      scope: "https://secret-a.example/",
      applicationServerKey: vapidPublicKey,
    });
    const plain = await service.subscribe({ scope: "https://secret-b.example/" });
    const payloads = ["secret aes128gcm payload", "secret aesgcm payload"];
    await send(withKey, payloads[0]!, { encoding: "aes128gcm" });
    await send(plain, payloads[1]!, { encoding: "aesgcm", vapid: false });
    await send(plain, null, { vapid: false });
    await inbox.until(() => inbox.total === 3);

    // A push encrypted for other keys: decryption fails (ack 101, decrypt-error).
    const other = webpush.generateVAPIDKeys();
    const forged = await sendPush(
      { endpoint: plain.endpoint, keys: { p256dh: other.publicKey, auth: "AAAAAAAAAAAAAAAAAAAAAA" } },
      "never decrypted",
      { TTL: 60 },
    );
    expect(forged.statusCode).toBe(201);
    await new Promise<void>((resolve) => {
      const dispose = service.observe("decrypt-error", () => {
        dispose();
        resolve();
      });
      if (decryptErrors.length > 0) resolve();
    });

    // The secrets, read straight from the store while both subscriptions exist.
    const records = [...storage.records.values()];
    expect(records).toHaveLength(2);
    const secrets: [string, string][] = [["server URL password", URL_PASSWORD]];
    for (const record of records) {
      const d = record.p256dhPrivateKey?.d;
      expect(d).toBeTruthy();
      secrets.push(["JWK d", d!], ["JWK d (hex)", Buffer.from(d!, "base64url").toString("hex")]);
      for (const form of encodings(record.authenticationSecret!)) secrets.push(["auth secret", form]);
      const token = record.pushEndpoint.split("/").at(-1)!;
      secrets.push(["endpoint", record.pushEndpoint], ["endpoint token", token]);
      // shortEndpoint shows "/wpush/vN/" plus 10 characters of the token: 11 is already too many.
      secrets.push(["endpoint token prefix", token.slice(0, 11)]);
    }

    // A reconnect, a push after it, an unsubscribe, a stop.
    const back = nextState(service, "Ready");
    proxy.cut();
    await back;
    await send(withKey, "secret after reconnect");
    await inbox.all(["secret after reconnect"]);
    expect(await withKey.unsubscribe()).toBe(true);
    await service.stop();

    const text = logger.text();
    if (process.env.SHOW_LOG) console.log(text);
    expect(logger.lines.filter((l) => l.level === "debug").length).toBeGreaterThan(0);
    const leaks = secrets.filter(([, secret]) => text.includes(secret));
    expect(leaks.map(([what]) => what)).toEqual([]);
    // Endpoints do appear, shortened.
    expect(text).toContain(shortEndpoint(withKey.endpoint));
    // And no plaintext either.
    for (const payload of [...payloads, "secret after reconnect", "never decrypted"]) {
      expect(text).not.toContain(payload);
    }

    log.add({
      id: "H3",
      category: "hostile",
      title:
        "secrets in debug logs over a full session (subscribe ×2, aes128gcm + aesgcm + no payload, decrypt error, reconnect, unsubscribe)",
      runs: 1,
      sent: 4,
      delivered: inbox.distinct,
      duplicated: inbox.duplicates,
      lost: 4 - inbox.distinct,
      crashes: crashes.total,
      notes: `${logger.lines.length} log lines (${logger.lines.filter((l) => l.level === "debug").length} debug) searched for ${secrets.length} secret forms (JWK d b64url/hex, auth secret b64url/b64/hex/JSON bytes, endpoint, token, 11-char token prefix): 0 found; endpoints only as shortEndpoint; 1 decrypt error (not delivered, by design)`,
    });
  });

  it("the CLI prints no VAPID private key (flag, file or environment) and no URL credentials", async () => {
    const crashes = new CrashCounter().install();
    cleanups.push(async () => crashes.uninstall());
    const server = await createPushServer({ port: 0 });
    cleanups.push(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), "push-agent-secrets-cli-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const vapid = webpush.generateVAPIDKeys();
    const service = new PushService({
      serverURL: server.url,
      db: openMemoryPushDB(),
      logger: captureLogger(),
    });
    cleanups.push(() => service.stop());
    await service.start();
    // A v2 endpoint: only a push signed with this very key gets 201.
    const sub = await service.subscribe({
      scope: "https://cli.example/",
      applicationServerKey: vapid.publicKey,
    });
    const subFile = join(dir, "sub.json");
    await writeFile(subFile, JSON.stringify(sub.toJSON()));
    const keyFile = join(dir, "vapid.json");
    await writeFile(keyFile, JSON.stringify(vapid), { mode: 0o600 });
    const subject = ["--vapid-subject", "mailto:cli@example.com"];

    const runs = [
      await runMain(["send", subFile, "from a file", ...subject, "--vapid-private-key-file", keyFile]),
      await runMain(["send", subFile, "from the environment", ...subject], "", {
        env: { PUSH_AGENT_VAPID_PRIVATE_KEY: vapid.privateKey },
      }),
      // A public key that does not go with the private one: refused before sending.
      await runMain([
        "send",
        subFile,
        "wrong key",
        ...subject,
        "--vapid-private-key-file",
        keyFile,
        "--vapid-public-key",
        webpush.generateVAPIDKeys().publicKey,
      ]),
      // A key that is not one: the error names its source, not its value.
      await runMain(["send", subFile, "bad key", ...subject], "", {
        env: { PUSH_AGENT_VAPID_PRIVATE_KEY: `${vapid.privateKey}x` },
      }),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 2, 2]);
    expect(runs[0]!.stdout).toMatch(/^201 Created/);
    expect(runs[1]!.stdout).toMatch(/^201 Created/);
    expect(runs[3]!.stderr).toContain("$PUSH_AGENT_VAPID_PRIVATE_KEY must hold");

    // listen: the connecting line and the retry line of a URL with credentials.
    const password = "hunter2-secret-password";
    const port = new URL(server.url).port;
    const listenLines: string[] = [];
    for (const url of [`ws://alice:${password}@127.0.0.1:${port}/`, `ws://alice:${password}@127.0.0.1:1/`]) {
      const controller = new AbortController();
      const run = await runMain(["listen", "--server", url, "--state", join(dir, "listen"), "--once"], "", {
        signal: controller.signal,
        onStderr: (text) => {
          if (/waiting for|retrying/.test(text)) controller.abort();
        },
      });
      listenLines.push(run.stderr);
    }
    expect(listenLines[0]).toContain(`connecting to ws://***@127.0.0.1:${port}/`);
    expect(listenLines[1]).toContain("cannot connect to ws://***@127.0.0.1:1/");

    const text = [...runs.flatMap((r) => [r.stdout, r.stderr]), ...listenLines].join("\n");
    const secrets: [string, string][] = [
      ["VAPID private key", vapid.privateKey],
      ["VAPID private key (hex)", Buffer.from(vapid.privateKey, "base64url").toString("hex")],
      ["URL password", password],
      ["URL userinfo", "alice:"],
    ];
    const leaks = secrets.filter(([, secret]) => text.includes(secret));
    expect(leaks.map(([what]) => what)).toEqual([]);

    log.add({
      id: "H3b",
      category: "hostile",
      title:
        "secrets in the CLI's output: send with the VAPID key from a file and the environment, listen with user:password in --server",
      runs: runs.length + listenLines.length,
      sent: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      crashes: crashes.total,
      notes: `${text.split("\n").length} output lines searched for ${secrets.length} secret forms: ${leaks.length} found`,
    });
  });
});
