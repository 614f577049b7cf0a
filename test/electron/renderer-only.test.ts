/**
 * The renderer-only Electron example (examples/electron/renderer-only.ts) on its defaults, with
 * fake-indexeddb as the renderer's IndexedDB: subscribe, receive a push through onMessage, stop.
 * The same code in a real Chromium renderer is what test/browser/chromium.test.ts proves.
 */

import "fake-indexeddb/auto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { type RendererPushMessage, startPushInRenderer } from "../../examples/electron/renderer-only.ts";
import { sendPush } from "../../src/sender/send.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { captureLogger } from "../helpers/logger.ts";

const SCOPE = "https://electron-app.example/";
const vapid = webpush.generateVAPIDKeys();

let server: PushServer;

beforeAll(async () => {
  server = await createPushServer({ port: 0, logger: captureLogger() });
});

afterAll(async () => {
  await server.close();
});

describe("Electron renderer-only variant", () => {
  it("subscribes on the default IndexedDB store and hands decrypted pushes to onMessage", async () => {
    let deliver!: (message: RendererPushMessage) => void;
    const received = new Promise<RendererPushMessage>((resolve) => {
      deliver = resolve;
    });
    const push = await startPushInRenderer({
      serverURL: server.url,
      onMessage: (message) => deliver(message),
      serviceOptions: { logger: captureLogger() },
    });
    try {
      const subscription = await push.subscribe(SCOPE, vapid.publicKey);
      expect(await push.getSubscription(SCOPE)).toEqual(subscription);
      const sent = await sendPush(subscription, "to the renderer", {
        TTL: 60,
        vapidDetails: { subject: "mailto:test@example.com", ...vapid },
      });
      expect(sent.statusCode).toBe(201);
      expect(await received).toMatchObject({ scope: SCOPE, text: "to the renderer" });
      expect(await push.unsubscribe(SCOPE)).toBe(true);
    } finally {
      await push.stop();
    }
  });
});
