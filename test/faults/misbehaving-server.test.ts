/**
 * Fault 3: the server misbehaves (ScriptedServer): bad hello replies, replies for channels nobody
 * asked about, a flood of 10,000 notifications for unknown channels, 1 MB frames, invalid UTF-8,
 * 100,000-level JSON nesting, `__proto__` / `constructor` keys in every position. After each the
 * client is still up (no uncaught exception, no unhandled rejection) and still serves valid
 * traffic: a valid notification is delivered and acked 100. Counts go to
 * .tmp/reliability/misbehaving-server.json.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import webpush from "web-push";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { PushService } from "../../src/service/push-service.ts";
import type { PushSubscription } from "../../src/subscription.ts";
import { testDecryptWorkers } from "../helpers/decrypt-workers.ts";
import { captureLogger } from "../helpers/logger.ts";
import { type ScriptedConnection, ScriptedServer } from "../helpers/scripted-server.ts";
import { Inbox } from "./support/local.ts";
import { CrashCounter, ReliabilityLog } from "./support/report.ts";

const UAID = "5f3a4bd7a48d4a3a9b7e1d4a1c0fbb11";
const SCOPE = "https://hostile.example/";
const FLOOD = 10_000;

const log = new ReliabilityLog("misbehaving-server");
const crashes = new CrashCounter();

let server: ScriptedServer;
let service: PushService;
let inbox: Inbox;
let connection: ScriptedConnection;
let subscription: PushSubscription;
let channelID: string;
let acks: AckLog;
let checks = 0;
/** Notifications the current test sent for delivery to the app (hostile frames not included). */
let validSent = 0;

/** Every ack the client sent on one connection: version → codes. */
class AckLog {
  readonly codes = new Map<string, number[]>();
  count = 0;
  constructor(connection: ScriptedConnection) {
    connection.socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString()) as { messageType?: string; updates?: unknown };
      if (frame.messageType !== "ack" || !Array.isArray(frame.updates)) return;
      for (const { version, code } of frame.updates as { version: string; code: number }[]) {
        this.count++;
        this.codes.set(version, [...(this.codes.get(version) ?? []), code]);
      }
    });
  }
}

beforeAll(() => void crashes.install());
afterAll(() => {
  crashes.uninstall();
  log.write();
});

beforeEach(async () => {
  server = await ScriptedServer.start();
  service = new PushService({
    decryptWorkers: testDecryptWorkers,
    serverURL: server.url,
    db: openMemoryPushDB(createMemoryStorage()),
    logger: captureLogger(),
    retryBaseInterval: 5,
  });
  inbox = new Inbox(service);
  validSent = 0;
  await service.start();
  connection = await server.nextConnection();
  acks = new AckLog(connection);
  await connection.acceptHello(UAID);
  const pending = service.subscribe({ scope: SCOPE });
  channelID = String((await connection.acceptRegister("https://push.example/wpush/v1/")).channelID);
  subscription = await pending;
});

afterEach(async () => {
  await service.stop();
  await server.close();
});

/** Accept the client's next connection with a good hello; it becomes the current one. */
async function reconnected(): Promise<ScriptedConnection> {
  connection = await server.nextConnection();
  acks = new AckLog(connection);
  await connection.acceptHello(UAID);
  return connection;
}

function encrypted(version: string, payload: string) {
  const { keys } = subscription.toJSON();
  const result = webpush.encrypt(keys.p256dh, keys.auth, payload, "aes128gcm");
  return {
    messageType: "notification",
    channelID,
    version,
    data: Buffer.from(result.cipherText).toString("base64url"),
    headers: { encoding: "aes128gcm" },
  };
}

/** The client is alive and serving: a valid encrypted notification is delivered and acked 100. */
async function stillServes(label: string): Promise<void> {
  checks++;
  const version = `valid-${label}-${checks}`;
  const payload = `still serving ${checks}`;
  validSent++;
  connection.send(encrypted(version, payload));
  await inbox.all([payload]);
  await waitForAck(version);
  expect(acks.codes.get(version)).toEqual([100]);
  expect(crashes.total).toBe(0);
  expect(service.uaid).toBe(UAID);
  expect((await service.getSubscription(SCOPE))?.endpoint).toBe(subscription.endpoint);
}

/** heapUsed after a full GC (v8's gc exposed at run time; without it, heapUsed as is). */
function heapAfterGC(): number {
  try {
    setFlagsFromString("--expose-gc");
    (runInNewContext("gc") as () => void)();
  } catch {
    // No GC available: the number is only indicative.
  }
  return process.memoryUsage().heapUsed;
}

function waitForAck(version: string): Promise<void> {
  return waitUntil(() => acks.codes.has(version), `an ack for ${version}`);
}

async function waitUntil(condition: () => boolean, what: string, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Records the current test's row: sent and delivered are this test's valid notifications. */
function row(id: string, title: string, runs: number, notes: string) {
  log.add({
    id,
    category: "fault",
    title,
    runs,
    sent: validSent,
    delivered: inbox.distinct,
    duplicated: inbox.duplicates,
    lost: validSent - inbox.distinct,
    crashes: crashes.total,
    notes,
  });
}

describe("fault 3: the server misbehaves", () => {
  it("hello replies without uaid, with an empty, a 200-character or a non-string one: reconnect, keep the uaid", async () => {
    const badHellos: Record<string, unknown>[] = [
      { messageType: "hello", status: 200, use_webpush: true },
      { messageType: "hello", uaid: "", status: 200, use_webpush: true },
      { messageType: "hello", uaid: "u".repeat(200), status: 200, use_webpush: true },
      { messageType: "hello", uaid: 12345, status: 200, use_webpush: true },
      { messageType: "hello", uaid: { __proto__: null }, status: 200, use_webpush: true },
    ];
    for (const bad of badHellos) {
      connection.terminate();
      const next = await server.nextConnection();
      expect((await next.next()).messageType).toBe("hello");
      next.send(bad);
      await next.closed;
      const hello = (await reconnected()).received[0]!;
      expect(JSON.parse(hello).uaid).toBe(UAID);
      await stillServes("bad-hello");
    }
    row(
      "F3a",
      "hello reply without uaid, empty, 200 characters, a number, an object",
      badHellos.length,
      "each: the client closes, reconnects with backoff and says hello with its stored uaid",
    );
  });

  it("register and unregister replies for channels nobody asked about are ignored", async () => {
    const stray = 200;
    for (let i = 0; i < stray; i++) {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      connection.send({
        messageType: "register",
        channelID: id,
        status: 200,
        pushEndpoint: `https://x/${i}`,
      });
      connection.send({ messageType: "unregister", channelID: id, status: 200 });
    }
    // A real register still pairs with its own reply.
    const pending = service.subscribe({ scope: "https://second.example/" });
    const register = await connection.acceptRegister();
    expect((await pending).endpoint).toContain(String(register.channelID));
    await stillServes("stray-replies");
    expect(await service.subscriptions()).toHaveLength(2);
    row(
      "F3b",
      "register / unregister replies for unknown channels",
      2 * stray,
      "ignored; a real register afterwards works",
    );
  });

  it(`a flood of ${FLOOD.toLocaleString("en")} notifications for unknown channels: every one acked 102`, async () => {
    const heapBefore = heapAfterGC();
    for (let i = 0; i < FLOOD; i++) {
      const unknown = `ffffffff-0000-4000-8000-${String(i % 5000).padStart(12, "0")}`;
      connection.send({ messageType: "notification", channelID: unknown, version: `flood-${i}` });
    }
    await waitUntil(() => acks.count >= FLOOD, `${FLOOD} acks`, 60_000);
    const codes = new Set([...acks.codes.values()].flat());
    const acked = acks.codes.size;
    expect(acked).toBe(FLOOD);
    expect(codes).toEqual(new Set([102]));
    const heapGrowth = heapAfterGC() - heapBefore;
    await stillServes("flood");
    expect(inbox.total).toBe(1);
    row(
      "F3c",
      `flood of ${FLOOD.toLocaleString("en")} notifications for unknown channels`,
      FLOOD,
      `all ${acked.toLocaleString("en")} acked 102, nothing delivered, in-flight set drained; heap retained after GC ${(heapGrowth / 2 ** 20).toFixed(1)} MiB`,
    );
  });

  it("1 MB frames are ignored unparsed and never acked", async () => {
    const mb = 1024 * 1024;
    const huge = [
      JSON.stringify({ ...encrypted("huge", "x"), data: "A".repeat(mb) }),
      "x".repeat(mb),
      JSON.stringify("s".repeat(mb)),
      `{"messageType":"notification","channelID":"${channelID}","version":"huge2","pad":"${" ".repeat(mb)}"}`,
    ];
    for (const frame of huge) connection.send(frame);
    await stillServes("1mb");
    expect(acks.codes.has("huge")).toBe(false);
    expect(acks.codes.has("huge2")).toBe(false);
    row(
      "F3d",
      "frames of 1 MB (notification, garbage, JSON string, padded notification)",
      huge.length,
      "ignored before JSON.parse (limit 256 KiB); not acked",
    );
  });

  it("invalid UTF-8 in a text frame: the socket fails, the client reconnects and carries on", async () => {
    const frames = [
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      Buffer.from([0xc3, 0x28]),
      Buffer.concat([
        Buffer.from('{"messageType":"notification","channelID":"'),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from('"}'),
      ]),
    ];
    for (const frame of frames) {
      connection.socket.send(frame, { binary: false });
      await reconnected();
      await stillServes("utf8");
    }
    row(
      "F3e",
      "invalid UTF-8 sent as a text frame",
      frames.length,
      "the WebSocket fails the frame (1007); the client reconnects and says hello with its uaid",
    );
  });

  it("JSON nested 100,000 levels deep", async () => {
    const depth = 100_000;
    const frames = [
      "[".repeat(depth),
      `${"[".repeat(depth)}${"]".repeat(depth)}`,
      `{"messageType":"broadcast","broadcasts":${"[".repeat(depth)}${"]".repeat(depth)}}`,
      `{"messageType":"notification","channelID":"${channelID}","version":"deep","data":${"[".repeat(depth)}${"]".repeat(depth)}}`,
      `${'{"a":'.repeat(40_000)}1${"}".repeat(40_000)}`,
      `{"messageType":"hello","uaid":${"[".repeat(depth)}${"]".repeat(depth)}}`,
    ];
    for (const frame of frames.slice(0, -1)) connection.send(frame);
    validSent++; // the deep notification for the subscribed channel: delivered without data
    await stillServes("deep");
    // The deep notification has no usable data: delivered as a data-less push and acked 100.
    await waitForAck("deep");
    expect(acks.codes.get("deep")).toEqual([100]);
    // A deep hello in Ready is an unexpected hello: the client reconnects.
    connection.send(frames.at(-1)!);
    await reconnected();
    await stillServes("deep-hello");
    row(
      "F3f",
      "JSON nested 100,000 levels deep (arrays, objects; as a frame, in broadcasts, data and uaid)",
      frames.length,
      "parsed without stack overflow, then ignored by type; a deep hello in Ready leads to a reconnect",
    );
  });

  it("__proto__ and constructor keys in every object position pollute nothing", async () => {
    const received: string[] = [];
    await service.addBroadcastListener("remote-settings/monitor_changes", "v1", (version) => {
      received.push(version);
    });
    const { data, headers } = encrypted("proto", "proto payload");
    const evil =
      '{"__proto__":{"polluted":"yes","messageType":"hello"},"constructor":{"prototype":{"polluted":"yes"}}';
    const frames = [
      `{"__proto__":{"messageType":"notification"},"constructor":{"prototype":{"polluted":"yes"}},"messageType":"notification","channelID":"${channelID}","version":"proto","data":"${data}","headers":{"__proto__":{"encoding":"aesgcm","polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"encoding":"${headers.encoding}"}}`,
      `{"messageType":"broadcast","broadcasts":{"__proto__":"v9","constructor":"v9","remote-settings/monitor_changes":"v2","errors":{"__proto__":"bad","constructor":"bad"}}}`,
      `{"messageType":"broadcast","broadcasts":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}`,
      `{"messageType":"register","channelID":"__proto__","status":200,"pushEndpoint":"https://x/","__proto__":{"status":200}}`,
      `{"messageType":"unregister","channelID":"constructor","status":200}`,
      `{"messageType":"notification","updates":[{"__proto__":{"channelID":"${channelID}"},"version":1}],"__proto__":{"channelID":"${channelID}"}}`,
      `{"messageType":"notification","channelID":"__proto__","version":"constructor"}`,
      `{"messageType":"notification","channelID":"constructor","version":"__proto__"}`,
      `${evil},"messageType":"__proto__"}`,
      `${evil},"messageType":"constructor"}`,
      `${evil}}`,
    ];
    for (const frame of frames) connection.send(frame);
    validSent++; // the first frame: a valid notification wrapped in prototype keys
    await inbox.all(["proto payload"]);
    await waitForAck("proto");
    expect(acks.codes.get("proto")).toEqual([100]);
    await waitUntil(() => received.includes("v2"), "the broadcast listener");
    // Unknown channels named like prototype keys are acked 102 like any other.
    await waitForAck("constructor");
    await waitForAck("__proto__");
    expect(acks.codes.get("constructor")).toEqual([102]);
    expect(acks.codes.get("__proto__")).toEqual([102]);

    // And in a hello reply, on the next connection.
    connection.terminate();
    const next = await server.nextConnection();
    acks = new AckLog(next);
    connection = next;
    await next.next();
    next.send(
      `{"__proto__":{"uaid":"evil"},"constructor":{"prototype":{"polluted":"yes"}},"messageType":"hello","uaid":"${UAID}","status":200,"use_webpush":true,"broadcasts":{"__proto__":"v9","constructor":"v9","errors":{"__proto__":"x"}}}`,
    );
    await service.ready();
    await stillServes("proto");

    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
    expect(Object.keys(Object.prototype)).toEqual([]);
    row(
      "F3g",
      "__proto__ / constructor keys in every object position (notification, headers, broadcasts, errors, replies, updates, hello)",
      frames.length + 1,
      "Object.prototype untouched; the valid notification among them delivered; prototype-named channels acked 102",
    );
  });
});

describe("a broadcast error reason that is an object with a toString key", () => {
  /*
   * Regression (found by this suite): String(reason) threw "Cannot convert object to primitive
   * value" for {"toString":1}; the throw left the parser, reached the ws listener and killed the
   * host process. Run in a child process so a regression shows as a death, not a crashed runner.
   */
  it("the host process survives it and keeps acking", { timeout: 30_000 }, async () => {
    const scripted = await ScriptedServer.start();
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=push-agent-source",
        fileURLToPath(new URL("./support/survivor-child.ts", import.meta.url)),
        scripted.url,
      ],
      { cwd: fileURLToPath(new URL("../../", import.meta.url)), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    let died = false;
    try {
      const host = await scripted.nextConnection();
      await host.acceptHello(UAID);
      host.send('{"messageType":"broadcast","broadcasts":{"errors":{"x":{"toString":1,"valueOf":1}}}}');
      host.send({
        messageType: "notification",
        channelID: "0c9a2f4b-8e6d-4c1a-a3b2-f1e0d9c8b7a6",
        version: "after",
      });
      const outcome = await Promise.race([
        host.nextOfType("ack").then(() => "acked" as const),
        exited.then(() => "died" as const),
      ]);
      died = outcome === "died";
      log.add({
        id: "F3h",
        category: "fault",
        title: "broadcast error reason that is an object with a non-callable toString",
        runs: 1,
        sent: 1,
        delivered: died ? 0 : 1,
        duplicated: null,
        lost: died ? 1 : 0,
        crashes: died ? 1 : 0,
        notes: died
          ? `host process died: ${stderr.match(/TypeError[^\n]*/)?.[0] ?? "uncaught exception"}`
          : "host survived and acked the next notification (delivered = acked: the host is another process, its app deliveries are not counted, hence no duplicate count)",
      });
      expect(outcome).toBe("acked");
    } finally {
      child.kill("SIGKILL");
      await exited;
      await scripted.close();
    }
  });
});
