/**
 * Fault 2 (SLOW=1): 20 SIGKILLs of the host process at random moments while 200 pushes stream
 * in, repeated over several streams with different seeds.
 */

import { afterAll, describe, it } from "vitest";
import { expectNothingLost, runHostKillScenario } from "./support/host-kill.ts";
import { ReliabilityLog, testSeed } from "./support/report.ts";

const STREAMS = 5;
const KILLS = 20;

const log = new ReliabilityLog("host-kill-slow");
afterAll(() => log.write());

describe("fault 2 (slow): the host process is killed 20 times per stream", () => {
  it(`loses nothing across ${STREAMS} streams of 200 pushes with ${KILLS} SIGKILLs each`, async () => {
    const firstSeed = testSeed();
    const totals = {
      kills: 0,
      sent: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      crashes: 0,
      starts: 0,
      opens: 0,
    };
    const modes = { startup: 0, delivering: 0 };
    for (let stream = 0; stream < STREAMS; stream++) {
      const seed = firstSeed + stream;
      const result = await runHostKillScenario({ kills: KILLS, pushes: 200, seed });
      totals.kills += result.kills - 1;
      totals.sent += result.sent;
      totals.delivered += result.delivered;
      totals.duplicated += result.duplicated;
      totals.lost += result.lost.length;
      totals.crashes += result.crashes;
      totals.starts += result.starts;
      totals.opens += result.opens;
      modes.startup += result.killsDuringStartup;
      modes.delivering += result.killsWhileDelivering;
      expectNothingLost(result, seed);
    }
    log.add({
      id: "F2s",
      category: "fault",
      title: `host process SIGKILLed ${KILLS} times per stream of 200 pushes, ${STREAMS} streams (durable Level store)`,
      runs: totals.kills,
      sent: totals.sent,
      delivered: totals.delivered,
      duplicated: totals.duplicated,
      lost: totals.lost,
      crashes: totals.crashes,
      notes: `${totals.starts} host starts, ${totals.opens} store opens, all clean; kills during start-up ${modes.startup}, while delivering ${modes.delivering}, plus 1 per stream after the last delivery; every duplicate was printed by a host killed before its ack, and no acked message came back (seeds ${firstSeed}…${firstSeed + STREAMS - 1})`,
    });
  });
});
