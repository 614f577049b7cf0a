/**
 * `push-agent send`: what an application server does. Reads a subscription JSON (file or
 * stdin), encrypts the message with `web-push` and POSTs it to the subscription's endpoint.
 *
 * The request itself is push-agent/server's sendPush: web-push builds it, fetch sends it (web-push's
 * own sender only speaks https, and a local server's endpoints are http://).
 *
 * The VAPID private key can come from a file or an environment variable instead of argv, where
 * `ps` and the shell history would show it.
 */

import { createECDH } from "node:crypto";
import { readFile } from "node:fs/promises";
import { InvalidPushRequestError, type SendPushResult, sendPush, type VapidDetails } from "../server/send.ts";
import { choiceOption, integerOption, type ParsedValues, stringOption, UsageError } from "./args.ts";
import { type CliContext, defineCommand } from "./command.ts";

export type ContentEncoding = "aes128gcm" | "aesgcm";
export type Urgency = "very-low" | "low" | "normal" | "high";

export interface SubscriptionJSON {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface SendOptions {
  ttl: number;
  topic?: string;
  urgency?: Urgency;
  encoding: ContentEncoding;
  vapid?: VapidDetails;
  /** Aborts the HTTP request. */
  signal?: AbortSignal;
}

/** The public key that goes with a base64url P-256 private key (what web-push calls publicKey). */
export function vapidPublicKeyFrom(privateKey: string): string {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(privateKey, "base64url"));
  return ecdh.getPublicKey().toString("base64url");
}

export function parseSubscription(text: string, source: string): SubscriptionJSON {
  const value = parseLeadingJSON(text);
  if (value === undefined) throw new UsageError(`${source} does not start with a JSON object`);
  const sub = value as Partial<SubscriptionJSON> | null;
  const valid =
    typeof sub?.endpoint === "string" &&
    typeof sub.keys?.p256dh === "string" &&
    typeof sub.keys.auth === "string" &&
    sub.keys.p256dh.length > 0 &&
    sub.keys.auth.length > 0;
  if (!valid)
    throw new UsageError(`${source} is not a subscription: expected {endpoint, keys: {p256dh, auth}}`);
  try {
    new URL(sub.endpoint!);
  } catch {
    throw new UsageError(`${source}: endpoint is not a valid URL`);
  }
  return { endpoint: sub.endpoint!, keys: { p256dh: sub.keys!.p256dh!, auth: sub.keys!.auth! } };
}

/**
 * The first JSON object of the text. `push-agent listen > sub.json` keeps appending message
 * lines after the subscription, and the file should still work as a subscription.
 */
function parseLeadingJSON(text: string): unknown {
  const start = text.search(/\S/);
  if (start < 0 || text[start] !== "{") return undefined;
  for (let end = text.indexOf("}", start); end >= 0; end = text.indexOf("}", end + 1)) {
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {
      // not complete yet: try the next closing brace
    }
  }
  return undefined;
}

const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
/** autopush caps TTLs at 30 days (max_notification_ttl); more says nothing else. */
const MAX_TTL = 2_592_000;
export const KEY_ENV = "PUSH_AGENT_VAPID_PRIVATE_KEY";

export const sendCommand = defineCommand(
  {
    name: "send",
    summary: "Encrypt a message for a subscription and push it to the subscription's endpoint.",
    positionals: "<subscription.json|-> <message>",
    minPositionals: 2,
    options: {
      ttl: {
        type: "string",
        value: "SECONDS",
        description: "how long the push service keeps it, 0-2592000 (default 86400)",
      },
      topic: {
        type: "string",
        value: "TOPIC",
        description: "replace a pending message with the same topic (≤32 base64url chars)",
      },
      urgency: { type: "string", value: "U", description: "very-low | low | normal | high" },
      encoding: { type: "string", value: "ENC", description: "aes128gcm (default) | aesgcm" },
      "vapid-subject": { type: "string", value: "S", description: "VAPID contact, mailto: or https: URL" },
      "vapid-private-key": {
        type: "string",
        value: "K",
        description:
          "VAPID private key (base64url); signs the push. Seen by ps and shell history: prefer the next two",
      },
      "vapid-private-key-file": {
        type: "string",
        value: "FILE",
        description:
          "read the VAPID private key from FILE (the key alone, or the JSON `push-agent keys` prints)",
      },
      "vapid-public-key": {
        type: "string",
        value: "K",
        description: "VAPID public key (default: derived from the private key)",
      },
    },
    details: [
      "Reads the subscription JSON (what `push-agent listen` prints) from a file, or from stdin with '-'.",
      "Prints the status and the Location of the created message; exits 1 if the push service refuses it.",
      "Without the VAPID options the push is sent unsigned.",
      "",
      `The VAPID private key is read from --vapid-private-key, --vapid-private-key-file or $${KEY_ENV}`,
      "(in that order). Prefer the file or the variable: any user on the machine sees a command line in",
      "`ps`, and the shell keeps it in its history.",
      "",
      "Example:",
      "  push-agent keys > vapid.json && chmod 600 vapid.json",
      "  push-agent send sub.json 'hi' --vapid-subject mailto:me@example.com --vapid-private-key-file vapid.json",
    ].join("\n"),
  },
  async ({ values, positionals }, ctx) => {
    const [source, message] = positionals as [string, string];
    const options: SendOptions = {
      ttl: integerOption(values, "ttl", { min: 0, max: MAX_TTL }) ?? 86_400,
      topic: stringOption(values, "topic"),
      urgency: choiceOption(values, "urgency", ["very-low", "low", "normal", "high"] as const),
      encoding: choiceOption(values, "encoding", ["aes128gcm", "aesgcm"] as const) ?? "aes128gcm",
      vapid: await readVapid(values, ctx.env ?? process.env),
      signal: ctx.signal,
    };
    if (options.topic !== undefined && !TOPIC.test(options.topic)) {
      throw new UsageError("--topic must be 1-32 base64url characters (A-Z a-z 0-9 - _)");
    }
    const subscription = parseSubscription(await readSource(source, ctx), source === "-" ? "stdin" : source);
    let result: SendPushResult;
    try {
      result = await sendPush(subscription, message, {
        TTL: options.ttl,
        topic: options.topic,
        urgency: options.urgency,
        contentEncoding: options.encoding,
        vapidDetails: options.vapid,
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof InvalidPushRequestError) {
        throw new UsageError(`cannot encrypt for this subscription: ${error.message}`);
      }
      ctx.stderr.write(
        `push-agent send: could not reach ${new URL(subscription.endpoint).origin}: ${describe(error)}\n`,
      );
      return 1;
    }
    if (!result.ok) {
      ctx.stderr.write(`${result.statusCode} ${result.statusText}\n`);
      if (result.body) ctx.stderr.write(`${result.body.trimEnd()}\n`);
      return 1;
    }
    ctx.stdout.write(`${result.statusCode} ${result.statusText}\n`);
    if (result.location) ctx.stdout.write(`Location: ${result.location}\n`);
    return 0;
  },
);

async function readVapid(
  values: ParsedValues,
  env: Readonly<Record<string, string | undefined>>,
): Promise<VapidDetails | undefined> {
  const subject = stringOption(values, "vapid-subject");
  const key = await readPrivateKey(values, env);
  let publicKey = stringOption(values, "vapid-public-key");
  if (subject === undefined && key === undefined && publicKey === undefined) return undefined;
  if (subject === undefined) {
    throw new UsageError(
      `VAPID needs --vapid-subject${key ? ` (a private key came from ${key.source})` : ""}`,
    );
  }
  if (key === undefined) {
    throw new UsageError(
      `VAPID needs a private key: --vapid-private-key-file, $${KEY_ENV} or --vapid-private-key`,
    );
  }
  if (!/^(mailto:|https:)/.test(subject))
    throw new UsageError("--vapid-subject must be a mailto: or https: URL");
  const { privateKey, source } = key;
  if (!/^[A-Za-z0-9_-]{43}$/.test(privateKey)) {
    throw new UsageError(`${source} must hold a 32-byte P-256 key in unpadded base64url`);
  }
  try {
    const derived = vapidPublicKeyFrom(privateKey);
    if (publicKey !== undefined && publicKey !== derived) {
      throw new UsageError(`--vapid-public-key does not match the private key from ${source}`);
    }
    publicKey = derived;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${source} is not a valid P-256 private key`);
  }
  return { subject, publicKey, privateKey };
}

/** The key and where it came from (for error lines, which never show the key). */
async function readPrivateKey(
  values: ParsedValues,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ privateKey: string; source: string } | undefined> {
  const flag = stringOption(values, "vapid-private-key");
  const file = stringOption(values, "vapid-private-key-file");
  if (flag !== undefined && file !== undefined) {
    throw new UsageError("use either --vapid-private-key or --vapid-private-key-file, not both");
  }
  if (flag !== undefined) return { privateKey: flag, source: "--vapid-private-key" };
  if (file !== undefined) return { privateKey: keyFromFile(await readKeyFile(file), file), source: file };
  const fromEnv = env[KEY_ENV]?.trim();
  return fromEnv ? { privateKey: fromEnv, source: `$${KEY_ENV}` } : undefined;
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read --vapid-private-key-file ${file}${code ? ` (${code})` : ""}`);
  }
}

/** The key alone, or `push-agent keys`' JSON with its privateKey field. */
function keyFromFile(text: string, file: string): string {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return trimmed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new UsageError(`${file} is neither a bare key nor JSON`);
  }
  const privateKey = (parsed as { privateKey?: unknown } | null)?.privateKey;
  if (typeof privateKey !== "string") throw new UsageError(`${file} has no "privateKey" string`);
  return privateKey;
}

async function readSource(source: string, ctx: CliContext): Promise<string> {
  if (source === "-") return readAll(ctx.stdin);
  try {
    return await readFile(source, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${source}${code ? ` (${code})` : ""}`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
