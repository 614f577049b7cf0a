/**
 * Hostile input, SLOW=1: the frame parser on 300,000 generated inputs (arbitrary strings,
 * arbitrary JSON, mutated valid frames). Same checks as parser.test.ts.
 */

import { afterAll, describe, expect, it } from "vitest";
import { ReliabilityLog } from "../faults/support/report.ts";
import { describeOutcomes, runParserFuzz } from "./support/parser-fuzz.ts";

const RUNS = 300_000;
const log = new ReliabilityLog("fuzz-parser-slow");
afterAll(() => log.write());

describe("hostile input (slow): parseServerFrame", () => {
  it(`returns a typed result for ${RUNS.toLocaleString("en")} hostile frames, never throws`, () => {
    const stats = runParserFuzz(RUNS);
    log.add({
      id: "H1s",
      category: "hostile",
      title: "frame parser fuzz (parseServerFrame), SLOW run",
      runs: stats.inputs,
      sent: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      crashes: stats.thrown,
      notes: describeOutcomes(stats),
    });
    expect(stats.thrown).toBe(0);
  });
});
