/**
 * The chat example end to end: the local push server, the chat app server and real clients over
 * real sockets. Two clients exchange messages; an offline client catches up from its last id
 * after a restart; dead subscriptions are pruned; the HTTP API validates its input; and
 * `npm run example:chat` runs to completion.
 */

import "fake-indexeddb/auto";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import webpush from "web-push";
import { type ChatServer, type ChatServerOptions, createChatServer } from "../../examples/chat/app-server.ts";
import {
  type ChatClient,
  type ChatClientOptions,
  createChatClient,
  type LastIdStore,
  type ReceivedMessage,
} from "../../examples/chat/client.ts";
import type { PushHint } from "../../examples/chat/shared.ts";
import { openMemoryPushDB } from "../../src/db/memory.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { PushService } from "../../src/service/push-service.ts";
import { captureLogger } from "../helpers/logger.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const keys = webpush.generateVAPIDKeys();
const vapid = { subject: "mailto:chat-test@example.com", ...keys };

let pushServer: PushServer;
let appServer: ChatServer;
let dir: string;
let log: ReturnType<typeof captureLogger>;
/** Newest first, run after each test whatever happened. */
let cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  log = captureLogger();
  pushServer = await createPushServer({ port: 0 });
  cleanups.unshift(() => pushServer.close());
  dir = await mkdtemp(path.join(tmpdir(), "push-agent-chat-test-"));
  cleanups.unshift(() => rm(dir, { recursive: true, force: true }));
  appServer = await startAppServer();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  cleanups = [];
});

async function startAppServer(options: Partial<ChatServerOptions> = {}): Promise<ChatServer> {
  const server = await createChatServer({
    vapid,
    store: path.join(dir, "chat.json"),
    logger: log,
    ...options,
  });
  cleanups.unshift(() => server.close());
  return server;
}

interface Inbox {
  messages: ReceivedMessage[];
  hints: (PushHint | null)[];
  /** The first push this client instance received. */
  firstPush: Promise<PushHint | null>;
}

/** A client whose state lives in `dir/<nickname>` unless `storage` says otherwise: a second join is a restart. */
async function join(
  nickname: string,
  server = appServer,
  storage: Partial<ChatClientOptions> = { stateDir: path.join(dir, nickname) },
): Promise<{ client: ChatClient; inbox: Inbox }> {
  let pushed!: (hint: PushHint | null) => void;
  const inbox: Inbox = {
    messages: [],
    hints: [],
    firstPush: new Promise((resolve) => {
      pushed = resolve;
    }),
  };
  const client = await createChatClient({
    appServerURL: server.url,
    pushServerURL: pushServer.url,
    nickname,
    ...storage,
    logger: log,
    onMessage: (message) => void inbox.messages.push(message),
    onPush: (hint) => {
      inbox.hints.push(hint);
      pushed(hint);
    },
  });
  cleanups.unshift(() => client.close());
  return { client, inbox };
}

const summary = (messages: ReceivedMessage[]) =>
  messages.map(({ id, from, text, mine, mentionsMe }) => ({ id, from, text, mine, mentionsMe }));

describe("two clients through the local push server", () => {
  it("each gets every message exactly once, in order, with its mentions flagged", async () => {
    const alice = await join("alice");
    const bob = await join("bob");
    const everyone = [alice.client, bob.client];

    const a1 = await alice.client.send("hi bob");
    await Promise.all(everyone.map((client) => client.waitFor(a1)));
    const b1 = await bob.client.send("hey @alice!");
    await Promise.all(everyone.map((client) => client.waitFor(b1)));
    // A burst: posted back to back, pushes may coalesce, the fetch still gets all of them.
    const burst: number[] = [];
    for (const text of ["no malice meant", "ALICE, look", "mail me at x@alice.example"]) {
      burst.push(await bob.client.send(text));
    }
    await Promise.all(everyone.map((client) => client.waitFor(burst.at(-1)!)));

    expect(summary(bob.inbox.messages)).toEqual([
      { id: a1, from: "alice", text: "hi bob", mine: false, mentionsMe: true },
      { id: b1, from: "bob", text: "hey @alice!", mine: true, mentionsMe: false },
      { id: burst[0], from: "bob", text: "no malice meant", mine: true, mentionsMe: false },
      { id: burst[1], from: "bob", text: "ALICE, look", mine: true, mentionsMe: false },
      { id: burst[2], from: "bob", text: "mail me at x@alice.example", mine: true, mentionsMe: false },
    ]);
    expect(summary(alice.inbox.messages)).toEqual([
      { id: a1, from: "alice", text: "hi bob", mine: true, mentionsMe: false },
      { id: b1, from: "bob", text: "hey @alice!", mine: false, mentionsMe: true },
      { id: burst[0], from: "bob", text: "no malice meant", mine: false, mentionsMe: false },
      { id: burst[1], from: "bob", text: "ALICE, look", mine: false, mentionsMe: true },
      { id: burst[2], from: "bob", text: "mail me at x@alice.example", mine: false, mentionsMe: false },
    ]);
    expect([a1, b1, ...burst]).toEqual([1, 2, 3, 4, 5]);

    // The pushes carried only a hint, never the chat.
    for (const hint of [...alice.inbox.hints, ...bob.inbox.hints]) {
      expect(hint).toEqual({ latest: expect.any(Number) });
    }
    expect(alice.inbox.hints.length).toBeGreaterThan(0);
    await appServer.drained();
    expect(appServer.stats()).toMatchObject({ subscribers: 2, failed: 0, pruned: 0 });
    expect(log.lines.filter((line) => line.level === "warn" || line.level === "error")).toEqual([]);
  });

  it("a client that was offline gets what it missed once after a restart, from its last id", async () => {
    const alice = await join("alice");
    const bob = await join("bob");
    const first = await alice.client.send("before the break");
    await bob.client.waitFor(first);
    await bob.client.close();

    const m1 = await alice.client.send("bob, are you there?");
    const m2 = await alice.client.send("guess not");
    await alice.client.waitFor(m2);
    await appServer.drained();
    // Both pushes to bob carried topic "chat": the push server kept only the newer one.
    expect(pushServer.stats().storedMessages).toBe(1);

    const back = await join("bob");
    await back.client.waitFor(m2);
    expect(back.inbox.messages.map((message) => [message.id, message.text])).toEqual([
      [m1, "bob, are you there?"],
      [m2, "guess not"],
    ]);
    expect(await back.inbox.firstPush).toEqual({ latest: m2 });
    expect(back.client.lastId).toBe(m2);
  });

  it("pushes lost while offline (TTL 0) cost nothing: the client fetches from its last id at start", async () => {
    const server = await startAppServer({ ttl: 0, store: undefined });
    const alice = await join("alice", server);
    const bob = await join("bob", server);
    const first = await alice.client.send("one");
    await bob.client.waitFor(first);
    await bob.client.close();

    const missed = await alice.client.send("two");
    await alice.client.waitFor(missed);
    await server.drained();
    expect(pushServer.stats().storedMessages).toBe(0);

    const back = await join("bob", server);
    await back.client.waitFor(missed);
    expect(back.inbox.messages.map((message) => message.text)).toEqual(["two"]);
  });
  it("runs on an IndexedDB store with the app's own last-id store, as in a browser", async () => {
    let saved = 0;
    const storage = {
      indexedDB: new IDBFactory(),
      lastIdStore: {
        load: async () => saved,
        save: async (lastId) => {
          saved = lastId;
        },
      } satisfies LastIdStore,
    };
    const alice = await join("alice");
    const carol = await join("carol", appServer, storage);
    const first = await alice.client.send("welcome @carol");
    await carol.client.waitFor(first);
    await carol.client.close();
    const second = await alice.client.send("still there?");

    const back = await join("carol", appServer, storage);
    await back.client.waitFor(second);
    expect(summary(carol.inbox.messages)).toEqual([
      { id: first, from: "alice", text: "welcome @carol", mine: false, mentionsMe: true },
    ]);
    expect(back.inbox.messages.map((message) => message.id)).toEqual([second]);
    expect(saved).toBe(second);
  });
});

describe("subscriptions on the app server", () => {
  it("prunes a subscription the push server answers 410 for; leave() removes one at once", async () => {
    const alice = await join("alice");
    // Carol subscribes, tells the app server, then unsubscribes from the push server only
    // (an app uninstalled without a word to its server).
    const carol = new PushService({ serverURL: pushServer.url, db: openMemoryPushDB(), logger: log });
    cleanups.unshift(() => carol.stop());
    await carol.start();
    await carol.ready();
    const subscription = await carol.subscribe({
      scope: "https://carol.example/",
      applicationServerKey: vapid.publicKey,
    });
    const posted = await fetch(`${appServer.url}/subscriptions`, {
      method: "POST",
      body: JSON.stringify({ nickname: "carol", subscription: subscription.toJSON() }),
    });
    expect(posted.status).toBe(201);
    expect(await carol.unsubscribe("https://carol.example/")).toBe(true);
    expect(appServer.stats().subscribers).toBe(2);

    const id = await alice.client.send("anyone here?");
    await alice.client.waitFor(id);
    await appServer.drained();
    expect(appServer.stats()).toMatchObject({ subscribers: 1, pruned: 1, failed: 0 });

    const bob = await join("bob");
    expect(appServer.stats().subscribers).toBe(2);
    await bob.client.leave();
    expect(appServer.stats().subscribers).toBe(1);

    await appServer.close();
    const saved = JSON.parse(await readFile(path.join(dir, "chat.json"), "utf8")) as {
      subscribers: { nickname: string }[];
    };
    expect(saved.subscribers.map((subscriber) => subscriber.nickname)).toEqual(["alice"]);
  });
});

describe("the app server's HTTP API", () => {
  const call = async (method: string, route: string, body?: string) => {
    const response = await fetch(`${appServer.url}${route}`, { method, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("answers bad requests with a 4xx and a one-line error", async () => {
    const cases: [string, string, string | undefined, number][] = [
      ["POST", "/messages", "{not json", 400],
      ["POST", "/messages", JSON.stringify({ from: "no spaces allowed", text: "hi" }), 400],
      ["POST", "/messages", JSON.stringify({ from: "alice", text: "   " }), 400],
      ["POST", "/messages", JSON.stringify({ from: "alice", text: "x".repeat(501) }), 400],
      ["GET", "/messages?after=-1", undefined, 400],
      ["GET", "/messages?after=abc", undefined, 400],
      ["POST", "/subscriptions", JSON.stringify({ nickname: "eve", subscription: { endpoint: "x" } }), 400],
      ["DELETE", "/subscriptions", JSON.stringify({ endpoint: "https://push.example/unknown" }), 404],
      ["PUT", "/messages", "{}", 405],
      ["GET", "/nowhere", undefined, 404],
    ];
    for (const [method, route, body, status] of cases) {
      const answer = await call(method, route, body);
      expect(answer.status, `${method} ${route}`).toBe(status);
      expect(answer.body.error).toMatch(/^[^\n]+$/);
    }
    expect(appServer.stats().messages).toBe(0);
  });

  it("keeps the latest 50 messages with increasing ids, across a restart with its JSON file", async () => {
    expect((await call("GET", "/vapid-public-key")).body).toEqual({ publicKey: vapid.publicKey });
    for (let i = 1; i <= 55; i++) {
      const posted = await call("POST", "/messages", JSON.stringify({ from: "alice", text: `message ${i}` }));
      expect(posted).toEqual({ status: 201, body: { id: i } });
    }
    const all = await call("GET", "/messages?after=0");
    expect(all.body.latest).toBe(55);
    expect((all.body.messages as { id: number }[]).map((message) => message.id)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 6),
    );
    const tail = await call("GET", "/messages?after=53");
    expect((tail.body.messages as { text: string }[]).map((message) => message.text)).toEqual([
      "message 54",
      "message 55",
    ]);

    await appServer.close();
    appServer = await startAppServer();
    expect((await call("GET", "/messages")).body.messages).toEqual(all.body.messages);
    expect(await call("POST", "/messages", JSON.stringify({ from: "bob", text: "after restart" }))).toEqual({
      status: 201,
      body: { id: 56 },
    });
  });
});

describe("npm run example:chat", () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "--conditions=push-agent-source", "examples/chat/index.ts", ...args],
        { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
      });
      cleanups.unshift(async () => child.kill());
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });

  it("plays the conversation against a local push server and exits 0", async () => {
    const { code, stdout, stderr } = await run([]);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^local push server at ws:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(stdout).toContain("  bob   ← alice: hi bob  ★");
    expect(stdout).toContain("  alice ← bob: hey @alice! did my message reach you?  ★");
    expect(stdout).toContain("  bob   ← alice: guess not. @bob, read this when you are back  ★");
    expect(stdout).toMatch(/^chat example finished: 6 messages/m);
  });

  it("rejects a bad argument with one line and exit code 2", async () => {
    const { code, stdout, stderr } = await run(["--server", "http://push.example/"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^example:chat: --server must be a ws:\/\/ or wss:\/\/ URL.*\n$/);
  });
});
