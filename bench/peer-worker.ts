/**
 * Burst and stored drain, push-agent beside the plain reference, in one process and one run:
 * `peer-worker.ts <messages> <runs> <threads>`. Each run measures, interleaved:
 *
 *   ecdh      raw P-256 ECDH op/s in this process, computeSecret and the best per-message path of
 *             this runtime (ecdh-paths.ts): the floor of a message's cost
 *   burst     <messages> 3 KB aes128gcm notifications written at once right after the hello reply
 *             by a scripted server in another process (burst-server-child.ts): the client is the
 *             only limit
 *   drain     the same number stored at the local push server (another process), streamed in its
 *             batches of 10, the next batch after every ack
 *
 * for three clients: push-agent (in-memory PushDB), push-agent with `decryptWorkers: <threads>`,
 * and the plain reference: a bare `ws` client that JSON-parses each frame, decrypts it with
 * `http_ece` and sends the ack, with no store, no dedupe and no observers. Rate: first
 * notification frame to last ack; CPU: this process, all threads; event-loop delay p99 of the
 * main thread during the window.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createECDH } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as ece from "http_ece";
import WebSocket from "ws";
import { createMemoryStorage, openMemoryPushDB } from "../src/db/memory.ts";
import { silentLogger } from "../src/log.ts";
import { PushService } from "../src/service/push-service.ts";
import { fill, PAYLOAD_BYTES, Probe, type Target } from "./delivery-probe.ts";
import { bestPerMessageEcdh } from "./ecdh-paths.ts";
import { benchFile, type ChildServer, finish, median, ROOT, startServerProcess } from "./support.ts";

export type Client = "agent" | "workers" | "plain";

export interface PeerSample {
  client: Client;
  mode: "burst" | "drain";
  rate: number;
  /** CPU ms per message, all threads of this process. */
  cpuMsPerMessage: number;
  /** Main-thread event-loop delay p99 in the window, ms. */
  loopP99Ms: number;
}

export interface PeerResult {
  /** computeSecret op/s, one per run. */
  ecdh: number[];
  /** The best per-message path's op/s, one per run, by wall and by CPU time. */
  ecdhBest: number[];
  ecdhBestCpu: number[];
  samples: PeerSample[];
}

const ECDH_MS = 500;

function ecdhRates(): { computeSecret: number; best: number; bestCpu: number } {
  const { best, rates } = bestPerMessageEcdh(ECDH_MS);
  return { computeSecret: rates.computesecret!.wall, best: best.wall, bestCpu: best.cpu };
}

// --- the scripted burst server -----------------------------------------------------------------

interface BurstServer {
  url: string;
  load(frames: string[]): Promise<void>;
  close(): void;
}

async function startBurstServer(): Promise<BurstServer> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", benchFile("burst-server-child.ts")],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const next = <T>() => new Promise<T>((resolve) => child.once("message", (m) => resolve(m as T)));
  const { url } = await next<{ url: string }>();
  return {
    url,
    load: async (frames) => {
      const loaded = next();
      child.send({ type: "load", frames });
      await loaded;
    },
    close: () => child.send({ type: "close" }),
  };
}

/** Notification frames for one subscription, encrypted by http_ece (sender keys fresh each). */
function burstFrames(channelID: string, keys: Target["keys"], messages: number): string[] {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x78);
  const bodies = Array.from({ length: 8 }, () => {
    const sender = createECDH("prime256v1");
    sender.generateKeys();
    return ece
      .encrypt(payload, {
        version: "aes128gcm",
        dh: keys.p256dh,
        privateKey: sender,
        authSecret: keys.auth,
      })
      .toString("base64url");
  });
  return Array.from({ length: messages }, (_, i) =>
    JSON.stringify({
      messageType: "notification",
      channelID,
      version: `burst-${i}`,
      data: bodies[i % bodies.length],
      headers: { encoding: "aes128gcm" },
    }),
  );
}

// --- the plain reference ------------------------------------------------------------------------

interface PlainClient {
  channelID: string;
  uaid: string | null;
  keys: Target["keys"];
  endpoint: string;
  ecdh: ReturnType<typeof createECDH>;
  auth: Buffer;
}

function newPlainClient(): PlainClient {
  const ecdh = createECDH("prime256v1");
  const auth = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
  const publicKey = ecdh.generateKeys();
  return {
    channelID: crypto.randomUUID(),
    uaid: null,
    keys: { p256dh: publicKey.toString("base64url"), auth: auth.toString("base64url") },
    endpoint: "",
    ecdh,
    auth,
  };
}

/** hello (+ register when asked); resolves once the registration is confirmed. */
function plainRegister(url: string, client: PlainClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on("error", reject);
    ws.on("open", () => ws.send(JSON.stringify({ messageType: "hello", use_webpush: true, broadcasts: {} })));
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (frame.messageType === "hello") {
        client.uaid = frame.uaid;
        ws.send(JSON.stringify({ messageType: "register", channelID: client.channelID }));
      } else if (frame.messageType === "register") {
        client.endpoint = frame.pushEndpoint;
        ws.close();
        resolve();
      }
    });
  });
}

/** The reference client: parse, decrypt with http_ece, ack; nothing else. */
function plainReceive(url: string, client: PlainClient, probe: Probe): Promise<void> {
  const ws = new (probe.socket() as unknown as typeof WebSocket)(url);
  ws.on("open", () =>
    ws.send(JSON.stringify({ messageType: "hello", uaid: client.uaid, use_webpush: true, broadcasts: {} })),
  );
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data));
    if (frame.messageType !== "notification") return;
    ece.decrypt(Buffer.from(frame.data, "base64url"), {
      version: "aes128gcm",
      privateKey: client.ecdh,
      authSecret: client.auth,
    });
    ws.send(
      JSON.stringify({
        messageType: "ack",
        updates: [{ channelID: frame.channelID, version: frame.version, code: 100 }],
      }),
    );
  });
  return probe.done.then(() => ws.close());
}

// --- push-agent ----------------------------------------------------------------------------------

async function agentSubscribe(url: string, storage: ReturnType<typeof createMemoryStorage>, threads: number) {
  const service = new PushService({
    serverURL: url,
    db: openMemoryPushDB(storage),
    logger: silentLogger,
    decryptWorkers: threads,
  });
  await service.start();
  await service.ready();
  const subscription = await service.subscribe({ scope: "https://bench.example/" });
  await service.stop();
  const record = [...storage.records.values()][0]!;
  const json = subscription.toJSON();
  return { channelID: record.channelID, target: { endpoint: json.endpoint, keys: json.keys } };
}

async function agentReceive(
  url: string,
  storage: ReturnType<typeof createMemoryStorage>,
  threads: number,
  probe: Probe,
): Promise<void> {
  const service = new PushService({
    serverURL: url,
    db: openMemoryPushDB(storage),
    logger: silentLogger,
    WebSocket: probe.socket(),
    decryptWorkers: threads,
  });
  service.observe("push-message", () => {});
  await service.start();
  await probe.done;
  await service.stop();
}

// --- one measurement -------------------------------------------------------------------------------

async function measure(
  client: Client,
  mode: PeerSample["mode"],
  messages: number,
  threads: number,
  servers: { burst: BurstServer; local: ChildServer },
): Promise<PeerSample> {
  const url = mode === "burst" ? servers.burst.url : servers.local.url;
  const probe = new Probe(messages);
  let receive: () => Promise<void>;
  let target: Target;
  let channelID: string;
  if (client === "plain") {
    const plain = newPlainClient();
    await plainRegister(url, plain);
    target = { endpoint: plain.endpoint, keys: plain.keys };
    channelID = plain.channelID;
    receive = () => plainReceive(url, plain, probe);
  } else {
    const storage = createMemoryStorage();
    const workerThreads = client === "workers" ? threads : 0;
    ({ channelID, target } = await agentSubscribe(url, storage, workerThreads));
    receive = () => agentReceive(url, storage, workerThreads, probe);
  }
  if (mode === "burst") await servers.burst.load(burstFrames(channelID, target.keys, messages));
  else await fill([target], messages);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  await receive();
  loop.disable();
  const window = probe.lastAck - probe.firstFrame;
  const cpu = probe.cpu!;
  return {
    client,
    mode,
    rate: (messages * 1000) / window,
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / messages,
    loopP99Ms: loop.percentile(99) / 1e6,
  };
}

const [messagesArg, runsArg, threadsArg] = process.argv.slice(2);
const messages = Number(messagesArg ?? 2000);
const runs = Number(runsArg ?? 3);
const threads = Number(threadsArg ?? 2);
const local = await startServerProcess({ maxStoredPerUser: messages + 1000, msgLimit: 1e9 });
const burst = await startBurstServer();
const result: PeerResult = { ecdh: [], ecdhBest: [], ecdhBestCpu: [], samples: [] };
try {
  // Warm-up, not counted: JIT, first connections, the worker pool's start.
  for (const client of ["agent", "workers", "plain"] as const) {
    await measure(client, "burst", Math.min(500, messages), threads, { burst, local });
  }
  for (let run = 0; run < runs; run++) {
    const ecdh = ecdhRates();
    result.ecdh.push(ecdh.computeSecret);
    result.ecdhBest.push(ecdh.best);
    result.ecdhBestCpu.push(ecdh.bestCpu);
    for (const mode of ["burst", "drain"] as const) {
      for (const client of ["agent", "workers", "plain"] as const) {
        result.samples.push(await measure(client, mode, messages, threads, { burst, local }));
      }
    }
  }
} finally {
  burst.close();
  await local.close();
}
console.error(
  `  peers: ecdh ${Math.round(median(result.ecdh))}/s, best per message ${Math.round(median(result.ecdhBest))}/s; ${result.samples
    .map((s) => `${s.mode} ${s.client} ${Math.round(s.rate)}`)
    .join(", ")}`,
);
finish(result);
