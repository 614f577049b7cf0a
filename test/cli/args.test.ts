/**
 * In-process checks of the CLI's parsing pieces: the strict option parser, the subscription
 * reader (which must accept `listen`'s live output file) and VAPID public-key derivation.
 */

import { describe, expect, it } from "vitest";
import webpush from "web-push";
import { type CommandSpec, formatHelp, integerOption, parseCommand, UsageError } from "../../src/cli/args.ts";
import { parseSubscription, vapidPublicKeyFrom } from "../../src/cli/send.ts";

const spec: CommandSpec = {
  name: "demo",
  summary: "A demo command.",
  positionals: "<file>",
  minPositionals: 1,
  options: {
    count: { type: "string", value: "N", description: "how many" },
    json: { type: "boolean", description: "j" },
  },
};

describe("parseCommand", () => {
  it("returns values and positionals", () => {
    expect(parseCommand(spec, ["f", "--count", "3", "--json"])).toEqual({
      help: false,
      values: { count: "3", json: true },
      positionals: ["f"],
    });
  });

  it("answers --help before checking positionals", () => {
    expect(parseCommand(spec, ["--help"])).toEqual({ help: true });
  });

  it.each([
    [["f", "--nope"], /unknown option '--nope'/],
    [[], /missing argument: expected <file>/],
    [["f", "g"], /unexpected argument 'g'/],
    [["f", "--count"], /argument missing/],
  ])("refuses %j with one line", (argv, message) => {
    const error = (() => {
      try {
        parseCommand(spec, argv);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("\n");
  });

  it("reads whole numbers within range only", () => {
    expect(integerOption({ n: "42" }, "n", { min: 0, max: 42 })).toBe(42);
    for (const bad of ["-1", "1.5", "0x10", "1e3", "", "70000"]) {
      expect(() => integerOption({ n: bad }, "n", { min: 0, max: 65_535 })).toThrow(UsageError);
    }
  });

  it("lists every option in the help text", () => {
    const help = formatHelp(spec);
    expect(help).toContain("Usage: push-agent demo <file> [options]");
    expect(help).toMatch(/--count N +how many/);
    expect(help).toMatch(/-h, --help/);
  });
});

describe("parseSubscription", () => {
  const subscription = {
    endpoint: "http://127.0.0.1:1/wpush/v1/x",
    expirationTime: null,
    keys: { p256dh: "p", auth: "a" },
  };

  it("accepts listen's output with message lines after the JSON", () => {
    const text = `${JSON.stringify(subscription, null, 2)}\n2025-01-01T00:00:00.000Z …abc {"a": 1}\n`;
    expect(parseSubscription(text, "sub.json")).toEqual({
      endpoint: subscription.endpoint,
      keys: subscription.keys,
    });
  });

  it.each([
    ["not JSON", "hello"],
    ["no keys", JSON.stringify({ endpoint: "http://x/" })],
    ["a bad endpoint", JSON.stringify({ ...subscription, endpoint: "nope" })],
    ["text before the object", `x${JSON.stringify(subscription)}`],
  ])("refuses %s", (_what, text) => {
    expect(() => parseSubscription(text, "sub.json")).toThrow(UsageError);
  });
});

describe("vapidPublicKeyFrom", () => {
  it("derives web-push's public key from the private key", () => {
    const keys = webpush.generateVAPIDKeys();
    expect(vapidPublicKeyFrom(keys.privateKey)).toBe(keys.publicKey);
  });
});
