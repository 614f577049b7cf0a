/**
 * What the chat app server and its clients agree on: the message and page shapes, the push hint,
 * the nickname rule, mention matching, and the small helpers both sides use (short endpoints for
 * logs, atomic JSON files, timeouts). Browser-safe: no Node built-in at module top level.
 */

/** The server keeps this many messages; a page of `GET /messages` holds at most as many. */
export const MAX_MESSAGES = 50;
export const MAX_TEXT_LENGTH = 500;
export const NICKNAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export interface ChatMessage {
  /** Increasing, never reused: the client's bookmark is the last id it has seen. */
  id: number;
  from: string;
  text: string;
  /** ms epoch when the server accepted it. */
  at: number;
}

/** `GET /messages?after=<id>`: messages newer than `after`, oldest first, and the newest id overall. */
export interface MessagesPage {
  latest: number;
  messages: ChatMessage[];
}

/** The whole push payload: a hint that there is news up to `latest`, never the news itself. */
export interface PushHint {
  latest: number;
}

export function isNickname(value: unknown): value is string {
  return typeof value === "string" && NICKNAME_PATTERN.test(value);
}

/** "bob", "@bob", "Bob," mention bob; "bobby" and "mail@bob.example" do not. */
export function mentions(text: string, nickname: string): boolean {
  const name = nickname.replace(/[-]/g, "\\-");
  return new RegExp(`(?<![\\w@-])@?${name}(?![\\w-])`, "i").test(text);
}

export function isMessage(value: unknown): value is ChatMessage {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(m.id) &&
    (m.id as number) > 0 &&
    typeof m.from === "string" &&
    typeof m.text === "string" &&
    typeof m.at === "number"
  );
}

/** A hint from a decrypted payload; null for anything else (the client then simply fetches). */
export function parseHint(text: string | undefined): PushHint | null {
  if (text === undefined) return null;
  try {
    const value: unknown = JSON.parse(text);
    const latest = (value as { latest?: unknown } | null)?.latest;
    return Number.isSafeInteger(latest) && (latest as number) >= 0 ? { latest: latest as number } : null;
  } catch {
    return null;
  }
}

/** Rejects with `message` when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An endpoint for a log line: its origin only, since the path is a capability to push. */
export function shortEndpoint(endpoint: string): string {
  try {
    return `${new URL(endpoint).origin}/…`;
  } catch {
    return "<invalid endpoint>";
  }
}
