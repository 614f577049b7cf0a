/**
 * push-agent end to end on one machine (`npm start`): a local push server, a user agent with a
 * durable store, a VAPID-signed subscription, one aes128gcm and one aesgcm push sent the way an
 * application server sends them (the `web-push` package), then unsubscribe and clean up.
 * Written as an app would use the package: only public entry points are imported.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type PushMessageEvent, PushService, type PushSubscriptionJSON } from "push-agent";
import { openLevelPushDB } from "push-agent/node";
import { createPushServer, sendPush } from "push-agent/server";
import webpush from "web-push";

const STEPS = 7;
/** The demo never hangs: after this long it gives up and exits 1. */
const DEMO_TIMEOUT = 20_000;
/** How long to wait for one push to come back through the user agent. */
const PUSH_TIMEOUT = 5_000;

type VapidKeys = { publicKey: string; privateKey: string };
type Encoding = "aes128gcm" | "aesgcm";

let step = 0;
const progress = (message: string) => console.log(`[${++step}/${STEPS}] ${message}`);

/** Cleanup actions, newest first, run on success and on failure alike. */
const cleanups: (() => Promise<unknown>)[] = [];

async function demo(): Promise<void> {
  const server = await createPushServer({ port: 0 });
  cleanups.unshift(() => server.close());
  progress(`starting local push server at ${server.url}`);

  const dir = await mkdtemp(path.join(tmpdir(), "push-agent-demo-"));
  cleanups.unshift(() => rm(dir, { recursive: true, force: true }));
  const db = await openLevelPushDB(path.join(dir, "db"));
  cleanups.unshift(() => db.close());
  const service = new PushService({ serverURL: server.url, db });
  cleanups.unshift(() => service.stop());
  await service.start();
  await service.ready();
  progress(
    `starting the user agent (LevelDB store in ${dir}); connected, uaid ${service.uaid?.slice(0, 8)}…`,
  );

  const vapid = webpush.generateVAPIDKeys();
  const subscription = await service.subscribe({
    scope: "https://demo.example/",
    applicationServerKey: vapid.publicKey,
  });
  progress(`subscribing with a fresh VAPID key: endpoint ${subscription.endpoint.slice(0, 48)}…`);

  for (const encoding of ["aes128gcm", "aesgcm"] as const) {
    const text = `Hello from the demo, encrypted with ${encoding}!`;
    const received = nextPush(service);
    await send(subscription.toJSON(), text, encoding, vapid);
    const event = await received;
    const payload = event.data?.text() ?? null;
    if (payload !== text) throw new Error(`the ${encoding} push arrived as ${JSON.stringify(payload)}`);
    progress(`sending an ${encoding} push: received "${payload}"`);
  }

  const unsubscribed = await subscription.unsubscribe();
  progress(`unsubscribing: ${unsubscribed}`);
  if (!unsubscribed) throw new Error("the server did not confirm the unsubscribe");

  progress("stopping the user agent and the server, removing the temp folder");
  await runCleanups();
}

/** What an application server does: encrypt, sign with VAPID, POST to the endpoint. */
async function send(subscription: PushSubscriptionJSON, text: string, encoding: Encoding, vapid: VapidKeys) {
  const result = await sendPush(subscription, text, {
    TTL: 60,
    contentEncoding: encoding,
    vapidDetails: { subject: "mailto:demo@example.com", ...vapid },
  });
  if (result.statusCode !== 201)
    throw new Error(`the push server answered ${result.statusCode}: ${result.body}`);
}

function nextPush(service: PushService): Promise<PushMessageEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`no push arrived within ${PUSH_TIMEOUT} ms`));
    }, PUSH_TIMEOUT);
    const dispose = service.observe("push-message", (event) => {
      clearTimeout(timer);
      dispose();
      resolve(event);
    });
  });
}

async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) {
    await cleanup().catch((error: unknown) => console.error(`demo: cleanup failed: ${String(error)}`));
  }
}

const deadline = setTimeout(() => {
  console.error(`demo failed: timed out after ${DEMO_TIMEOUT / 1000} s`);
  process.exit(1);
}, DEMO_TIMEOUT);

try {
  await demo();
  console.log("demo finished: both pushes went from web-push through the server to the user agent");
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
  await runCleanups();
} finally {
  clearTimeout(deadline);
}
