/**
 * `push-agent loadtest`: load-test an autopush server with many simulated user agents while
 * playing the application server that pushes to them (push-agent's runLoadTest). Progress goes
 * to stderr about once a second (overwritten in place on a terminal); the report goes to stdout,
 * as text or with --json. Ctrl+C ends the run early and still prints the report.
 *
 * Exit codes: 0 when the run worked (some failures are part of a load test and are in the
 * report), 1 when no agent connected or registered, or pushes were sent for and none arrived.
 */

import { formatProgress, formatReport, type LoadTestReport, runLoadTest } from "../loadtest/index.ts";
import { DEFAULT_DRAIN_MS } from "../loadtest/option-checks.ts";
import type { Logger } from "../log.ts";
import { withoutCredentials } from "../url-credentials.ts";
import { booleanOption, integerOption, type ParsedValues, UsageError } from "./args.ts";
import { type CliContext, defineCommand } from "./command.ts";
import { runPlanCommand } from "./loadtest-plan.ts";
import {
  decimalOption,
  type StatusLine,
  secondsOption,
  serverOption,
  statusLine,
} from "./loadtest-shared.ts";

/** Off a terminal, one progress line per this many snapshots (about every 5 s). */
const LINE_EVERY = 5;

interface LoadTestArgs {
  serverURL: string;
  allowInsecure: boolean;
  agents: number;
  subscriptions: number;
  durationMs: number;
  /** Pushes per subscription per second; 0 sends none. */
  rate: number;
  payloadBytes: number;
  ttl: number;
  vapid: boolean;
  connectConcurrency: number;
  rampUpMs: number;
  sendConcurrency: number;
  drainMs: number;
  json: boolean;
  verbose: boolean;
}

export const loadtestCommand = defineCommand(
  {
    name: "loadtest",
    summary: "Load-test a push server: test plans of scenarios over every core, or N agents × M pushes.",
    options: {
      server: { type: "string", value: "URL", description: "push server WebSocket URL (required)" },
      plan: {
        type: "string",
        value: "PLAN",
        multiple: true,
        description: "scenario,count,rate,delay[,args…] ('|' joins several; repeatable)",
      },
      scenario: {
        type: "string",
        value: "FILE",
        description: "a .js/.ts module whose named exports are scenarios",
      },
      arg: {
        type: "string",
        value: "NAME=VALUE",
        multiple: true,
        description: "scenario parameter (repeatable)",
      },
      workers: {
        type: "string",
        value: "N",
        description: "plan mode: generator processes (default: CPU cores)",
      },
      payload: { type: "string", value: "MODE", description: "plan mode: relay (default) or e2e" },
      statsd: {
        type: "string",
        value: "HOST:PORT",
        description: "plan mode: send metrics to statsd over UDP",
      },
      "statsd-prefix": {
        type: "string",
        value: "PREFIX",
        description: "prefix of statsd names (default push_agent)",
      },
      html: { type: "string", value: "FILE", description: "plan mode: write a self-contained HTML report" },
      "list-scenarios": { type: "boolean", description: "list the scenarios and their parameters" },
      agents: {
        type: "string",
        value: "N",
        description: "simulated user agents, one socket each (default 10)",
      },
      subscriptions: { type: "string", value: "M", description: "subscriptions per agent (default 1)" },
      duration: {
        type: "string",
        value: "S",
        description: "seconds the run lasts, connecting included (default 10)",
      },
      rate: {
        type: "string",
        value: "R",
        description: "pushes per subscription per second, 0 = none (default 1)",
      },
      "payload-bytes": { type: "string", value: "N", description: "bytes per push, 16-3993 (default 100)" },
      ttl: { type: "string", value: "SECONDS", description: "TTL of each push (default 60)" },
      vapid: { type: "boolean", description: "subscribe with a VAPID key made for the run; sign every push" },
      "connect-concurrency": {
        type: "string",
        value: "N",
        description:
          "agents connecting at the same time, at most (default 100; 200 over all workers with --plan)",
      },
      drain: {
        type: "string",
        value: "S",
        description:
          "after sending stops, seconds the pushes under way may take to arrive (default 5); accepted ones not in by then are lost, unanswered POSTs in flight",
      },
      "ramp-up": {
        type: "string",
        value: "S",
        description: "spread agent starts over S seconds (default 0)",
      },
      "send-concurrency": {
        type: "string",
        value: "N",
        description: "push POSTs in flight, at most (default 64)",
      },
      "allow-insecure": { type: "boolean", description: "allow ws:// to a non-loopback host" },
      json: { type: "boolean", description: "print the report as JSON" },
      verbose: { type: "boolean", short: "v", description: "print the agents' log lines on stderr" },
    },
    details: [
      "The tool is also the application server: it encrypts (aes128gcm) and POSTs pushes to every",
      "subscription at --rate, and measures the time from POST to the agent's push-message observer.",
      "Progress goes to stderr, the report to stdout. Ctrl+C stops early and still prints the report.",
      "Exits 1 when no agent connected or registered, or when none of the pushes arrived.",
      "Only load-test servers you operate.",
      "",
      "",
      "Plan mode (--plan): each entry starts count virtual users of a scenario, rate per second",
      "(0: at once), after delay seconds; extra fields are the scenario's parameters in order or",
      "as name=value. Built-in scenarios carry ap-loadtester's names (--list-scenarios). The run",
      "lasts --duration seconds, or until every user finished. Relay payloads (default) are random",
      "bytes checked byte for byte on arrival; e2e ones are encrypted and decrypted by real agents.",
      "--workers splits every entry over processes and merges their reports. Exits 1 when a",
      "virtual user failed or nothing connected.",
      "",
      "Examples:",
      "  push-agent serve --port 8080 &",
      "  push-agent loadtest --server ws://127.0.0.1:8080/ --agents 1000 --subscriptions 2 --duration 30",
      '  push-agent loadtest --server ws://127.0.0.1:8080/ --plan "api_test,1,1,0"',
      '  push-agent loadtest --server ws://127.0.0.1:8080/ --plan "basic,1000,50,0" \\',
      '    --plan "connect_and_idle_forever,5000,500,0|notification_forever,500,50,0,1" --duration 60 --html run.html',
    ].join("\n"),
  },
  async ({ values }, ctx) =>
    isPlanMode(values) ? runPlanCommand(values, ctx) : loadtest(readArgs(values), ctx),
);

const PLAN_ONLY = ["scenario", "arg", "workers", "payload", "statsd", "statsd-prefix", "html"];
const FIXED_ONLY = ["agents", "subscriptions", "rate", "payload-bytes", "ttl", "vapid", "ramp-up"];

function isPlanMode(values: ParsedValues): boolean {
  const plan = values.plan !== undefined || values["list-scenarios"] === true;
  const given = (names: string[]) => names.filter((name) => values[name] !== undefined);
  if (plan) {
    const wrong = given(FIXED_ONLY);
    if (wrong.length > 0) throw new UsageError(`--${wrong[0]} is for the fixed mode, not with --plan`);
    return true;
  }
  const wrong = given(PLAN_ONLY);
  if (wrong.length > 0) throw new UsageError(`--${wrong[0]} needs --plan`);
  return false;
}

function readArgs(values: ParsedValues): LoadTestArgs {
  const { serverURL, allowInsecure } = serverOption(values);
  return {
    serverURL,
    allowInsecure,
    agents: integerOption(values, "agents", { min: 1, max: 1_000_000 }) ?? 10,
    subscriptions: integerOption(values, "subscriptions", { min: 1, max: 10_000 }) ?? 1,
    durationMs: secondsOption(values, "duration", false) ?? 10_000,
    rate: decimalOption(values, "rate", { min: 0, max: 1_000 }) ?? 1,
    payloadBytes: integerOption(values, "payload-bytes", { min: 16, max: 3993 }) ?? 100,
    ttl: integerOption(values, "ttl", { min: 0, max: 2_592_000 }) ?? 60,
    vapid: booleanOption(values, "vapid"),
    connectConcurrency: integerOption(values, "connect-concurrency", { min: 1, max: 100_000 }) ?? 100,
    rampUpMs: secondsOption(values, "ramp-up", true) ?? 0,
    sendConcurrency: integerOption(values, "send-concurrency", { min: 1, max: 10_000 }) ?? 64,
    drainMs: secondsOption(values, "drain", true) ?? DEFAULT_DRAIN_MS,
    json: booleanOption(values, "json"),
    verbose: booleanOption(values, "verbose"),
  };
}

async function loadtest(args: LoadTestArgs, ctx: CliContext): Promise<number> {
  const tty = (ctx.stderr as { isTTY?: boolean }).isTTY === true;
  const status = statusLine(ctx.stderr, tty);
  const plural = args.subscriptions === 1 ? "" : "s";
  status.line(
    `push-agent loadtest: ${args.agents} agents × ${args.subscriptions} subscription${plural} ` +
      `against ${withoutCredentials(args.serverURL)} for ${args.durationMs / 1000} s (Ctrl+C stops early)`,
  );
  let snapshots = 0;
  let report: LoadTestReport;
  try {
    report = await runLoadTest({
      serverURL: args.serverURL,
      allowInsecureServerURL: args.allowInsecure,
      agents: args.agents,
      subscriptionsPerAgent: args.subscriptions,
      durationMs: args.durationMs,
      pushIntervalMs: args.rate > 0 ? 1000 / args.rate : null,
      payloadBytes: args.payloadBytes,
      ttl: args.ttl,
      vapid: args.vapid,
      connectConcurrency: args.connectConcurrency,
      rampUpMs: args.rampUpMs,
      sendConcurrency: args.sendConcurrency,
      drainTimeoutMs: args.drainMs,
      signal: ctx.signal,
      logger: args.verbose ? agentLogger(status) : undefined,
      onProgress: (progress) => {
        snapshots++;
        if (tty) status.update(formatProgress(progress));
        else if (snapshots % LINE_EVERY === 0) status.line(formatProgress(progress));
      },
    });
  } finally {
    status.end();
  }
  ctx.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  const failure = failureOf(report, args.rate > 0);
  if (failure === null) return 0;
  ctx.stderr.write(`push-agent loadtest: ${failure}\n`);
  return 1;
}

/** Why the run as a whole failed, or null: partial failures are results, not errors. */
function failureOf(report: LoadTestReport, pushing: boolean): string | null {
  if (report.peakConnected === 0) return "no agent connected";
  if (report.registrations === 0) return "no subscription was registered";
  if (pushing && report.pushesReceived === 0) return "no push arrived";
  return null;
}

function agentLogger(status: StatusLine): Logger {
  const line = (message: string) => status.line(`push-agent: ${message}`);
  return { debug: () => {}, info: line, warn: line, error: line };
}
