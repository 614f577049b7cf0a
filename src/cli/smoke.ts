/**
 * `push-agent smoke --server URL`: the operator's end-to-end check of an autopush deployment
 * (push-agent/loadtest's runSmoke). One line per check as it ends, PASS / FAIL with the reason /
 * SKIP with why, then a summary; --json prints the results as JSON instead. Exit 1 on any FAIL.
 */

import { formatSmokeResult, runSmoke, type SmokeResult } from "../loadtest/smoke.ts";
import { withoutCredentials } from "../url-credentials.ts";
import { booleanOption, type ParsedValues, stringOption } from "./args.ts";
import { defineCommand } from "./command.ts";
import { secondsOption, serverOption } from "./loadtest-shared.ts";

export const smokeCommand = defineCommand(
  {
    name: "smoke",
    summary: "End-to-end checks of a push server: PASS/FAIL/SKIP per check, exit 1 on a FAIL.",
    options: {
      server: { type: "string", value: "URL", description: "push server WebSocket URL (required)" },
      timeout: { type: "string", value: "S", description: "seconds one reply or push may take (default 5)" },
      broadcast: {
        type: "string",
        value: "ID",
        description: "broadcast id for the broadcast_subscribe check (default push-agent/smoke)",
      },
      "allow-insecure": { type: "boolean", description: "allow ws:// to a non-loopback host" },
      json: { type: "boolean", description: "print the results as JSON" },
    },
    details: [
      "The checks, in order: hello and uaid; register without and with a VAPID key; a real user",
      "agent subscribes; pushes in aes128gcm and aesgcm, unsigned and VAPID-signed, received,",
      "decrypted and acked; pushes stored while disconnected delivered after a reconnect; a TTL 0",
      "push to an offline agent not delivered; Topic replacement; a push to an unregistered",
      "endpoint refused (404/410); a restart keeps the uaid and the subscription; broadcast_subscribe",
      "answered (SKIP when the server answers no broadcasts). A check whose prerequisite failed is",
      "skipped. The checks follow the autopush protocol, so any autopush deployment can be checked.",
      "",
      "Example:",
      "  push-agent serve --port 8080 &",
      "  push-agent smoke --server ws://127.0.0.1:8080/",
      "  push-agent smoke --server wss://push.example.org/ --json",
    ].join("\n"),
  },
  async ({ values }, ctx) => {
    const options = readOptions(values);
    const results = await runSmoke({
      ...options,
      onResult: options.json ? undefined : (result) => ctx.stdout.write(`${formatSmokeResult(result)}\n`),
    });
    const failed = results.filter((r) => r.status === "FAIL").length;
    if (options.json)
      ctx.stdout.write(
        `${JSON.stringify({ server: withoutCredentials(options.serverURL), results }, null, 2)}\n`,
      );
    else ctx.stdout.write(`${summary(results)}\n`);
    return failed > 0 ? 1 : 0;
  },
);

function readOptions(values: ParsedValues) {
  const { serverURL, allowInsecure } = serverOption(values);
  return {
    serverURL,
    allowInsecureServerURL: allowInsecure,
    timeoutMs: secondsOption(values, "timeout", false) ?? 5_000,
    broadcastID: stringOption(values, "broadcast"),
    json: booleanOption(values, "json"),
  };
}

function summary(results: SmokeResult[]): string {
  const count = (status: SmokeResult["status"]) => results.filter((r) => r.status === status).length;
  return `${count("PASS")} passed, ${count("FAIL")} failed, ${count("SKIP")} skipped`;
}
