/**
 * `push-agent browser`: the sidecar that gives a running Chromium (any browser speaking CDP)
 * Web Push through an autopush server. It attaches the Chromium bridge to the browser's DevTools
 * endpoint, keeps the subscriptions in a durable store under --state, prints one line when
 * attached, and runs until SIGINT/SIGTERM or until the browser goes away (exit 0 either way).
 */

import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { attachPushBridge } from "../chromium/bridge.ts";
import { CdpError, connectCdp } from "../chromium/cdp.ts";
import { openLevelPushDB } from "../db/level.ts";
import { PushService } from "../service/push-service.ts";
import type { ConnectFailure } from "../transport/failure.ts";
import { isLoopbackHost } from "../transport/websocket.ts";
import { booleanOption, type ParsedValues, stringOption, UsageError, urlOption } from "./args.ts";
import { aborted, type CliContext, defineCommand } from "./command.ts";
import { DEFAULT_SERVER, stderrLogger } from "./listen.ts";

interface BrowserOptions {
  cdpURL: string;
  serverURL: string;
  stateDir: string;
  allowInsecure: boolean;
  verbose: boolean;
}

export const browserCommand = defineCommand(
  {
    name: "browser",
    summary: "Give a running Chromium Web Push: its pages subscribe and its service workers get push events.",
    options: {
      cdp: {
        type: "string",
        value: "URL",
        description:
          "the browser's DevTools endpoint: http://127.0.0.1:9222 or its ws://…/devtools/browser/… URL",
      },
      server: {
        type: "string",
        value: "URL",
        description: `push server WebSocket URL (default ${DEFAULT_SERVER})`,
      },
      state: {
        type: "string",
        value: "DIR",
        description: "where the subscription store lives (default ~/.push-agent/browser)",
      },
      "allow-insecure": {
        type: "boolean",
        description: "allow ws:// to a non-loopback push server and a non-loopback --cdp endpoint",
      },
      verbose: { type: "boolean", short: "v", description: "also log debug lines on stderr" },
    },
    details: [
      "Start the browser with a DevTools port and its usual profile, then attach:",
      "  chromium --remote-debugging-port=9222 --user-data-dir=~/.config/chromium &",
      "  push-agent browser --cdp http://127.0.0.1:9222",
      "",
      "Sites get push with the browser's notification permission; incognito contexts get none.",
      "One line on stdout once attached; progress and errors on stderr. Stops on Ctrl+C, SIGTERM",
      "or when the browser closes (exit 0). The same --state after a restart keeps every subscription.",
    ].join("\n"),
  },
  async ({ values }, ctx) => browser(readOptions(values), ctx),
);

function readOptions(values: ParsedValues): BrowserOptions {
  const cdpURL = urlOption(values, "cdp", ["http:", "https:", "ws:", "wss:"]);
  if (!cdpURL) throw new UsageError("--cdp URL is required (the browser's DevTools endpoint)");
  const serverURL = urlOption(values, "server", ["ws:", "wss:"]) ?? DEFAULT_SERVER;
  const allowInsecure = booleanOption(values, "allow-insecure");
  const server = new URL(serverURL);
  if (server.protocol === "ws:" && !allowInsecure && !isLoopbackHost(server.hostname)) {
    throw new UsageError(
      `--server ${server.host} uses ws:// to a non-loopback host; use wss:// or --allow-insecure`,
    );
  }
  return {
    cdpURL,
    serverURL,
    allowInsecure,
    stateDir: path.resolve(stringOption(values, "state") ?? path.join(homedir(), ".push-agent", "browser")),
    verbose: booleanOption(values, "verbose"),
  };
}

async function browser(options: BrowserOptions, ctx: CliContext): Promise<number> {
  const progress = (message: string) => ctx.stderr.write(`push-agent: ${message}\n`);
  const cdp = await connectCdp(options.cdpURL, { allowRemote: options.allowInsecure }).catch((error) => {
    // The message says it all; main() would repeat the cause.
    throw new Error(error instanceof CdpError ? error.message : String(error));
  });
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const db = await openLevelPushDB(path.join(options.stateDir, "db"));
  const logger = stderrLogger(ctx.stderr, options.verbose);
  const service = new PushService({
    serverURL: options.serverURL,
    allowInsecureServerURL: options.allowInsecure,
    db,
    logger,
  });
  try {
    await service.start();
    const reached = await firstConnection(service, ctx.signal);
    if (reached === "aborted") return 0;
    if (reached !== "ready") {
      throw new Error(`cannot reach the push server at ${options.serverURL}: ${reached.message}`);
    }
    const bridge = await attachPushBridge(cdp, { service, logger });
    const { pages, serviceWorkers } = bridge.targets;
    ctx.stdout.write(
      `attached to ${options.cdpURL} (${pages} pages, ${serviceWorkers} service workers); pushes through ${options.serverURL}\n`,
    );
    const reason = await Promise.race([bridge.closed, aborted(ctx.signal).then(() => null)]);
    if (reason === null) {
      progress("stopping");
      await bridge.detach();
    } else progress(`the browser went away (${reason}); stopping`);
    return 0;
  } finally {
    await service.stop();
    await db.close();
    await cdp.close().catch(() => {});
  }
}

/** "ready", the first connect failure, or "aborted" on a signal. */
async function firstConnection(
  service: PushService,
  signal: AbortSignal,
): Promise<"ready" | "aborted" | ConnectFailure> {
  let stop = () => {};
  const failed = new Promise<ConnectFailure>((resolve) => {
    stop = service.observe("connection-error", ({ error }) => resolve(error));
  });
  try {
    return await Promise.race([
      service.ready().then(() => "ready" as const),
      failed,
      aborted(signal).then(() => "aborted" as const),
    ]);
  } finally {
    stop();
  }
}
