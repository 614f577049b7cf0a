/**
 * `push-agent keys`: print a fresh VAPID key pair as JSON. The public key goes to `listen
 * --vapid-key`, both go to `send --vapid-private-key/--vapid-public-key`.
 */

import webpush from "web-push";
import { defineCommand } from "./command.ts";

export const keysCommand = defineCommand(
  {
    name: "keys",
    summary: "Print a fresh VAPID key pair (base64url P-256) as JSON.",
    options: {},
    details: [
      "Example:",
      "  push-agent keys > vapid.json",
      '  push-agent listen --vapid-key "$(node -p \'require("./vapid.json").publicKey\')"',
    ].join("\n"),
  },
  async (_args, ctx) => {
    const { publicKey, privateKey } = webpush.generateVAPIDKeys();
    ctx.stdout.write(`${JSON.stringify({ publicKey, privateKey }, null, 2)}\n`);
    return 0;
  },
);
