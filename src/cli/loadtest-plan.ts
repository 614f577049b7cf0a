/**
 * `push-agent loadtest --plan …`: the scenario mode of the load tester (push-agent/loadtest's
 * runPlan). Test plans of built-in or user scenarios over --workers processes, a progress line
 * on stderr, the merged report on stdout (text or --json), optionally metrics to statsd and a
 * self-contained HTML report. `--list-scenarios` prints what can be planned.
 */

import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { renderHtmlReport } from "../loadtest/html.ts";
import { runVapidKeys } from "../loadtest/payload.ts";
import { PlanError, parseArgPairs, parsePlans } from "../loadtest/plan.ts";
import { formatScenarioReport, type ScenarioReport } from "../loadtest/report.ts";
import type { RunProgress } from "../loadtest/runner.ts";
import { loadScenarios, ScenarioModuleError } from "../loadtest/scenario-module.ts";
import { parseStatsdAddress } from "../loadtest/statsd.ts";
import { type PlanRunConfig, runPlan } from "../loadtest/workers.ts";
import { withoutCredentials } from "../url-credentials.ts";
import {
  booleanOption,
  choiceOption,
  integerOption,
  listOption,
  type ParsedValues,
  stringOption,
  UsageError,
} from "./args.ts";
import type { CliContext, Output } from "./command.ts";
import { secondsOption, serverOption, statusLine } from "./loadtest-shared.ts";

const LINE_EVERY = 5;

export async function runPlanCommand(values: ParsedValues, ctx: CliContext): Promise<number> {
  const scenarioModule = stringOption(values, "scenario") ?? null;
  const scenarios = await checked(() => loadScenarios(scenarioModule));
  if (booleanOption(values, "list-scenarios")) {
    listScenarios(ctx.stdout, [...scenarios.values()]);
    return 0;
  }
  const { serverURL, allowInsecure } = serverOption(values);
  const plans = listOption(values, "plan");
  const args = await checked(async () => parseArgPairs(listOption(values, "arg")));
  await checked(async () => parsePlans(plans.join("|"), scenarios, args));
  const statsdText = stringOption(values, "statsd");
  const statsd = statsdText
    ? {
        ...(await checked(async () => parseStatsdAddress(statsdText))),
        prefix: stringOption(values, "statsd-prefix") ?? "push_agent",
      }
    : null;
  const config: PlanRunConfig = {
    serverURL,
    allowInsecureServerURL: allowInsecure,
    plans,
    args,
    scenarioModule,
    payloadMode: choiceOption(values, "payload", ["relay", "e2e"] as const) ?? "relay",
    durationMs: secondsOption(values, "duration", false) ?? null,
    drainTimeoutMs: secondsOption(values, "drain", true),
    statsd,
    vapid: runVapidKeys(),
    connectConcurrency: integerOption(values, "connect-concurrency", { min: 1, max: 100_000 }) ?? 200,
  };
  const workers = integerOption(values, "workers", { min: 1, max: 256 }) ?? availableParallelism();
  const html = stringOption(values, "html");
  const json = booleanOption(values, "json");

  const tty = (ctx.stderr as { isTTY?: boolean }).isTTY === true;
  const status = statusLine(ctx.stderr, tty);
  const until =
    config.durationMs === null ? "until every user finished" : `for ${config.durationMs / 1000} s`;
  status.line(
    `push-agent loadtest: ${plans.join(" | ")} against ${withoutCredentials(serverURL)} on ${workers} worker(s), ${until} (Ctrl+C stops early)`,
  );
  let snapshots = 0;
  let report: ScenarioReport;
  try {
    report = await runPlan(config, workers, {
      signal: ctx.signal,
      onProgress: (progress) => {
        snapshots++;
        if (tty) status.update(formatPlanProgress(progress));
        else if (snapshots % LINE_EVERY === 0) status.line(formatPlanProgress(progress));
      },
    });
  } finally {
    status.end();
  }
  ctx.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatScenarioReport(report));
  if (html) {
    await writeFile(html, renderHtmlReport(report));
    ctx.stderr.write(`push-agent loadtest: wrote ${html}\n`);
  }
  const failure = failureOf(report);
  if (failure === null) return 0;
  ctx.stderr.write(`push-agent loadtest: ${failure}\n`);
  return 1;
}

export function formatPlanProgress(progress: RunProgress): string {
  return (
    `${(progress.elapsedMs / 1000).toFixed(1).padStart(6)}s  users ${progress.activeUsers}  ` +
    `connections ${progress.connections}  registered ${progress.registrations}  ` +
    `sent ${progress.sent}  received ${progress.received}` +
    (progress.errors > 0 ? `  errors ${progress.errors}` : "")
  );
}

function failureOf(report: ScenarioReport): string | null {
  if (report.workerFailures.length > 0)
    return `a worker failed, the run was stopped: ${report.workerFailures[0]}`;
  if (report.users.failed > 0) return `${report.users.failed} virtual user(s) failed`;
  if (report.connections.opened === 0 && report.users.started > 0) return "no connection opened";
  return null;
}

function listScenarios(
  out: Output,
  scenarios: { name: string; description: string; params: object }[],
): void {
  const width = Math.max(...scenarios.map((s) => s.name.length)) + 2;
  for (const scenario of scenarios) {
    const params = Object.entries(scenario.params)
      .map(([name, value]) => `${name}=${value}`)
      .join(",");
    out.write(`${scenario.name.padEnd(width)}${scenario.description}${params ? `  [${params}]` : ""}\n`);
  }
}

/** Plan and module mistakes are usage errors: one line, exit 2. */
async function checked<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof PlanError || error instanceof ScenarioModuleError)
      throw new UsageError(error.message);
    if (error instanceof Error && error.message.startsWith("--statsd")) throw new UsageError(error.message);
    throw error;
  }
}
