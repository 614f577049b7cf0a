/**
 * `push-agent/loadtest/internal`: the load tester's plumbing, for the Artillery engine
 * (packages/artillery-engine-push-agent) and nothing else. Not public API: names here may change
 * in any release. The engine makes a ScenarioRunner, asks it for virtual users
 * (`runner.createUser(sink)`), runs its steps on them, and stops the runner when the run ends.
 * Everything a user calls is in `push-agent/loadtest` (index.ts).
 */

export { loadDefaultWebSocket } from "../transport/websocket.ts";
export { ErrorLog } from "./error-log.ts";
export { MetricsCollector, teeSink } from "./metrics.ts";
export {
  MAX_RELAY_BYTES,
  type NotificationRequest,
  RELAY_HEADER_BYTES,
  RequestBuilder,
  relayPayload,
  runVapidKeys,
} from "./payload.ts";
export { ProtocolClient, ScenarioError, ScenarioStopped } from "./protocol-client.ts";
export { buildReport } from "./report.ts";
export { type RunnerOptions, ScenarioRunner } from "./runner.ts";
export { loadScenarios } from "./scenario-module.ts";
export { type RunContext, VirtualUser } from "./virtual-user.ts";
export { runShare } from "./workers.ts";
