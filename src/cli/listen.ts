/**
 * `push-agent listen`: a headless user agent. Subscribes (or resumes the stored subscription
 * for the scope), prints the subscription JSON an application server needs, then one line per
 * decrypted push until SIGINT/SIGTERM or --count messages.
 *
 * stdout is machine-readable (the JSON object, then one line per message); progress goes to
 * stderr. State (the LevelDB store) lives in --state, so a restart resumes the same endpoint.
 */

import { homedir } from "node:os";
import path from "node:path";
import { encode } from "../crypto/base64url.ts";
import { isP256Point } from "../crypto/keys.ts";
import { openLevelPushDB } from "../db/level.ts";
import { PushError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { PushMessageEvent } from "../observers.ts";
import { PushService } from "../service/push-service.ts";
import type { PushSubscription } from "../subscription.ts";
import { isLoopbackHost } from "../transport/websocket.ts";
import {
  booleanOption,
  integerOption,
  type ParsedValues,
  stringOption,
  UsageError,
  urlOption,
} from "./args.ts";
import { aborted, type CliContext, defineCommand, type Output } from "./command.ts";

export const DEFAULT_SERVER = "wss://push.services.mozilla.com/";
export const DEFAULT_SCOPE = "push-agent:listen";
/** After the last counted message, how long to wait for its ack to be sent before stopping anyway. */
const ACK_GRACE = 2_000;

interface ListenOptions {
  serverURL: string;
  stateDir: string;
  scope: string;
  vapidKey: string | undefined;
  allowInsecure: boolean;
  json: boolean;
  /** Stop after this many messages; undefined = until a signal. */
  count: number | undefined;
  verbose: boolean;
}

export const listenCommand = defineCommand(
  {
    name: "listen",
    summary: "Subscribe, print the subscription JSON, then print each decrypted push as it arrives.",
    options: {
      server: {
        type: "string",
        value: "URL",
        description: `push server WebSocket URL (default ${DEFAULT_SERVER})`,
      },
      state: {
        type: "string",
        value: "DIR",
        description: "where the subscription store lives (default ~/.push-agent)",
      },
      "vapid-key": {
        type: "string",
        value: "KEY",
        description: "application server (VAPID) public key, base64url",
      },
      scope: { type: "string", value: "S", description: `subscription scope (default ${DEFAULT_SCOPE})` },
      "allow-insecure": { type: "boolean", description: "allow ws:// to a non-loopback host" },
      json: {
        type: "boolean",
        description: "print each message as a JSON line {messageId, scope, data, text}",
      },
      once: { type: "boolean", description: "exit after the first message (same as --count 1)" },
      count: { type: "string", value: "N", description: "exit after N messages" },
      verbose: { type: "boolean", short: "v", description: "also log debug lines on stderr" },
    },
    details: [
      "stdout: the subscription JSON (pretty-printed), then one line per message:",
      "  <ISO time> <…messageId tail> <payload text>",
      "Progress and errors go to stderr. Stop with Ctrl+C (SIGINT) or SIGTERM.",
      "",
      "Example:",
      "  push-agent listen --server ws://127.0.0.1:8080/ > sub.json &",
      "  push-agent send sub.json 'hello'",
    ].join("\n"),
  },
  async ({ values }, ctx) => listen(readOptions(values), ctx),
);

function readOptions(values: ParsedValues): ListenOptions {
  const serverURL = urlOption(values, "server", ["ws:", "wss:"]) ?? DEFAULT_SERVER;
  const allowInsecure = booleanOption(values, "allow-insecure");
  const url = new URL(serverURL);
  if (url.protocol === "ws:" && !allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new UsageError(
      `--server ${url.host} uses ws:// to a non-loopback host; use wss:// or --allow-insecure`,
    );
  }
  const vapidKey = stringOption(values, "vapid-key");
  if (vapidKey !== undefined && !isVapidPublicKey(vapidKey)) {
    throw new UsageError(
      "--vapid-key must be an uncompressed P-256 public key in unpadded base64url (87 chars)",
    );
  }
  const once = booleanOption(values, "once");
  const count = integerOption(values, "count", { min: 1 });
  if (once && count !== undefined) throw new UsageError("use either --once or --count, not both");
  return {
    serverURL,
    allowInsecure,
    stateDir: path.resolve(stringOption(values, "state") ?? path.join(homedir(), ".push-agent")),
    scope: stringOption(values, "scope") ?? DEFAULT_SCOPE,
    vapidKey,
    json: booleanOption(values, "json"),
    count: once ? 1 : count,
    verbose: booleanOption(values, "verbose"),
  };
}

function isVapidPublicKey(key: string): boolean {
  return /^[A-Za-z0-9_-]{87}$/.test(key) && isP256Point(new Uint8Array(Buffer.from(key, "base64url")));
}

async function listen(options: ListenOptions, ctx: CliContext): Promise<number> {
  const progress = (message: string) => ctx.stderr.write(`push-agent: ${message}\n`);
  const db = await openLevelPushDB(path.join(options.stateDir, "db"));
  const service = new PushService({
    serverURL: options.serverURL,
    allowInsecureServerURL: options.allowInsecure,
    db,
    logger: stderrLogger(ctx.stderr, options.verbose),
  });
  let stopping = false;
  // One line per distinct cause, like the service's warning: a server down for an hour is one line.
  let lastFailure = "";
  try {
    progress(`connecting to ${options.serverURL}`);
    service.observe("state-change", ({ state, previous, error }) => {
      if (stopping) return;
      if (state === "Ready") lastFailure = "";
      if (state === "Ready") progress(`connected (uaid ${service.uaid?.slice(0, 8)}…)`);
      else if (previous === "Ready") progress("disconnected; reconnecting");
      else if (state === "ShutDown") {
        const line = `cannot connect to ${options.serverURL}${error ? `: ${error.message}` : ""}; retrying`;
        if (line !== lastFailure) progress(line);
        lastFailure = line;
      }
    });
    await service.start();
    if (!(await untilReadyOrAborted(service, ctx.signal))) return 0;
    const subscription = await subscribe(service, options, progress);
    ctx.stdout.write(`${JSON.stringify(subscription.toJSON(), null, 2)}\n`);
    const done = receive(service, options, ctx, progress);
    progress(
      options.count === undefined
        ? "waiting for pushes (Ctrl+C to stop)"
        : `waiting for ${options.count} push${options.count === 1 ? "" : "es"}`,
    );
    await Promise.race([done, aborted(ctx.signal)]);
    return 0;
  } finally {
    stopping = true;
    progress("stopping");
    await service.stop();
    await db.close();
  }
}

/** False when a signal came first. */
async function untilReadyOrAborted(service: PushService, signal: AbortSignal): Promise<boolean> {
  const ready = service.ready().then(
    () => true,
    () => false,
  );
  return Promise.race([ready, aborted(signal).then(() => false)]);
}

async function subscribe(
  service: PushService,
  options: ListenOptions,
  progress: (message: string) => void,
): Promise<PushSubscription> {
  const existing = await service.getSubscription(options.scope);
  let subscription: PushSubscription;
  try {
    subscription = await service.subscribe({
      scope: options.scope,
      applicationServerKey: options.vapidKey ?? null,
    });
  } catch (error) {
    if (error instanceof PushError && error.name === "InvalidStateError") {
      throw new UsageError(
        `the stored subscription for scope '${options.scope}' uses a different --vapid-key; pick another --scope or --state`,
      );
    }
    throw error;
  }
  progress(`${existing ? "resumed" : "subscribed"} ${options.scope}`);
  return subscription;
}

/** Prints every message; resolves once --count messages were handled (and acked). */
function receive(
  service: PushService,
  options: ListenOptions,
  ctx: CliContext,
  progress: (message: string) => void,
): Promise<void> {
  let received = 0;
  let lastSeen = false;
  return new Promise((resolve) => {
    service.observe("push-message", (event) => {
      if (event.scope !== options.scope) return;
      received++;
      ctx.stdout.write(`${options.json ? jsonLine(event) : textLine(event)}\n`);
      if (options.count !== undefined && received >= options.count) {
        lastSeen = true;
        setTimeout(resolve, ACK_GRACE).unref();
      }
    });
    // Recorded and acked right after this event: stop on the next turn so the ack is on the wire.
    service.observe("push-subscription-modified", () => {
      if (lastSeen) setImmediate(resolve);
    });
    service.observe("decrypt-error", ({ messageId, error }) => {
      progress(`could not decrypt message ${shortId(messageId)}: ${error.message}`);
    });
  });
}

function textLine(event: PushMessageEvent): string {
  const text = event.data === null ? "(no payload)" : escapeLine(event.data.text());
  return `${new Date().toISOString()} ${shortId(event.messageId)} ${text}`;
}

function jsonLine(event: PushMessageEvent): string {
  return JSON.stringify({
    messageId: event.messageId,
    scope: event.scope,
    data: event.data ? encode(event.data.bytes()) : null,
    text: event.data ? event.data.text() : null,
  });
}

/** Message ids are Fernet tokens sharing a long prefix; the tail is what tells them apart. */
function shortId(messageId: string): string {
  return messageId.length > 12 ? `…${messageId.slice(-10)}` : messageId;
}

/** One push, one line: line breaks and other control characters are shown escaped. */
function escapeLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export function stderrLogger(err: Output, verbose: boolean): Logger {
  const line = (message: string) => err.write(`push-agent: ${message}\n`);
  // The service's info lines, and its "cannot connect" warning, repeat what the progress lines
  // say; --verbose shows them.
  return {
    debug: verbose ? line : () => {},
    info: verbose ? line : () => {},
    warn: (message) => {
      if (verbose || !message.startsWith("push: cannot connect to ")) line(message);
    },
    error: line,
  };
}
