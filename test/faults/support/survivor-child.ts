/**
 * A minimal host for "does this frame take the host process down?": a PushService on an in-memory
 * store against the given server URL, with no uncaughtException handler of its own, so an
 * exception that escapes the library kills the process (exit code 1) as it would in an app.
 * Prints "ready" on Ready and "msg <messageId>" per push-message.
 *
 * Run: node --import tsx --conditions=push-agent-source survivor-child.ts <serverURL>
 */

import { writeSync } from "node:fs";
import { openMemoryPushDB } from "../../../src/db/memory.ts";
import { PushService } from "../../../src/service/push-service.ts";
import { testDecryptWorkers } from "../../helpers/decrypt-workers.ts";

const serverURL = process.argv[2];
if (!serverURL) {
  writeSync(2, "usage: survivor-child.ts <serverURL>\n");
  process.exit(2);
}
const line = (text: string) => void writeSync(1, `${text}\n`);
const service = new PushService({
  serverURL,
  db: openMemoryPushDB(),
  retryBaseInterval: 20,
  decryptWorkers: testDecryptWorkers,
});
service.observe("state-change", ({ state }) => {
  if (state === "Ready") line("ready");
});
service.observe("push-message", ({ messageId }) => line(`msg ${messageId}`));
process.on("SIGTERM", () => void service.stop().then(() => process.exit(0)));
await service.start();
