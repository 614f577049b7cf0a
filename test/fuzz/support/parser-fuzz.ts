/**
 * The frame-parser fuzz, shared by the default run (a few hundred inputs) and the SLOW run
 * (100,000+): every input yields a typed result that checkParse accepts, no exception escapes
 * and Object.prototype stays clean.
 */

import fc from "fast-check";
import { expect } from "vitest";
import { parseServerFrame } from "../../../src/protocol/messages.ts";
import { type Family, hostileFrameArb } from "./frames.ts";
import { checkParse, prototypeIsClean } from "./oracle.ts";

export interface ParserFuzzStats {
  inputs: number;
  byFamily: Record<Family, number>;
  /** Result kinds reached: message types, and "ignored". */
  outcomes: Record<string, number>;
  /** Inputs on which parseServerFrame threw (the caller logs the count, then asserts 0). */
  thrown: number;
}

export function runParserFuzz(numRuns: number): ParserFuzzStats {
  const stats: ParserFuzzStats = {
    inputs: 0,
    byFamily: { string: 0, json: 0, mutated: 0 },
    outcomes: {},
    thrown: 0,
  };
  fc.assert(
    fc.property(hostileFrameArb(), ({ family, text }) => {
      stats.inputs++;
      stats.byFamily[family]++;
      let result: ReturnType<typeof parseServerFrame>;
      try {
        result = parseServerFrame(text);
      } catch {
        stats.thrown++;
        return;
      }
      const outcome = result.kind === "message" ? result.message.type : "ignored";
      stats.outcomes[outcome] = (stats.outcomes[outcome] ?? 0) + 1;
      expect(checkParse(text, result)).toEqual([]);
      expect(prototypeIsClean()).toBe(true);
    }),
    { numRuns },
  );
  return stats;
}

export function describeOutcomes(stats: ParserFuzzStats): string {
  const reached = Object.entries(stats.outcomes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ");
  const families = `${stats.byFamily.string} arbitrary strings, ${stats.byFamily.json} arbitrary JSON, ${stats.byFamily.mutated} mutated valid frames`;
  return `${families}; results: ${reached}`;
}
