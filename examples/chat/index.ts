/**
 * `npm run example:chat`: the chat example end to end on one machine. It starts a local push
 * server (or uses the autopush server given with --server), the chat app server and two clients,
 * alice and bob, plays a short conversation, takes bob offline while alice writes, brings him
 * back, and shuts everything down. Messages a client receives are printed with ★ when they
 * mention it.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Logger } from "push-agent";
import { createPushServer } from "push-agent/server";
import webpush from "web-push";
import { createChatServer } from "./app-server.ts";
import { type ChatClient, createChatClient, type ReceivedMessage } from "./client.ts";
import { describeError } from "./shared.ts";

const USAGE = `usage: npm run example:chat [-- --server URL]

A chat app server and two clients, alice and bob, talking through Web Push.

  --server URL   use this autopush server (ws:// or wss://, e.g. wss://push.services.mozilla.com/)
                 instead of starting a local one
  -h, --help     show this help`;

type Name = "alice" | "bob";

/** The example never hangs: past this it gives up and exits 1. */
const LOCAL_DEADLINE = 20_000;
const REMOTE_DEADLINE = 60_000;

const warnings: Logger = {
  debug() {},
  info() {},
  warn: (message) => console.warn(message),
  error: (message) => console.error(message),
};

/** Newest first; run on success and failure alike. */
const cleanups: (() => Promise<unknown>)[] = [];

async function chat(serverURL: string | undefined): Promise<void> {
  let pushServerURL = serverURL;
  if (pushServerURL === undefined) {
    const pushServer = await createPushServer({ port: 0 });
    cleanups.unshift(() => pushServer.close());
    pushServerURL = pushServer.url;
    console.log(`local push server at ${pushServerURL}`);
  } else {
    console.log(`push server ${pushServerURL}`);
  }

  const vapid = webpush.generateVAPIDKeys();
  const appServer = await createChatServer({
    vapid: { subject: "mailto:chat-example@example.com", ...vapid },
    logger: warnings,
  });
  cleanups.unshift(() => appServer.close());
  console.log(`chat app server at ${appServer.url}`);

  const dir = await mkdtemp(path.join(tmpdir(), "push-agent-chat-"));
  cleanups.unshift(() => rm(dir, { recursive: true, force: true }));

  const received: Record<Name, ReceivedMessage[]> = { alice: [], bob: [] };
  const clients = new Map<Name, ChatClient>();
  const connect = async (name: Name) => {
    const client = await createChatClient({
      appServerURL: appServer.url,
      pushServerURL,
      nickname: name,
      stateDir: path.join(dir, name),
      logger: warnings,
      onMessage: (message) => {
        received[name].push(message);
        if (!message.mine) console.log(`  ${name.padEnd(5)} ← ${format(message)}`);
      },
    });
    clients.set(name, client);
    cleanups.unshift(() => client.close());
    return client;
  };
  /** Post as `from`, then wait until every online client has fetched the message. */
  const say = async (from: Name, text: string) => {
    console.log(`${from} says: ${text}`);
    const id = await clients.get(from)!.send(text);
    await Promise.all([...clients.values()].map((client) => client.waitFor(id)));
  };

  await connect("alice");
  await connect("bob");
  console.log("alice and bob subscribed and posted their subscriptions to the app server");

  await say("alice", "hi bob");
  await say("bob", "hey @alice! did my message reach you?");
  await say("alice", "a push said there was news, then I fetched it from the app server");
  await say("bob", "same here. Alice, the push itself never carried our words");

  const bob = clients.get("bob")!;
  clients.delete("bob");
  await bob.close();
  console.log(`bob goes offline after message ${bob.lastId}; his pushes wait at the push server`);
  await say("alice", "bob, are you there?");
  await say("alice", "guess not. @bob, read this when you are back");
  await appServer.drained();

  console.log("bob comes back and fetches every message after his last id");
  await connect("bob");

  const { latest } = appServer.stats();
  check(received, latest);
  console.log(`chat example finished: ${latest} messages, each shown once to the other client`);
}

function format(message: ReceivedMessage): string {
  return `${message.from}: ${message.text}${message.mentionsMe ? "  ★" : ""}`;
}

/** Each client saw every message exactly once, in id order: the example checks its own claim. */
function check(received: Record<Name, ReceivedMessage[]>, latest: number): void {
  const expected = Array.from({ length: latest }, (_, i) => i + 1).join(", ");
  for (const [name, messages] of Object.entries(received)) {
    const ids = messages.map((message) => message.id).join(", ");
    if (ids !== expected) throw new Error(`${name} received messages ${ids}, expected ${expected}`);
  }
}

async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) {
    await cleanup().catch((error: unknown) => console.error(`chat: cleanup failed: ${describeError(error)}`));
  }
}

/** The --server URL, undefined for a local server; exits 0 for --help and 2 for bad arguments. */
function parseCommandLine(): string | undefined {
  let values: { server?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { server: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError(describeError(error));
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.server === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(values.server);
  } catch {}
  if (url?.protocol !== "ws:" && url?.protocol !== "wss:") {
    usageError(`--server must be a ws:// or wss:// URL, got ${JSON.stringify(values.server)}`);
  }
  return values.server;
}

function usageError(message: string): never {
  console.error(`example:chat: ${message.split("\n")[0]} (see --help)`);
  process.exit(2);
}

const serverURL = parseCommandLine();
const deadlineMs = serverURL === undefined ? LOCAL_DEADLINE : REMOTE_DEADLINE;
const deadline = setTimeout(() => {
  console.error(`chat example failed: timed out after ${deadlineMs / 1000} s`);
  process.exit(1);
}, deadlineMs);

try {
  await chat(serverURL);
  await runCleanups();
} catch (error) {
  console.error(`chat example failed: ${describeError(error)}`);
  process.exitCode = 1;
  await runCleanups();
} finally {
  clearTimeout(deadline);
}
