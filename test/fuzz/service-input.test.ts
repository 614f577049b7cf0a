/**
 * Hostile input, default run: a few hundred hostile frames through the whole client input path
 * (socket → connection → parser → PushService → store → ack). service-input.slow.test.ts runs
 * 100,000.
 */

import { afterAll, describe, it } from "vitest";
import { ReliabilityLog } from "../faults/support/report.ts";
import { describeServiceFuzz, runServiceFuzz } from "./support/service-fuzz.ts";

const log = new ReliabilityLog("fuzz-service");
afterAll(() => log.write());

describe("hostile input: the Connection + PushService input path", () => {
  it("no exception escapes, no rejection goes unhandled, and valid traffic still flows", async () => {
    const stats = await runServiceFuzz(250);
    log.add({
      id: "H2",
      category: "hostile",
      title: "Connection + PushService input path fuzz, default run",
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
