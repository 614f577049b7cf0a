/**
 * Test plans, ap-loadtester's form: `scenario,count,rate,delay[,args…]`, several joined by `|`.
 * `count` virtual users of the scenario start `rate` per second (0: all at once) after `delay`
 * seconds; the extra fields fill the scenario's parameters in order, or by `name=value`.
 * parsePlans checks everything up front, so a typo fails before any connection opens.
 */

import type { ScenarioArgs, ScenarioDefinition } from "./scenario-types.ts";

export interface PlanEntry {
  scenario: ScenarioDefinition;
  count: number;
  /** Virtual users started per second; 0 starts them all at once. */
  rate: number;
  delayMs: number;
  args: ScenarioArgs;
  /** The entry as written, for the report. */
  text: string;
}

export class PlanError extends Error {
  override readonly name = "PlanError";
}

/** Parse `|`-separated entries; `overrides` (`--arg`) apply under the plan's own arguments. */
export function parsePlans(
  text: string,
  scenarios: ReadonlyMap<string, ScenarioDefinition>,
  overrides: ScenarioArgs = {},
): PlanEntry[] {
  return text
    .split("|")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => parseEntry(entry, scenarios, overrides));
}

function parseEntry(
  text: string,
  scenarios: ReadonlyMap<string, ScenarioDefinition>,
  overrides: ScenarioArgs,
): PlanEntry {
  const fields = text.split(",").map((field) => field.trim());
  const [name = "", count, rate, delay, ...rest] = fields;
  // ap-loadtester names scenarios as module:function; the function is what counts here.
  const scenario = scenarios.get(name.includes(":") ? name.slice(name.lastIndexOf(":") + 1) : name);
  if (!scenario) {
    throw new PlanError(
      `unknown scenario '${name}' in plan '${text}' (known: ${[...scenarios.keys()].join(", ")})`,
    );
  }
  const args: ScenarioArgs = { ...scenario.params, ...pick(scenario, overrides) };
  const positional = Object.keys(scenario.params);
  rest.forEach((field, index) => {
    const eq = field.indexOf("=");
    if (eq > 0) {
      args[field.slice(0, eq).trim()] = argValue(field.slice(eq + 1).trim());
      return;
    }
    const param = positional[index];
    if (param === undefined)
      throw new PlanError(`plan '${text}': ${scenario.name} takes ${positional.length} argument(s)`);
    args[param] = argValue(field);
  });
  return {
    scenario,
    count: number(text, "count", count ?? "1", true),
    rate: number(text, "rate", rate ?? "0", false),
    delayMs: number(text, "delay", delay ?? "0", false) * 1000,
    args,
    text,
  };
}

/** `--arg` values only reach scenarios that declare the parameter (user scenarios with none take all). */
function pick(scenario: ScenarioDefinition, overrides: ScenarioArgs): ScenarioArgs {
  const declared = Object.keys(scenario.params);
  if (declared.length === 0) return { ...overrides };
  return Object.fromEntries(Object.entries(overrides).filter(([name]) => declared.includes(name)));
}

function number(text: string, what: string, field: string, whole: boolean): number {
  const value = Number(field);
  const ok = field !== "" && Number.isFinite(value) && value >= 0 && (!whole || Number.isInteger(value));
  if (!ok)
    throw new PlanError(
      `plan '${text}': ${what} must be a ${whole ? "whole " : ""}number ≥ 0, got '${field}'`,
    );
  return value;
}

/** Numbers stay numbers; everything else is a string. */
export function argValue(text: string): string | number {
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}

/** `name=value` pairs (`--arg`), checked. */
export function parseArgPairs(pairs: string[]): ScenarioArgs {
  const args: ScenarioArgs = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new PlanError(`--arg must be name=value, got '${pair}'`);
    args[pair.slice(0, eq).trim()] = argValue(pair.slice(eq + 1).trim());
  }
  return args;
}

/** The plan a worker runs: every entry's count and rate divided by `workers`, its share for `index`. */
export function shareOf(entry: { count: number; rate: number }, workers: number, index: number) {
  const base = Math.floor(entry.count / workers);
  const count = base + (index < entry.count % workers ? 1 : 0);
  return { count, rate: entry.rate / workers };
}
