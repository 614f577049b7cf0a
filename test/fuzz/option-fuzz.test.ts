/**
 * Option fuzz: out-of-range option values are refused with one line naming the option;
 * allowed combinations run a simulated day against a scripted server with bounded connections,
 * frames and ready() waits. SLOW=1 runs more days; the seed is printed, SEED= replays it.
 */

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import { OPTION_RANGES } from "../../src/service/options.ts";
import { PushService } from "../../src/service/push-service.ts";
import { CrashCounter, ReliabilityLog, SLOW, testSeed } from "../faults/support/report.ts";
import { anyValueArb, dayPlanArb, emptyDayStats, runDay } from "./support/option-fuzz.ts";

const log = new ReliabilityLog("fuzz-options");
afterAll(() => log.write());

describe("PushService options over their whole space", () => {
  it("a value outside its range is refused with one line naming the option; one inside is kept", () => {
    const seed = testSeed();
    let refused = 0;
    let accepted = 0;
    const crashes = new CrashCounter().install();
    try {
      fc.assert(
        fc.property(anyValueArb, ({ name, value }) => {
          let service: PushService;
          try {
            service = new PushService({ db: openMemoryPushDB(createMemoryStorage()), [name]: value });
          } catch (error) {
            refused++;
            expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
            const message = (error as Error).message;
            expect(message.startsWith(`${name} must be`), message).toBe(true);
            expect(message).not.toContain("\n");
            return;
          }
          accepted++;
          const [min, max] = OPTION_RANGES[name];
          expect(typeof value).toBe("number");
          const number = value as number;
          expect(number === 0 && name === "wakeCheckInterval" ? true : number >= min && number <= max).toBe(
            true,
          );
          expect(service.state).toBe("ShutDown");
        }),
        { numRuns: SLOW ? 20_000 : 1_000, seed },
      );
    } finally {
      crashes.uninstall();
    }
    expect(crashes.total).toBe(0);
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
    log.add({
      id: "H6",
      category: "hostile",
      title: "PushService option values of every kind (out of range, 2^31 + 5, NaN, strings, …)",
      runs: refused + accepted,
      sent: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      crashes: crashes.total,
      notes: `${refused} refused with one line naming the option, ${accepted} accepted and within the documented range; seed ${seed}`,
    });
  });

  it(
    "no allowed combination floods the server, wedges ready() or leaves a push unacked over a simulated day",
    async () => {
      const seed = testSeed();
      const stats = emptyDayStats();
      const numRuns = SLOW ? 200 : 12;
      try {
        await fc.assert(
          fc.asyncProperty(dayPlanArb, (plan) => runDay(plan, stats)),
          { numRuns, seed, endOnFailure: true, includeErrorInReport: true },
        );
      } catch (error) {
        throw new Error(`option fuzz failed with seed ${seed} (SEED=${seed} replays it): ${String(error)}`);
      }
      expect(stats.runs).toBe(numRuns);
      log.add({
        id: "H7",
        category: "hostile",
        title:
          "allowed PushService option combinations, each for a simulated day against a scripted server (drops, pushes, a late observer)",
        runs: stats.runs,
        sent: stats.pushes,
        delivered: stats.delivered,
        duplicated: stats.duplicated,
        lost: stats.pushes - stats.delivered,
        crashes: stats.crashes,
        notes: `${stats.hours} simulated hours, ${stats.connections} connections; at most ${stats.maxConnectionsPerHour} connections and ${stats.maxFramesPerHour} client frames in any hour; longest ready() wait ${Math.round(stats.maxReadyWait / 1000)} s; seed ${seed}`,
      });
    },
    SLOW ? 900_000 : 120_000,
  );
});
