/**
 * `push-agent/loadtest`: the load tester's public API, and nothing else. What a user calls:
 * the fixed mode (runLoadTest), the scenario mode (runPlan / runScenarios, test plans, scenario
 * modules and the ScenarioContext they are written against), the smoke check, and the reports.
 * The plumbing the Artillery engine drives (the runner, virtual users, the protocol client, the
 * request builder) is in `push-agent/loadtest/internal` (internal.ts), outside this promise.
 */

export type { VapidDetails } from "../server/send.ts";
// The fixed mode: N agents × M subscriptions, a steady push rate.
export {
  type GeneratorLoad,
  type LoadTestOptions,
  type LoadTestProgress,
  type LoadTestReport,
  MAX_PAYLOAD_BYTES,
  MIN_PAYLOAD_BYTES,
  resolveLoadTestOptions,
  runLoadTest,
} from "./fixed.ts";
export { formatProgress, formatReport } from "./format.ts";
export { LatencyHistogram, type LatencySummary } from "./histogram.ts";
// The scenario mode: test plans of scenarios over every core (push-agent loadtest --plan).
export { renderHtmlReport } from "./html.ts";
export { METRIC, type MetricsData, type MetricsSink } from "./metrics.ts";
export { type PayloadMode, runVapidKeys, type VapidClaims } from "./payload.ts";
export { type PlanEntry, PlanError, parseArgPairs, parsePlans } from "./plan.ts";
export { ScenarioError, ScenarioStopped } from "./protocol-client.ts";
export { formatScenarioReport, type ScenarioReport, type TimelinePoint } from "./report.ts";
export {
  type RunProgress,
  runScenarios,
  type ScenarioRunData,
  type ScenarioRunOptions,
  type WorkerLoad,
} from "./runner.ts";
export { loadScenarios, ScenarioModuleError } from "./scenario-module.ts";
export type * from "./scenario-types.ts";
export { builtinScenarios } from "./scenarios.ts";
export {
  formatSmokeResult,
  runSmoke,
  type SmokeOptions,
  type SmokeResult,
  type SmokeStatus,
} from "./smoke.ts";
export { parseStatsdAddress, type StatsdOptions, StatsdSink } from "./statsd.ts";
export { type PlanRunConfig, runPlan } from "./workers.ts";
