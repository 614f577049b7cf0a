/**
 * Replay of the real server (autoconnect 1.83.1 recordings) to push-agent's client: a scripted
 * server sends the recorded server frames, with the recorded channelIDs swapped for the ones the
 * client chose, and the client's frames must match the recorded client frames: byte for byte for
 * hello, register and unregister, one ack per notification in the recorded shape.
 *
 * The recorded payloads were encrypted for keys nobody kept, so a recorded notification replayed
 * verbatim must end in a decrypt-error and an ack with code 101; the same frame with its payload
 * re-encrypted for this client (same encoding, same header keys) must arrive and be acked 100.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import webpush from "web-push";
import type {
  DecryptErrorEvent,
  PushMessageEvent,
  PushSubscriptionChangeEvent,
} from "../../src/observers.ts";
import type { PushService } from "../../src/service/push-service.ts";
import type { PushSubscription } from "../../src/subscription.ts";
import { type ScriptedConnection, ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";
import { type Frame, framesOf, loadSession, type RecordedConnection, shape } from "./recordings.ts";

let server: ScriptedServer;
let service: PushService;

beforeEach(async () => {
  server = await ScriptedServer.start();
});

afterEach(async () => {
  await service?.stop();
  await server.close();
});

/** Recorded channelID → the one this client chose, filled in as the client registers. */
class IdMap {
  readonly #ids = new Map<string, string>();

  set(recorded: string, ours: string): void {
    this.#ids.set(recorded, ours);
  }

  /** A recorded frame's text with every known recorded channelID replaced by ours. */
  apply(text: string): string {
    let out = text;
    for (const [recorded, ours] of this.#ids) out = out.replaceAll(recorded, ours);
    return out;
  }
}

function collect<T>(subscribe: (fn: (event: T) => void) => unknown): T[] {
  const events: T[] = [];
  subscribe((event) => void events.push(event));
  return events;
}

/** Play one recorded connection: send its s2c frames, expect its c2s frames (as `expectClient` says). */
async function play(
  connection: ScriptedConnection,
  recorded: RecordedConnection,
  ids: IdMap,
  expectClient: (ours: string, recorded: string) => Promise<void> | void,
  skipFirstHello = false,
): Promise<void> {
  for (const [index, step] of recorded.frames.entries()) {
    if (step.dir === "s2c") {
      connection.send(ids.apply(step.text));
      continue;
    }
    if (skipFirstHello && index === 0) continue;
    await expectClient(await connection.nextText(), step.text);
  }
}

/** An ack must be the recorded ack with `code` in place of the recorded 100. */
function expectAck(ours: string, recorded: string, ids: IdMap, code: number): void {
  const expected = JSON.parse(ids.apply(recorded)) as { updates: Frame[] };
  expect(expected.updates.map((u) => u.code)).toEqual([100]);
  for (const update of expected.updates) update.code = code;
  expect(ours).toBe(JSON.stringify(expected));
}

/** A recorded notification frame with its payload re-encrypted for `subscription`, headers of the same keys. */
function reencrypted(recorded: Frame, subscription: PushSubscription, text: string): Frame {
  const headers = recorded.headers as Record<string, string>;
  const encoding = headers.encoding as "aes128gcm" | "aesgcm";
  const keys = subscription.toJSON().keys;
  const out = webpush.encrypt(keys.p256dh, keys.auth, Buffer.from(text), encoding);
  const b64 = (value: unknown) =>
    typeof value === "string" ? value : Buffer.from(value as Uint8Array).toString("base64url");
  const replaced: Record<string, string> = { ...headers };
  if (encoding === "aesgcm") {
    // Keep whatever else crypto_key carried (the recorded p256ecdsa), swap the dh.
    replaced.crypto_key = headers.crypto_key!.replace(/dh=[^;,]+/, `dh=${b64(out.localPublicKey)}`);
    replaced.encryption = `salt=${out.salt}`;
  }
  return {
    ...recorded,
    version: `${String(recorded.version)}-replayed`,
    data: Buffer.from(out.cipherText).toString("base64url"),
    headers: replaced,
  };
}

describe("replaying autoconnect 1.83.1 to the client", () => {
  it("core session: hello, register with and without a key, notifications, restart, stored batch, unregister", async () => {
    const [first, second] = loadSession("session-core.jsonl");
    const ids = new IdMap();
    ({ service } = newService(server.url, { retryBaseInterval: 10 }));
    const messages = collect<PushMessageEvent>((fn) => service.observe("push-message", fn));
    const decryptErrors = collect<DecryptErrorEvent>((fn) => service.observe("decrypt-error", fn));
    await service.start();

    // Connection 1, step by step: the client's side must be the recorded client's.
    const c1 = await server.nextConnection();
    const frames1 = first!.frames;
    expect(await c1.nextText()).toBe(frames1[0]!.text);
    c1.send(frames1[1]!.text);
    await service.ready();
    // The client sends the key padded (as Firefox does); the app gives it unpadded.
    const recordedKey = String(frames1[2]!.frame.key).replace(/=+$/, "");
    const vapidScope = "https://vapid.example/";
    const plainScope = "https://plain.example/";
    const withKey = service.subscribe({ scope: vapidScope, applicationServerKey: recordedKey });
    const register1 = await c1.next();
    ids.set(String(frames1[2]!.frame.channelID), String(register1.channelID));
    expect(JSON.stringify(register1)).toBe(ids.apply(frames1[2]!.text));
    c1.send(ids.apply(frames1[3]!.text));
    const vapidSubscription = await withKey;
    expect(vapidSubscription.endpoint).toBe(frames1[3]!.frame.pushEndpoint);

    const withoutKey = service.subscribe({ scope: plainScope });
    const register2 = await c1.next();
    ids.set(String(frames1[4]!.frame.channelID), String(register2.channelID));
    expect(JSON.stringify(register2)).toBe(ids.apply(frames1[4]!.text));
    c1.send(ids.apply(frames1[5]!.text));
    const plainSubscription = await withoutKey;

    // The three recorded notifications, verbatim: undecryptable here, so acked 101 one by one.
    const rest1: RecordedConnection = { frames: frames1.slice(6) };
    await play(c1, rest1, ids, (ours, recorded) => expectAck(ours, recorded, ids, 101));
    expect(decryptErrors.map((e) => e.scope)).toEqual([vapidScope, plainScope, vapidScope]);
    expect(decryptErrors.map((e) => e.messageId)).toEqual(
      framesOf(rest1, "s2c").map((frame) => frame.version),
    );

    // The same frames, payload re-encrypted for this client: delivered, acked 100.
    const subscriptionOf = (frame: Frame) =>
      ids.apply(String(frame.channelID)) === String(register1.channelID)
        ? vapidSubscription
        : plainSubscription;
    for (const [i, frame] of framesOf(rest1, "s2c").entries()) {
      const mapped = JSON.parse(ids.apply(JSON.stringify(frame))) as Frame;
      const replay = reencrypted(mapped, subscriptionOf(mapped), `replayed ${i}`);
      c1.send(replay);
      expect(await c1.next()).toEqual({
        messageType: "ack",
        updates: [{ channelID: replay.channelID, version: replay.version, code: 100 }],
      });
    }
    expect(messages.map((m) => m.data?.text())).toEqual(["replayed 0", "replayed 1", "replayed 2"]);

    // The server closes (the recording's restart); the client comes back with its uaid.
    c1.close(first!.close!.code, first!.close!.reason);
    const c2 = await server.nextConnection();
    // The stored batch: one ack per notification, in order, each in the recorded shape.
    const unregisterAt = second!.frames.findIndex((f) => f.frame.messageType === "unregister");
    const beforeUnregister: RecordedConnection = { frames: second!.frames.slice(0, unregisterAt) };
    await play(c2, beforeUnregister, ids, (ours, recorded) => {
      if (JSON.parse(recorded).messageType === "hello") expect(ours).toBe(recorded);
      else expectAck(ours, recorded, ids, 101);
    });
    expect(decryptErrors).toHaveLength(3 + framesOf(beforeUnregister, "s2c").length - 1);

    const unsubscribed = service.unsubscribe(plainScope);
    expect(await c2.nextText()).toBe(ids.apply(second!.frames[unregisterAt]!.text));
    c2.send(ids.apply(second!.frames[unregisterAt + 1]!.text));
    expect(await unsubscribed).toBe(true);
    expect(await service.getSubscription(plainScope)).toBeNull();
  });

  it("uaid reset: close 1000 SM after the batch, a new uaid on hello, push-subscription-change", async () => {
    const [first, second, third] = loadSession("session-uaid-reset.jsonl");
    expect(second!.close).toEqual({ code: 1000, reason: "SM" });
    const ids = new IdMap();
    ({ service } = newService(server.url, { retryBaseInterval: 10 }));
    const changes = collect<PushSubscriptionChangeEvent>((fn) =>
      service.observe("push-subscription-change", fn),
    );
    // Delivery waits for an app listening for pushes, as a browser waits for a service worker.
    service.observe("push-message", () => {});
    await service.start();
    const scope = "https://reset.example/";

    const c1 = await server.nextConnection();
    expect(await c1.nextText()).toBe(first!.frames[0]!.text);
    c1.send(first!.frames[1]!.text);
    await service.ready();
    const subscribing = service.subscribe({ scope });
    const register = await c1.next();
    ids.set(String(first!.frames[2]!.frame.channelID), String(register.channelID));
    expect(JSON.stringify(register)).toBe(ids.apply(first!.frames[2]!.text));
    c1.send(ids.apply(first!.frames[3]!.text));
    const old = await subscribing;
    c1.close(first!.close!.code, first!.close!.reason);

    // Connection 2: the stored batch up to msg_limit, one 101 ack each, then close 1000 "SM".
    const c2 = await server.nextConnection();
    await play(c2, second!, ids, (ours, recorded) => {
      if (JSON.parse(recorded).messageType === "hello") expect(ours).toBe(recorded);
      else expectAck(ours, recorded, ids, 101);
    });
    expect(framesOf(second!, "c2s").filter((f) => f.messageType === "ack")).toHaveLength(10);
    c2.close(second!.close!.code, second!.close!.reason);

    // Connection 3: the client still says its old uaid; the server answers with a new one.
    const c3 = await server.nextConnection();
    expect(await c3.nextText()).toBe(third!.frames[0]!.text);
    const changed = new Promise<void>((resolve) =>
      service.observe("push-subscription-change", () => resolve()),
    );
    c3.send(third!.frames[1]!.text);
    await changed;
    await service.ready();
    expect(service.uaid).toBe(third!.frames[1]!.frame.uaid);
    expect(changes).toEqual([
      { scope, oldSubscription: expect.objectContaining({ endpoint: old.endpoint }) },
    ]);
    expect(await service.getSubscription(scope)).toBeNull();

    // The app subscribes again, as an app handling push-subscription-change does: recorded shape.
    const again = service.subscribe({ scope });
    const reRegister = await c3.next();
    ids.set(String(third!.frames[2]!.frame.channelID), String(reRegister.channelID));
    expect(JSON.stringify(reRegister)).toBe(ids.apply(third!.frames[2]!.text));
    c3.send(ids.apply(third!.frames[3]!.text));
    expect((await again).endpoint).toBe(third!.frames[3]!.frame.pushEndpoint);
    c3.send(ids.apply(third!.frames[4]!.text));
    expectAck(await c3.nextText(), third!.frames[5]!.text, ids, 101);
  });

  it("broadcasts: broadcast_subscribe while Ready, the current version, then a new one", async () => {
    const [only] = loadSession("session-broadcast.jsonl");
    ({ service } = newService(server.url));
    await service.start();
    const c1 = await server.nextConnection();
    expect(await c1.nextText()).toBe(only!.frames[0]!.text);
    c1.send(only!.frames[1]!.text);
    await service.ready();

    const seen: string[] = [];
    const subscribeFrame = only!.frames[2]!;
    const [id, version] = Object.entries(subscribeFrame.frame.broadcasts as Record<string, string>)[0]!;
    let next: () => void = () => {};
    await service.addBroadcastListener(id, version, (value, broadcastID, { phase }) => {
      seen.push(`${broadcastID}=${value} (${phase})`);
      next();
    });
    expect(await c1.nextText()).toBe(subscribeFrame.text);
    for (const step of only!.frames.slice(3)) {
      const delivered = new Promise<void>((resolve) => {
        next = resolve;
      });
      c1.send(step.text);
      await delivered;
    }
    // The answer to broadcast_subscribe is the "register" phase, a later change the "broadcast" one.
    expect(seen).toEqual(["check/bc=v1 (register)", "check/bc=v2 (broadcast)"]);
  });

  it("the recordings hold the shapes the tests rely on", () => {
    const [, second] = loadSession("session-core.jsonl");
    const notification = framesOf(second!, "s2c").find((f) => f.messageType === "notification")!;
    expect(shape(notification)).toEqual({
      channelID: "string",
      data: "string",
      headers: { encoding: "string" },
      messageType: "notification",
      version: "string",
    });
  });
});
