/**
 * Hostile input, default run: the frame parser on a few hundred arbitrary strings, arbitrary JSON
 * values and mutated valid frames (parser.slow.test.ts runs 100,000+). Also checks the mutation
 * templates themselves are valid, so the fuzz starts from frames that reach every message type.
 */

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parseServerFrame } from "../../src/protocol/messages.ts";
import { ReliabilityLog } from "../faults/support/report.ts";
import { validFrameArb } from "./support/frames.ts";
import { checkParse } from "./support/oracle.ts";
import { describeOutcomes, runParserFuzz } from "./support/parser-fuzz.ts";

const log = new ReliabilityLog("fuzz-parser");
afterAll(() => log.write());

describe("hostile input: parseServerFrame", () => {
  it("parses every unmutated template into a message", () => {
    const types = new Set<string>();
    fc.assert(
      fc.property(validFrameArb(), (text) => {
        const result = parseServerFrame(text);
        expect(result.kind, text).toBe("message");
        expect(checkParse(text, result)).toEqual([]);
        if (result.kind === "message") types.add(result.message.type);
      }),
      { numRuns: 300 },
    );
    expect([...types].sort()).toEqual([
      "broadcast",
      "hello",
      "notification",
      "pong",
      "register",
      "unregister",
    ]);
  });

  it("returns a typed result for arbitrary strings, JSON and mutated frames, never throws", () => {
    const stats = runParserFuzz(400);
    log.add({
      id: "H1",
      category: "hostile",
      title: "frame parser fuzz (parseServerFrame), default run",
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
