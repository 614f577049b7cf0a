/**
 * The whole input path under fuzz: FakeWebSocket → Transport → Connection → parseServerFrame →
 * PushService (lookup, dedupe, decrypt, observers, store, ack). The service holds a real
 * subscription, and mutated frames carry its channelID and real ciphertexts, so hostile fields
 * reach the delivery pipeline and the decryptor. Some inputs arrive during a fresh handshake
 * (queued while the hello reply is handled). No exception may escape `receive()`, no promise
 * may reject unhandled, and the service must still deliver and ack a valid push at the end.
 */

import fc from "fast-check";
import { expect } from "vitest";
import webpush from "web-push";
import { createMemoryStorage, openMemoryPushDB } from "../../../src/db/memory.ts";
import type { Logger } from "../../../src/log.ts";
import { PushService } from "../../../src/service/push-service.ts";
import { CrashCounter } from "../../faults/support/report.ts";
import { testDecryptWorkers } from "../../helpers/decrypt-workers.ts";
import { FakeWebSocket } from "../../helpers/fake-socket.ts";
import { type Family, hostileFrameArb } from "./frames.ts";
import { prototypeIsClean } from "./oracle.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const SCOPE = "https://fuzz.example/";
const HELLO_REPLY = { messageType: "hello", uaid: UAID, status: 200, use_webpush: true };

export interface ServiceFuzzStats {
  inputs: number;
  byFamily: Record<Family, number>;
  duringHandshake: number;
  connections: number;
  delivered: number;
  decryptErrors: number;
  acks: Record<string, number>;
  crashes: number;
  /** The valid push sent after the fuzz, and how often the app got it (counted by payload). */
  validSent: number;
  validDelivered: number;
  logLines: Record<keyof Logger, number>;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
const settle = () => new Promise((resolve) => setImmediate(resolve));

function countingLogger(counts: Record<keyof Logger, number>): Logger {
  return {
    debug: () => void counts.debug++,
    info: () => void counts.info++,
    warn: () => void counts.warn++,
    error: () => void counts.error++,
  };
}

export async function runServiceFuzz(numRuns: number): Promise<ServiceFuzzStats> {
  const stats: ServiceFuzzStats = {
    inputs: 0,
    byFamily: { string: 0, json: 0, mutated: 0 },
    duringHandshake: 0,
    connections: 0,
    delivered: 0,
    decryptErrors: 0,
    acks: {},
    crashes: 0,
    validSent: 0,
    validDelivered: 0,
    logLines: { debug: 0, info: 0, warn: 0, error: 0 },
  };
  const crashes = new CrashCounter().install();
  FakeWebSocket.reset();
  const service = new PushService({
    decryptWorkers: testDecryptWorkers,
    serverURL: "wss://push.example/",
    WebSocket: FakeWebSocket,
    db: openMemoryPushDB(createMemoryStorage()),
    logger: countingLogger(stats.logLines),
    retryBaseInterval: 1,
    pingInterval: 3_600_000,
  });
  let finalDeliveries = 0;
  service.observe("push-message", ({ data }) => {
    stats.delivered++;
    if (data?.text() === "final") finalDeliveries++;
  });
  service.observe("decrypt-error", () => void stats.decryptErrors++);
  const answered = new WeakSet<FakeWebSocket>();

  /** Drive reconnects until Ready; `afterHello` runs right after the hello reply, mid-handshake. */
  const ensureReady = async (afterHello?: (socket: FakeWebSocket) => void) => {
    const deadline = Date.now() + 10_000;
    while (service.state !== "Ready") {
      if (Date.now() > deadline) throw new Error(`stuck in ${service.state}`);
      const socket = FakeWebSocket.last;
      if (service.state === "WaitingForWebSocket" && socket.readyState === 0) socket.open();
      if (service.state === "WaitingForHello" && socket.sent.length > 0 && !answered.has(socket)) {
        answered.add(socket);
        socket.receive(HELLO_REPLY);
        afterHello?.(socket);
        afterHello = undefined;
      }
      await tick();
    }
  };

  try {
    await service.start();
    await ensureReady();
    const pending = service.subscribe({ scope: SCOPE });
    const socket = FakeWebSocket.last;
    while (!socket.sent.some((t) => t.includes('"register"'))) await tick();
    const register = socket.sentFrames().find((f) => f.messageType === "register")!;
    const channelID = String(register.channelID);
    socket.receive({
      messageType: "register",
      channelID,
      status: 200,
      pushEndpoint: "https://push.example/w/1",
    });
    const { keys } = (await pending).toJSON();
    const encrypt = (payload: string, encoding: "aes128gcm" | "aesgcm") => {
      const result = webpush.encrypt(keys.p256dh, keys.auth, payload, encoding);
      const data = Buffer.from(result.cipherText).toString("base64url");
      const headers: Record<string, string> =
        encoding === "aes128gcm"
          ? { encoding }
          : {
              encoding,
              encryption: `salt=${result.salt}`,
              crypto_key: `dh=${Buffer.from(result.localPublicKey).toString("base64url")}`,
            };
      return { data, headers };
    };
    const encrypted = [
      encrypt("fuzz one", "aes128gcm"),
      encrypt("fuzz two", "aesgcm"),
      encrypt("", "aes128gcm"),
    ];

    await fc.assert(
      fc.asyncProperty(
        hostileFrameArb({ channelID, encrypted }),
        fc.integer({ min: 0, max: 49 }),
        async ({ family, text }, dice) => {
          stats.inputs++;
          stats.byFamily[family]++;
          await ensureReady();
          if (dice === 0) {
            // Arrives while the hello reply is being handled: queued, then replayed once Ready.
            stats.duringHandshake++;
            FakeWebSocket.last.serverClose(1006);
            while (service.state === "ShutDown") await tick();
            await ensureReady((s) => s.receive(text));
          } else {
            FakeWebSocket.last.receive(text);
          }
          await settle();
          expect(crashes.total, String(crashes.errors.at(-1))).toBe(0);
          expect(prototypeIsClean()).toBe(true);
        },
      ),
      { numRuns },
    );

    // Still serving: a valid push is delivered and acked 100.
    await ensureReady();
    const last = FakeWebSocket.last;
    stats.validSent++;
    last.receive({
      messageType: "notification",
      channelID,
      version: "final-check",
      ...encrypt("final", "aes128gcm"),
    });
    const deadline = Date.now() + 10_000;
    while (!last.sent.some((t) => t.includes('"final-check"'))) {
      if (Date.now() > deadline) throw new Error("no ack for the final check");
      await tick();
    }
    // Counted by payload: with decryptWorkers an earlier input may still be on its way to the app.
    expect(finalDeliveries).toBe(1);
    expect(last.sentFrames().find((f) => JSON.stringify(f).includes("final-check"))).toEqual({
      messageType: "ack",
      updates: [{ channelID, version: "final-check", code: 100 }],
    });
  } finally {
    await service.stop();
    crashes.uninstall();
  }
  stats.crashes = crashes.total;
  stats.validDelivered = finalDeliveries;
  stats.connections = FakeWebSocket.instances.length;
  for (const socket of FakeWebSocket.instances) {
    for (const frame of socket.sentFrames()) {
      if (frame.messageType !== "ack") continue;
      for (const { code } of frame.updates as { code: number }[])
        stats.acks[code] = (stats.acks[code] ?? 0) + 1;
    }
  }
  return stats;
}

export function describeServiceFuzz(stats: ServiceFuzzStats): string {
  const acks = Object.entries(stats.acks)
    .map(([code, n]) => `${code}×${n}`)
    .join(", ");
  return (
    `${stats.byFamily.string} strings, ${stats.byFamily.json} JSON, ${stats.byFamily.mutated} mutated frames ` +
    `(${stats.duringHandshake} during a handshake); ${stats.connections} connections; ` +
    `${stats.delivered} pushes reached the app, ${stats.decryptErrors} decrypt errors; acks ${acks}; ` +
    `valid push delivered and acked 100 at the end`
  );
}
