/**
 * The CLI's surface: --help for the tool and each subcommand, and the one-line exit-2 answer
 * to bad arguments.
 */

import { afterAll, describe, expect, it } from "vitest";
import { vapidPublicKeyFrom } from "../../src/cli/send.ts";
import { cli, killAll } from "./helpers.ts";
import { runMain } from "./in-process.ts";

// Tests here run concurrently and each awaits its child's exit; an afterEach would kill a
// neighbour's child, so the backstop for a timed-out test runs once at the end.
afterAll(killAll);

/** The network flags every connecting command shares (src/cli/network.ts). */
const NETWORK = [
  "--proxy",
  "--no-proxy",
  "--ca",
  "--cert",
  "--key",
  "HTTPS_PROXY",
  "NO_PROXY",
  "NODE_EXTRA_CA_CERTS",
];

const OPTIONS: Record<string, string[]> = {
  serve: [
    "--host",
    "--port",
    "--endpoint-port",
    "--endpoint-url",
    "--msg-limit",
    "--max-data-bytes",
    "--megaphone-url",
    "--megaphone-poll-interval",
  ],
  listen: [
    "--server",
    "--state",
    "--vapid-key",
    "--scope",
    "--allow-insecure",
    "--json",
    "--once",
    "--count",
    ...NETWORK,
  ],
  send: [
    "<subscription.json|->",
    "<message>",
    "--ttl",
    "--topic",
    "--urgency",
    "--encoding",
    "--vapid-subject",
    "--vapid-private-key",
    "--vapid-private-key-file",
    "PUSH_AGENT_VAPID_PRIVATE_KEY",
    "--vapid-public-key",
    ...NETWORK,
  ],
  keys: ["push-agent keys"],
  loadtest: [
    "--plan",
    "--scenario",
    "--arg",
    "--workers",
    "--payload",
    "--statsd",
    "--statsd-prefix",
    "--html",
    ...NETWORK,
  ],
  smoke: ["--server", "--timeout", "--broadcast", "--allow-insecure", "--json", ...NETWORK],
  browser: ["--cdp", "--server", "--state", "--allow-insecure", "--verbose"],
};

describe.concurrent("push-agent --help", () => {
  it("lists every subcommand", async () => {
    const result = await cli(["--help"]);
    expect(result.code).toBe(0);
    for (const name of Object.keys(OPTIONS)) expect(result.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
  });

  for (const [name, options] of Object.entries(OPTIONS)) {
    it(`${name} --help exits 0 and names its options`, async () => {
      const result = await cli([name, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: push-agent ${name}`);
      for (const option of options) expect(result.stdout).toContain(option);
      expect(result.stderr).toBe("");
    });
  }
});

describe.concurrent("bad arguments exit 2 with one line on stderr", () => {
  it("as a process", async () => {
    const result = await cli(["serve", "--bogus"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("push-agent serve: unknown option '--bogus' (see push-agent serve --help)\n");
  });

  // The same dispatcher in-process, for the many ways to get arguments wrong.
  const badKey = JSON.stringify({
    endpoint: "http://127.0.0.1:9/wpush/v1/x",
    keys: { p256dh: "abc", auth: "abc" },
  });
  const cases: [string, string[], RegExp, string?][] = [
    ["no command", [], /Usage: push-agent <command>/],
    ["a non-numeric port", ["serve", "--port", "eighty"], /--port must be a whole number/],
    ["a port out of range", ["serve", "--port", "70000"], /--port must be a whole number 0-65535/],
    ["a missing argument", ["send", "sub.json"], /missing argument/],
    ["an extra argument", ["keys", "extra"], /unexpected argument 'extra'/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["an invalid urgency", ["send", "sub.json", "hi", "--urgency", "asap"], /--urgency must be one of/],
    ["an invalid encoding", ["send", "sub.json", "hi", "--encoding", "gzip"], /--encoding must be one of/],
    [
      "a half VAPID setup",
      ["send", "sub.json", "hi", "--vapid-subject", "mailto:a@b.c"],
      /--vapid-private-key/,
    ],
    ["a bad topic", ["send", "sub.json", "hi", "--topic", "a b"], /--topic must be/],
    [
      "a TTL over 30 days",
      ["send", "sub.json", "hi", "--ttl", "2592001"],
      /--ttl must be a whole number 0-2592000/,
    ],
    [
      "a key starting with '-' given without =",
      ["send", "sub.json", "hi", "--vapid-private-key", "-abc"],
      /argument is ambiguous: a value starting with '-' is given as --vapid-private-key=VALUE/,
    ],
    [
      "a key twice",
      ["send", "sub.json", "hi", "--vapid-private-key", "a", "--vapid-private-key-file", "f"],
      /not both/,
    ],
    [
      "an unreadable key file",
      [
        "send",
        "sub.json",
        "hi",
        "--vapid-subject",
        "mailto:a@b.c",
        "--vapid-private-key-file",
        "/nonexistent/k",
      ],
      /cannot read --vapid-private-key-file \/nonexistent\/k \(ENOENT\)/,
    ],
    [
      "a --count over its range",
      ["listen", "--count", "1000001"],
      /--count must be a whole number 1-1000000/,
    ],
    [
      "a --msg-limit over its range",
      ["serve", "--msg-limit", "2147483648"],
      /--msg-limit must be a whole number 1-2147483647/,
    ],
    [
      "a --megaphone-poll-interval of 2^31 ms",
      ["serve", "--megaphone-poll-interval", "2147483648"],
      /--megaphone-poll-interval must be a whole number 1-2147483647/,
    ],
    [
      "a --max-data-bytes of 0",
      ["serve", "--max-data-bytes", "0"],
      /--max-data-bytes must be a whole number 1-1048576/,
    ],
    ["ws:// to a remote host", ["listen", "--server", "ws://push.example.com/"], /--allow-insecure/],
    [
      "an http:// server",
      ["listen", "--server", "http://127.0.0.1/"],
      /--server must be a ws:\/\/ or wss:\/\/ URL/,
    ],
    ["a bad --vapid-key", ["listen", "--vapid-key", "not-a-key"], /--vapid-key must be/],
    ["--once with --count", ["listen", "--once", "--count", "2"], /either --once or --count/],
    ["an unreadable subscription file", ["send", "/nonexistent/sub.json", "hi"], /cannot read/],
    ["a subscription that is not JSON", ["send", "-", "hi"], /stdin does not start with a JSON object/, "hi"],
    ["a subscription with a bad key", ["send", "-", "hi"], /cannot encrypt for this subscription/, badKey],
    ["smoke without --server", ["smoke"], /--server URL is required/],
    ["browser without --cdp", ["browser"], /--cdp URL is required/],
    [
      "browser with a ws:// server elsewhere",
      ["browser", "--cdp", "http://127.0.0.1:9", "--server", "ws://push.example.com/"],
      /--allow-insecure/,
    ],
    [
      "--proxy with --no-proxy",
      ["send", "sub.json", "hi", "--proxy", "http://p:1", "--no-proxy"],
      /either --proxy or --no-proxy/,
    ],
    ["--cert without --key", ["listen", "--cert", "client.pem"], /--cert and --key go together/],
    [
      "an unreadable --ca",
      ["smoke", "--server", "ws://127.0.0.1:1/", "--ca", "/nonexistent/ca.pem"],
      /--ca \/nonexistent\/ca.pem: ENOENT/,
    ],
    [
      "a proxy scheme that is not supported, credentials masked",
      ["send", "sub.json", "hi", "--proxy", "ftp://user:hunter2@p:1"],
      /^push-agent send: --proxy ftp:\/\/\*\*\*@p:1 has an unsupported scheme/,
    ],
    [
      "an unknown scenario",
      ["loadtest", "--server", "ws://127.0.0.1:1/", "--plan", "nope,1,1,0"],
      /unknown scenario 'nope'/,
    ],
    [
      "a bad plan count",
      ["loadtest", "--server", "ws://127.0.0.1:1/", "--plan", "basic,x,1,0"],
      /count must be/,
    ],
    [
      "a bad --arg",
      ["loadtest", "--server", "ws://127.0.0.1:1/", "--plan", "basic", "--arg", "x"],
      /name=value/,
    ],
    [
      "--agents with --plan",
      ["loadtest", "--server", "ws://127.0.0.1:1/", "--plan", "basic", "--agents", "2"],
      /fixed mode/,
    ],
    [
      "--workers without --plan",
      ["loadtest", "--server", "ws://127.0.0.1:1/", "--workers", "2"],
      /needs --plan/,
    ],
    [
      "a bad --statsd",
      ["loadtest", "--server", "ws://127.0.0.1:1/", "--plan", "basic", "--statsd", "nohost"],
      /host:port/,
    ],
    [
      "a missing scenario module",
      ["loadtest", "--plan", "x", "--scenario", "/nonexistent/s.js"],
      /cannot load/,
    ],
  ];
  for (const [what, args, message, input = ""] of cases) {
    it(what, async () => {
      const result = await runMain(args, input);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(message);
      if (args.length > 0) expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    });
  }
});

describe.concurrent("keys", () => {
  it("prints a matching VAPID key pair", async () => {
    const result = await cli(["keys"]);
    expect(result.code).toBe(0);
    const keys = JSON.parse(result.stdout) as { publicKey: string; privateKey: string };
    expect(Buffer.from(keys.publicKey, "base64url")).toHaveLength(65);
    expect(vapidPublicKeyFrom(keys.privateKey)).toBe(keys.publicKey);
  });
});
