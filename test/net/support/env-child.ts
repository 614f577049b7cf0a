/**
 * A child process with nothing but the environment to go on: HTTPS_PROXY and NO_PROXY say which
 * proxy, NODE_EXTRA_CA_CERTS which private CA. No proxy or tls option is given. It subscribes at
 * the push server (argv[2]), sends itself one push with sendPush, and prints one JSON line with
 * what arrived, or the error.
 */

import { createMemoryStorage, openMemoryPushDB } from "../../../src/db/memory.ts";
import { sendPush } from "../../../src/server/index.ts";
import { PushService } from "../../../src/service/push-service.ts";

const serverURL = process.argv[2] ?? "";
const service = new PushService({
  serverURL,
  db: openMemoryPushDB(createMemoryStorage()),
  wakeCheckInterval: 0,
  requestTimeout: 5_000,
});
const failures: string[] = [];
service.observe("connection-error", ({ error }) => failures.push(`${error.kind}: ${error.message}`));
const received = new Promise<string>((resolve) =>
  service.observe("push-message", (event) => resolve(event.data?.text() ?? "")),
);
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: `timed out; ${failures.join("; ")}` }));
  process.exit(1);
}, 15_000);
try {
  await service.start();
  await service.ready();
  const subscription = await service.subscribe({ scope: "https://env.example/" });
  const result = await sendPush(
    subscription.toJSON() as Parameters<typeof sendPush>[0],
    "from the environment",
    {
      TTL: 60,
    },
  );
  const text = await received;
  console.log(JSON.stringify({ status: result.statusCode, text, endpoint: subscription.endpoint }));
} catch (error) {
  console.log(JSON.stringify({ error: String(error), failures }));
} finally {
  clearTimeout(watchdog);
  await service.stop();
}
