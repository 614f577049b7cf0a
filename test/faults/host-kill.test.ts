/**
 * Fault 2 (default run): the host process is SIGKILLed at random moments while 200 pushes stream
 * in, 3 times, and restarted on the same Level store. host-kill.slow.test.ts does 20 kills per
 * stream, several streams.
 */

import { afterAll, describe, it } from "vitest";
import { expectNothingLost, runHostKillScenario } from "./support/host-kill.ts";
import { ReliabilityLog, testSeed } from "./support/report.ts";

const log = new ReliabilityLog("host-kill");
afterAll(() => log.write());

describe("fault 2: the host process is killed", () => {
  it("loses nothing across 3 SIGKILLs while 200 pushes stream in", { timeout: 120_000 }, async () => {
    const seed = testSeed();
    const result = await runHostKillScenario({ kills: 3, pushes: 200, seed });
    log.add({
      id: "F2",
      category: "fault",
      title: "host process SIGKILLed at random moments while 200 pushes stream in (durable Level store)",
      runs: result.kills - 1,
      sent: result.sent,
      delivered: result.delivered,
      duplicated: result.duplicated,
      lost: result.lost.length,
      crashes: result.crashes,
      notes: `${result.starts} host starts, ${result.opens} store opens, all clean; kills during start-up ${result.killsDuringStartup}, while delivering ${result.killsWhileDelivering}, plus 1 after the last delivery; every duplicate was printed by a host killed before its ack (${result.duplicateBound} printed-but-unacked at the kills) (seed ${seed})`,
    });
    expectNothingLost(result, seed);
  });
});
