/**
 * Hostile input, SLOW=1: 100,000 hostile frames through the whole client input path. Same checks
 * as service-input.test.ts.
 */

import { afterAll, describe, it } from "vitest";
import { ReliabilityLog } from "../faults/support/report.ts";
import { describeServiceFuzz, runServiceFuzz } from "./support/service-fuzz.ts";

const RUNS = 100_000;
const log = new ReliabilityLog("fuzz-service-slow");
afterAll(() => log.write());

describe("hostile input (slow): the Connection + PushService input path", () => {
  it(`survives ${RUNS.toLocaleString("en")} hostile frames and still serves`, async () => {
    const stats = await runServiceFuzz(RUNS);
    log.add({
      id: "H2s",
      category: "hostile",
      title: "Connection + PushService input path fuzz, SLOW run",
      runs: stats.inputs,
      sent: stats.validSent,
      delivered: Math.min(stats.validDelivered, stats.validSent),
      duplicated: Math.max(0, stats.validDelivered - stats.validSent),
      lost: Math.max(0, stats.validSent - stats.validDelivered),
      crashes: stats.crashes,
      notes: describeServiceFuzz(stats),
    });
  });
});
