/**
 * `push-agent serve`: run the local autopush-compatible push server until SIGINT/SIGTERM.
 * stdout gets the two URLs, then the server's one-line-per-connection/push log.
 */

import type { Logger } from "../log.ts";
import { createPushServer } from "../server/index.ts";
import { OPTION_RANGES } from "../server/options.ts";
import { booleanOption, integerOption, stringOption, urlOption } from "./args.ts";
import { aborted, defineCommand, type Output } from "./command.ts";

const RANGE = OPTION_RANGES;

export const serveCommand = defineCommand(
  {
    name: "serve",
    summary: "Run a local push server (autoconnect WebSocket + autoendpoint HTTP) until SIGINT/SIGTERM.",
    options: {
      host: { type: "string", value: "HOST", description: "address to bind (default 127.0.0.1)" },
      port: {
        type: "string",
        value: "PORT",
        description: "WebSocket port 0-65535, 0 = any free port (default 8080)",
      },
      "endpoint-port": {
        type: "string",
        value: "PORT",
        description: "separate HTTP port for push endpoints (default: same as --port)",
      },
      "endpoint-url": {
        type: "string",
        value: "URL",
        description: "public base URL written into push endpoints",
      },
      "msg-limit": {
        type: "string",
        value: "N",
        description: "stored messages per session before a uaid reset, 1-2147483647 (default 150)",
      },
      "max-data-bytes": {
        type: "string",
        value: "N",
        description: "largest accepted push body in bytes, 1-1048576 (default 5630)",
      },
      "megaphone-url": {
        type: "string",
        value: "URL",
        description: "Megaphone API polled for broadcast versions",
      },
      "megaphone-poll-interval": {
        type: "string",
        value: "MS",
        description: "ms between Megaphone polls, 1-2147483647 (default 30000)",
      },
      state: {
        type: "string",
        value: "DIR",
        description:
          "keep uaids, subscriptions, stored messages and keys in DIR (LevelDB, mode 0700) across restarts (default: memory only)",
      },
      "echo-subprotocol": {
        type: "boolean",
        description:
          "echo a requested push-notification subprotocol (autoconnect never does; for old clients that require it)",
      },
      verbose: { type: "boolean", short: "v", description: "also log debug lines" },
    },
    details:
      "Without --state everything lives in memory: a restart forgets every uaid and endpoint.\n" +
      "With --state, a push is answered 201 only once it is on disk; while the disk refuses writes\n" +
      "(full, I/O error) pushes that would be stored get 503 errno 201 and registrations status 500,\n" +
      "and the server recovers by itself once writes work again.\n" +
      "Example:\n  push-agent serve --port 0 --state ~/.push-agent-server\n  push-agent listen --server ws://127.0.0.1:8080/",
  },
  async ({ values }, ctx) => {
    const options = {
      host: stringOption(values, "host") ?? "127.0.0.1",
      port: integerOption(values, "port", RANGE.port) ?? 8080,
      endpointPort: integerOption(values, "endpoint-port", RANGE.endpointPort),
      endpointURL: urlOption(values, "endpoint-url", ["http:", "https:"]),
      msgLimit: integerOption(values, "msg-limit", RANGE.msgLimit),
      maxDataBytes: integerOption(values, "max-data-bytes", RANGE.maxDataBytes),
      megaphoneURL: urlOption(values, "megaphone-url", ["http:", "https:"]),
      megaphonePollInterval: integerOption(values, "megaphone-poll-interval", RANGE.megaphonePollInterval),
      state: stringOption(values, "state"),
      echoSubprotocol: booleanOption(values, "echo-subprotocol"),
      logger: lineLogger(ctx.stdout, ctx.stderr, booleanOption(values, "verbose")),
    };
    const server = await createPushServer(withoutUndefined(options));
    ctx.stdout.write(`push server listening at ${server.url}\n`);
    ctx.stdout.write(`push endpoints at ${server.endpointURL}\n`);
    await aborted(ctx.signal);
    ctx.stderr.write("stopping push server\n");
    await server.close();
    return 0;
  },
);

/** One timestamped line per event: info to stdout, problems to stderr. */
export function lineLogger(out: Output, err: Output, verbose: boolean): Logger {
  const line =
    (stream: Output, level: string) =>
    (message: string, ...details: unknown[]) => {
      const extra = details.map((d) => (typeof d === "string" ? d : JSON.stringify(d))).join(" ");
      stream.write(`${new Date().toISOString()} ${level}${message}${extra ? ` ${extra}` : ""}\n`);
    };
  return {
    debug: verbose ? line(out, "debug: ") : () => {},
    info: line(out, ""),
    warn: line(err, "warning: "),
    error: line(err, "error: "),
  };
}

/** The server's options treat a present-but-undefined key like an absent one, but be explicit. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
