#!/usr/bin/env node
/**
 * The runtime smoke: the library, the durable store and the CLI's `listen` / `send` on whatever
 * runtime runs this file (Node, Deno, Bun), against the built package (dist/, so `npm run build`
 * first). The local push server runs in the same process. One line per check, `ok` or `FAIL`,
 * then `N passed, N failed`; exit 1 on any failure.
 *
 *   node scripts/runtime-smoke.mjs
 *   deno run -A scripts/runtime-smoke.mjs     (-A: network, files, env, and FFI for LevelDB)
 *   bun scripts/runtime-smoke.mjs
 */

import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (file) => new URL(`../dist/${file}`, import.meta.url).href;
const { PushService, generateKeys } = await import(dist("index.js"));
const { openLevelPushDB } = await import(dist("node.js"));
const { createPushServer, sendPush } = await import(dist("server/index.js"));
const { loadDefaultWebSocket } = await import(dist("loadtest/internal.js"));

/** Each wait gives up after this long, so a hang is a FAIL line, never a stuck CI job. */
const DEADLINE_MS = 15_000;
const SCOPE = "https://smoke.example/";
/** The refused-connection check expects a warning; it need not reach the output. */
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const runtime = globalThis.Deno
  ? `Deno ${globalThis.Deno.version.deno}`
  : globalThis.Bun
    ? `Bun ${globalThis.Bun.version}`
    : `Node ${process.versions.node}`;
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    const detail = await fn();
    passed++;
    console.log(`ok    ${name}${detail ? ` (${detail})` : ""}`);
  } catch (error) {
    failed++;
    console.log(`FAIL  ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function within(promise, what, ms = DEADLINE_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Resolves with the text of the next push-message the service delivers. */
function nextPush(service) {
  return new Promise((resolve) => {
    const dispose = service.observe("push-message", ({ data }) => {
      dispose();
      resolve(data?.text() ?? null);
    });
  });
}

async function push(subscription, text, contentEncoding = "aes128gcm") {
  const result = await sendPush(subscription.toJSON(), text, { contentEncoding, TTL: 600 });
  assert(result.statusCode === 201, `the server answered ${result.statusCode} ${result.body}`);
}

async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The same runtime, running the CLI from dist/ with `args`. */
function cli(args) {
  const launcher = path.join(root, "bin", "push-agent.js");
  const argv = globalThis.Deno ? ["run", "-A", launcher, ...args] : [launcher, ...args];
  return spawn(process.execPath, argv, {
    env: { ...process.env, PUSH_AGENT_USE_DIST: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** The exit code, and the child's stderr for the FAIL line. */
function exited(child) {
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stderr: stderr.trim() })));
}

/** The lines a child prints on stdout, as they come. */
function lines(child) {
  const seen = [];
  const waiters = [];
  let buffered = "";
  child.stdout.on("data", (chunk) => {
    buffered += chunk.toString();
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      seen.push(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      for (const waiter of waiters.splice(0)) waiter();
    }
  });
  return {
    async nth(index) {
      while (seen.length <= index) await new Promise((resolve) => waiters.push(resolve));
      return seen[index];
    },
  };
}

console.log(`push-agent runtime smoke on ${runtime}`);
const work = await mkdtemp(path.join(tmpdir(), "push-agent-smoke-"));
/** Server ping frames every 200 ms, so the ping check sees one quickly. */
const server = await createPushServer({ host: "127.0.0.1", port: 0, autoPingInterval: 200 });
const serverURL = `ws://127.0.0.1:${server.port}/`;
let service;
let db;

try {
  await check("the default WebSocket is ws (ping frames, typed failure causes)", async () => {
    const WebSocket = await loadDefaultWebSocket();
    assert(WebSocket !== globalThis.WebSocket, "it is the runtime's global WebSocket");
    const { ping, on } = WebSocket.prototype;
    assert(typeof ping === "function" && typeof on === "function", `${WebSocket.name} is not ws`);
  });

  await check("ping frames both ways: the server's arrive, ours are answered", async () => {
    const WebSocket = await loadDefaultWebSocket();
    const socket = new WebSocket(serverURL);
    const serverPing = new Promise((resolve) => socket.on("ping", resolve));
    const pong = new Promise((resolve) => socket.on("pong", resolve));
    await within(new Promise((resolve) => socket.on("open", resolve)), "open");
    socket.ping();
    await within(Promise.all([serverPing, pong]), "ping from the server and pong to ours");
    socket.close();
  });

  await check(
    "a server that echoes no subprotocol: subprotocol-missing, then connected without",
    async () => {
      const retried = new PushService({
        serverURL,
        db: await openLevelPushDB(path.join(work, "subprotocol")),
        subprotocol: "push-notification",
        logger: quiet,
      });
      const errors = [];
      retried.observe("connection-error", (event) => void errors.push(event.error.kind));
      await retried.start();
      await within(retried.ready(), "Ready state");
      await retried.stop();
      assert(errors.join() === "subprotocol-missing", `connection errors: ${errors.join() || "none"}`);
    },
  );

  await check("a refused connection names its cause", async () => {
    const refused = new PushService({
      serverURL: `ws://127.0.0.1:${await closedPort()}/`,
      db: await openLevelPushDB(path.join(work, "refused")),
      retryBaseInterval: 60_000,
      logger: quiet,
    });
    const error = new Promise((resolve) =>
      refused.observe("connection-error", (event) => resolve(event.error)),
    );
    await refused.start();
    const { kind } = await within(error, "connection-error");
    await refused.stop();
    assert(kind === "refused", `cause "${kind}", expected "refused"`);
  });

  db = await openLevelPushDB(path.join(work, "agent"));
  service = new PushService({ serverURL, db });
  let subscription;

  await check("connects (hello) with the LevelDB store", async () => {
    await service.start();
    await within(service.ready(), "Ready state");
    return `uaid ${service.uaid?.slice(0, 8)}…`;
  });

  await check("subscribes", async () => {
    subscription = await within(service.subscribe({ scope: SCOPE }), "subscription");
    assert(subscription.endpoint.startsWith(server.endpointURL), `endpoint ${subscription.endpoint}`);
  });

  for (const encoding of ["aes128gcm", "aesgcm"]) {
    await check(`receives an ${encoding} push`, async () => {
      const received = nextPush(service);
      await push(subscription, `hello ${encoding}`, encoding);
      const text = await within(received, "push-message");
      assert(text === `hello ${encoding}`, `received ${JSON.stringify(text)}`);
    });
  }

  await check("receives a push stored while offline, after reconnecting", async () => {
    service.setOnline(false);
    await push(subscription, "stored while offline");
    const received = nextPush(service);
    service.setOnline(true);
    const text = await within(received, "push-message");
    assert(text === "stored while offline", `received ${JSON.stringify(text)}`);
  });

  await check(
    "after a restart, the durable store keeps the subscription and a stored push arrives",
    async () => {
      const uaid = service.uaid;
      await service.stop();
      await db.close();
      await push(subscription, "sent while stopped");
      db = await openLevelPushDB(path.join(work, "agent"));
      service = new PushService({ serverURL, db });
      const received = nextPush(service);
      await service.start();
      const kept = await service.getSubscription(SCOPE);
      assert(kept?.endpoint === subscription.endpoint, "the subscription was not kept");
      const text = await within(received, "push-message");
      assert(text === "sent while stopped", `received ${JSON.stringify(text)}`);
      assert(service.uaid === uaid, `uaid changed from ${uaid} to ${service.uaid}`);
    },
  );

  await check("the CLI: `listen` prints a subscription, `send` delivers to it", async () => {
    const listen = cli(["listen", "--server", serverURL, "--state", path.join(work, "cli"), "--once"]);
    const out = lines(listen);
    const done = exited(listen);
    // The subscription comes first, pretty-printed: its lines up to the closing brace.
    const json = [];
    while (json.at(-1) !== "}") json.push(await within(out.nth(json.length), "subscription from listen"));
    const file = path.join(work, "sub.json");
    await writeFile(file, json.join("\n"));
    const send = cli(["send", file, "hello from send"]);
    const sent = await within(exited(send), "exit of send");
    assert(sent.code === 0, `send exited ${sent.code}: ${sent.stderr}`);
    const message = await within(out.nth(json.length), "message line from listen");
    assert(message.includes("hello from send"), `listen printed ${JSON.stringify(message)}`);
    const listened = await within(done, "exit of listen --once");
    assert(listened.code === 0, `listen exited ${listened.code}: ${listened.stderr}`);
  });

  // generateKeys runs on the runtime's crypto backend, the one decrypt() uses above.
  await check("generates subscription keys", async () => {
    const keys = await generateKeys();
    assert(keys.publicKey.length === 65 && keys.authSecret.length === 16, "wrong key sizes");
  });
} finally {
  await service?.stop().catch(() => {});
  await db?.close().catch(() => {});
  await server.close();
  await rm(work, { recursive: true, force: true });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
