/**
 * Fault 2, the driver: a host process (host-child.ts) on the durable Level store is SIGKILLed at
 * random moments while pushes stream in from this process, and restarted on the same folder.
 * Afterwards every payload must have been printed by some host (an acked message was printed
 * before its ack; an unacked one is re-sent), and a payload printed twice is only allowed for a
 * kill between the app getting it and the id reaching the store.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { openLevelPushDB } from "../../../src/node.ts";
import { createPushServer, type PushServer } from "../../../src/server/index.ts";
import { send, waitFor } from "./local.ts";
import { seededRandom } from "./report.ts";

const CHILD = fileURLToPath(new URL("./host-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SCOPES = ["https://kill-1.example/", "https://kill-2.example/"];
/** A host that prints nothing for this long is stuck: the scenario fails instead of hanging. */
const STALL_MS = 30_000;

export interface HostKillOptions {
  kills: number;
  pushes: number;
  seed: number;
}

export interface HostKillResult {
  kills: number;
  starts: number;
  /** Hosts that got as far as opening the store (the others were killed before). */
  opens: number;
  sent: number;
  delivered: number;
  duplicated: number;
  lost: string[];
  /** Hosts that exited without being killed, or whose store did not open. */
  crashes: number;
  /**
   * Upper bound for duplicates: the messages killed hosts printed but had not acked. Messages in
   * flight share a store batch, so several per subscription can sit between print and ack.
   */
  duplicateBound: number;
  /**
   * Prints followed by another print of the same payload that a kill does not explain: the
   * earlier print must come from a host that was then killed before it acked that message. A
   * message whose ack went out must never be delivered again.
   */
  unexplainedDuplicates: string[];
  killsDuringStartup: number;
  killsWhileDelivering: number;
  stderr: string[];
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** One host process and what it printed. */
class Host {
  readonly process: ChildProcess;
  readonly spawnedAt = Date.now();
  readonly closed: Promise<Exit>;
  readonly subscriptions = new Map<string, unknown>();
  opened = false;
  ready = false;
  killed = false;
  exit: Exit | null = null;
  /** Payloads in the order this host printed them. */
  readonly printed: string[] = [];
  /** Payloads whose ack this host handed to its socket. */
  readonly acked = new Set<string>();
  readonly #payloadOf = new Map<string, string>();
  stderr = "";
  readonly #wake = new Set<() => void>();

  constructor(serverURL: string, dir: string, onPayload: (payload: string) => void) {
    this.process = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=push-agent-source", CHILD, serverURL, dir, ...SCOPES],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.process.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    createInterface({ input: this.process.stdout! }).on("line", (text) => {
      this.#onLine(text, onPayload);
      for (const wake of [...this.#wake]) wake();
    });
    this.closed = new Promise((resolve) =>
      this.process.on("close", (code, signal) => {
        this.exit = { code, signal };
        for (const wake of [...this.#wake]) wake();
        resolve(this.exit);
      }),
    );
  }

  #onLine(text: string, onPayload: (payload: string) => void): void {
    const [kind, first, ...rest] = text.split(" ");
    if (kind === "open") this.opened = true;
    else if (kind === "ready") this.ready = true;
    else if (kind === "sub") this.subscriptions.set(first!, JSON.parse(rest.join(" ")));
    else if (kind === "msg") {
      const payload = rest.join(" ");
      this.#payloadOf.set(first!, payload);
      this.printed.push(payload);
      onPayload(payload);
    } else if (kind === "ack") {
      const payload = this.#payloadOf.get(first!);
      if (payload !== undefined) this.acked.add(payload);
    }
  }

  /** Resolves once `condition` holds; rejects if the host exits first or stalls. */
  until(condition: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`host stalled waiting for ${what}`)), STALL_MS);
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.#wake.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (condition()) finish();
        else if (this.exit) finish(new Error(`host exited (${JSON.stringify(this.exit)}) before ${what}`));
      };
      this.#wake.add(check);
      check();
    });
  }

  get prints(): number {
    return this.printed.length;
  }

  async kill(): Promise<Exit> {
    if (!this.exit) {
      this.killed = true;
      this.process.kill("SIGKILL");
    }
    return this.closed;
  }

  async terminate(): Promise<Exit> {
    if (!this.exit) this.process.kill("SIGTERM");
    return this.closed;
  }
}

/** Every print of a payload that is printed again later must come from a host killed before its ack. */
function unexplainedDuplicates(hosts: Host[]): string[] {
  const remaining = new Map<string, number>();
  for (const host of hosts) for (const p of host.printed) remaining.set(p, (remaining.get(p) ?? 0) + 1);
  const unexplained: string[] = [];
  for (const host of hosts) {
    for (const p of host.printed) {
      const left = remaining.get(p)! - 1;
      remaining.set(p, left);
      if (left > 0 && (!host.killed || host.acked.has(p))) unexplained.push(p);
    }
  }
  return unexplained;
}

/** Messages a killed host printed but did not ack: the most that may come back. */
function unackedAtKills(hosts: Host[]): number {
  return hosts
    .filter((host) => host.killed)
    .reduce((sum, host) => sum + host.printed.filter((p) => !host.acked.has(p)).length, 0);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runHostKillScenario(options: HostKillOptions): Promise<HostKillResult> {
  const random = seededRandom(options.seed);
  const dir = await mkdtemp(join(tmpdir(), "push-agent-kill-"));
  // msgLimit off the table: a uaid reset is the server's choice, not a loss by the client.
  const server: PushServer = await createPushServer({ port: 0, msgLimit: 1_000_000 });
  const printed = new Map<string, number>();
  const onPayload = (payload: string) => printed.set(payload, (printed.get(payload) ?? 0) + 1);
  const hosts: Host[] = [];
  const start = () => {
    const host = new Host(server.url, dir, onPayload);
    hosts.push(host);
    return host;
  };
  const result: HostKillResult = {
    kills: 0,
    starts: 0,
    opens: 0,
    sent: 0,
    delivered: 0,
    duplicated: 0,
    lost: [],
    crashes: 0,
    duplicateBound: 0,
    unexplainedDuplicates: [],
    killsDuringStartup: 0,
    killsWhileDelivering: 0,
    stderr: [],
  };
  const killHost = async (host: Host) => {
    const exit = await host.kill();
    result.kills++;
    // Anything but our SIGKILL means the host died on its own.
    if (exit.signal !== "SIGKILL") result.crashes++;
  };

  try {
    let host = start();
    await host.until(() => host.subscriptions.size === SCOPES.length, "the subscriptions");
    const subscriptions = SCOPES.map((scope) => host.subscriptions.get(scope));
    const payloads = Array.from({ length: options.pushes }, (_, i) => `m-${i}`);
    const perCycle = Math.ceil(options.pushes / (options.kills + 1));

    let sending: Promise<void> = Promise.resolve();
    const sendBurst = async (burst: string[]) => {
      for (const payload of burst) {
        const index = Number(payload.slice(2));
        const target = { toJSON: () => subscriptions[index % SCOPES.length] };
        await send(target, payload, { vapid: false, encoding: index % 4 === 3 ? "aesgcm" : "aes128gcm" });
        result.sent++;
      }
    };

    for (let cycle = 0; cycle <= options.kills; cycle++) {
      const burst = payloads.slice(cycle * perCycle, (cycle + 1) * perCycle);
      sending = sending.then(() => sendBurst(burst));
      if (cycle === options.kills) break;
      if (random() < 0.3) {
        // During start-up: store open, hello, re-sent stored messages.
        await delay(Math.max(0, host.spawnedAt + random() * 1500 - Date.now()));
        result.killsDuringStartup++;
      } else {
        // While delivering: after a random number of prints, plus a few ms so the kill lands
        // anywhere in the observer → store write → ack pipeline.
        const target = host.prints + Math.floor(random() * Math.max(1, burst.length));
        await host.until(() => host.prints >= target, `${target} prints`);
        await delay(random() * 8);
        result.killsWhileDelivering++;
      }
      await killHost(host);
      host = start();
    }
    await sending;
    await waitFor(() => payloads.every((p) => printed.has(p)), "every payload to be printed", STALL_MS);

    // Verify nothing is left unacked: after the last host's socket is gone the server moves
    // unacked messages to storage; a fresh host gets them (deduped) and acks them all.
    await killHost(host);
    await waitFor(() => server.stats().connections === 0, "the server to see the host gone");
    const verifier = start();
    await verifier.until(() => verifier.ready, "the verifier's Ready");
    await waitFor(() => server.stats().storedMessages === 0, "every stored message to be acked", STALL_MS);
    const exit = await verifier.terminate();
    if (exit.code !== 0) result.crashes++;

    // The store opens cleanly after all of it, with both subscriptions.
    const db = await openLevelPushDB(dir);
    const records = await db.getAll();
    await db.close();
    if (records.length !== SCOPES.length) throw new Error(`store holds ${records.length} records`);

    result.starts = hosts.length;
    // A host killed before it printed "open" may have been killed mid-open; one that exited
    // on its own without opening failed to open the store.
    result.crashes += hosts.filter((h) => !h.opened && !h.killed).length;
    result.opens = hosts.filter((h) => h.opened).length;
    result.delivered = payloads.filter((p) => printed.has(p)).length;
    result.lost = payloads.filter((p) => !printed.has(p));
    result.duplicated = [...printed.values()].reduce((sum, count) => sum + count - 1, 0);
    result.duplicateBound = unackedAtKills(hosts);
    result.unexplainedDuplicates = unexplainedDuplicates(hosts);
    result.stderr = hosts.map((h) => h.stderr).filter((text) => text.length > 0);
    return result;
  } finally {
    await Promise.all(hosts.map((h) => h.kill()));
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The assertions every host-kill stream must pass. */
export function expectNothingLost(result: HostKillResult, seed: number): void {
  expect(result.lost, `seed ${seed}`).toEqual([]);
  expect(result.crashes, result.stderr.join("\n")).toBe(0);
  expect(result.duplicated, `seed ${seed}`).toBeLessThanOrEqual(result.duplicateBound);
  expect(result.unexplainedDuplicates, `seed ${seed}`).toEqual([]);
}
