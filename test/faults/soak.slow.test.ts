/**
 * The soak. 2,000 PushServices on in-memory stores in this process against the
 * local push server in another, for 10 minutes, warm-up included (SOAK_MINUTES= to change it),
 * with churn, a push to every subscription each round, and the server restarted twice (see
 * support/soak-server-child.ts for what a restart is). Fails on an event-loop stall over 2 s, heap
 * growth over 10 % from warm-up to end, file descriptors left open once every service stopped,
 * or an accepted push that never arrived. soak.test.ts is the short run of the default suite.
 */

import { afterAll, it } from "vitest";
import { ReliabilityLog } from "./support/report.ts";
import { checkSoak, runSoak, soakRow } from "./support/soak.ts";

const log = new ReliabilityLog("soak-slow");
afterAll(() => log.write());

const minutes = Number(process.env.SOAK_MINUTES) > 0 ? Number(process.env.SOAK_MINUTES) : 10;

it(
  `2,000 services, ${minutes} min, churn and 2 server restarts: no stall, no leak, nothing lost`,
  async () => {
    const options = {
      services: 2000,
      subscriptionsPerService: 2,
      durationMs: minutes * 60_000,
      churn: 0.02,
      restarts: 2,
      drainTimeoutMs: 120_000,
    };
    const result = await runSoak(options);
    log.add(soakRow("F6s", result));
    checkSoak(result, options);
  },
  (minutes + 5) * 60_000,
);
