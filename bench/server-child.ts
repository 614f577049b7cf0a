/**
 * The local push server as a bench child process: options come in PUSH_AGENT_BENCH_SERVER
 * (JSON), the URLs and stats go back over IPC. It exits on a "close" message or when the parent
 * disconnects.
 */

import { createPushServer } from "../src/server/index.ts";

const options = JSON.parse(process.env.PUSH_AGENT_BENCH_SERVER ?? "{}");
const server = await createPushServer(options);
const send = (message: unknown) => process.send?.(message);

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  await server.close();
  process.disconnect?.();
  process.exit(0);
}

process.on("message", (message: { type: string }) => {
  if (message.type === "stats") send({ type: "stats", stats: server.stats() });
  if (message.type === "cpu") send({ type: "cpu", cpu: process.cpuUsage() });
  if (message.type === "close") void close();
});
process.on("disconnect", () => void close());
send({ type: "ready", url: server.url, endpointURL: server.endpointURL });
