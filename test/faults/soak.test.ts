/**
 * The short soak for the default suite: 200 PushServices for 20 s (warm-up included),
 * churn, pushes to every subscription, the server restarted twice (see
 * support/soak-server-child.ts for what a restart is). soak.slow.test.ts is the real one:
 * 2,000 services for 10 minutes. Both fail on an event-loop stall over 2 s, heap growth over
 * 10 %, file descriptors left open, or an accepted push that never arrived.
 */

import { afterAll, it } from "vitest";
import { ReliabilityLog } from "./support/report.ts";
import { checkSoak, runSoak, soakRow } from "./support/soak.ts";

const log = new ReliabilityLog("soak");
afterAll(() => log.write());

it("200 services, 20 s, churn and 2 server restarts: no stall, no leak, nothing lost", async () => {
  const options = {
    services: 200,
    subscriptionsPerService: 2,
    durationMs: 20_000,
    churn: 0.05,
    restarts: 2,
    drainTimeoutMs: 30_000,
  };
  const result = await runSoak(options);
  log.add(soakRow("F6", result));
  checkSoak(result, options);
}, 120_000);
