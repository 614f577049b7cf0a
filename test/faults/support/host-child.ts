/**
 * The host process that fault 2 kills: a PushService on the durable Level store in a given
 * folder, against a given push server. It reports on stdout, one line each, written with
 * fs.writeSync so a line is in the pipe before the next statement runs:
 *   open                      the store opened
 *   sub <scope> <json>        a subscription (new or existing)
 *   ready                     the connection reached Ready
 *   msg <messageId> <payload> a push-message, printed BEFORE the observer returns
 *   ack <messageId>           an ack frame, printed once ws.send() returned (handed to the socket)
 * On SIGTERM it stops the service and closes the store, then exits 0.
 *
 * Run: node --import tsx --conditions=push-agent-source host-child.ts <serverURL> <dir> <scope>...
 */

import { writeSync } from "node:fs";
import WebSocket from "ws";
import { openLevelPushDB } from "../../../src/node.ts";
import { PushService, type PushServiceOptions } from "../../../src/service/push-service.ts";
import { testDecryptWorkers } from "../../helpers/decrypt-workers.ts";

const [serverURL, dir, ...scopes] = process.argv.slice(2);
if (!serverURL || !dir || scopes.length === 0) {
  writeSync(2, "usage: host-child.ts <serverURL> <dir> <scope>...\n");
  process.exit(2);
}

const line = (text: string) => void writeSync(1, `${text}\n`);
const stderr = (level: string) => (message: string) => void writeSync(2, `${level}: ${message}\n`);

let db: Awaited<ReturnType<typeof openLevelPushDB>>;
try {
  db = await openLevelPushDB(dir);
} catch (error) {
  writeSync(2, `open failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(3);
}
line("open");

/** ws, reporting each ack it sends: a message acked before a kill must never come back. */
class AckReportingSocket extends WebSocket {
  override send(data: unknown, ...rest: unknown[]): void {
    (super.send as (...args: unknown[]) => void)(data, ...rest);
    if (typeof data !== "string" || !data.startsWith('{"messageType":"ack"')) return;
    const { updates } = JSON.parse(data) as { updates: { version: string }[] };
    for (const update of updates) line(`ack ${update.version}`);
  }
}

const service = new PushService({
  decryptWorkers: testDecryptWorkers,
  serverURL,
  db,
  WebSocket: AckReportingSocket as unknown as PushServiceOptions["WebSocket"],
  retryBaseInterval: 20,
  logger: { debug() {}, info() {}, warn: stderr("warn"), error: stderr("error") },
});
service.observe("state-change", ({ state }) => {
  if (state === "Ready") line("ready");
});
service.observe("push-message", ({ messageId, data }) => {
  line(`msg ${messageId} ${data?.text() ?? "-"}`);
});

process.on("SIGTERM", () => {
  void (async () => {
    await service.stop();
    await db.close();
    process.exit(0);
  })();
});

await service.start();
for (const scope of scopes) {
  const subscription = await service.subscribe({ scope });
  line(`sub ${scope} ${JSON.stringify(subscription.toJSON())}`);
}
