/**
 * A real `artillery run` of examples/artillery/smoke.yml against the local push server, with
 * the engine found through NODE_PATH as the README says, asserting on Artillery's JSON report
 * (`--output`): every user completed, every push sent arrived, the latency histogram is there.
 * Artillery is not a dependency: CI installs artillery@2.0.21 into .tmp/artillery (see .ci/run);
 * ARTILLERY_BIN points elsewhere. The engine loads push-agent from dist/ (built if missing).
 */

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { ROOT } from "../cli/helpers.ts";

const run = promisify(execFile);
const ARTILLERY = process.env.ARTILLERY_BIN ?? path.join(ROOT, ".tmp/artillery/node_modules/.bin/artillery");
const HAS_ARTILLERY = existsSync(ARTILLERY);
const SUITE = HAS_ARTILLERY
  ? "artillery run with engine: push-agent"
  : `artillery run with engine: push-agent (SKIPPED: no Artillery at ${ARTILLERY}; see .ci/run)`;
if (!HAS_ARTILLERY) console.warn(SUITE);

interface ArtilleryReport {
  aggregate: {
    counters: Record<string, number>;
    summaries: Record<string, { count: number; p99: number }>;
  };
}

let server: PushServer;
let workdir: string;

describe.skipIf(!HAS_ARTILLERY)(SUITE, () => {
  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, "dist/loadtest/index.js")))
      await run("npm", ["run", "build"], { cwd: ROOT });
    server = await createPushServer({ port: 0 });
    workdir = await mkdtemp(path.join(tmpdir(), "push-agent-artillery-"));
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it("runs the smoke example: every user completes and every push arrives", async () => {
    const output = path.join(workdir, "report.json");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_PATH: path.join(ROOT, "packages"),
      ARTILLERY_DISABLE_TELEMETRY: "true",
    };
    delete env.NODE_OPTIONS;
    await run(
      ARTILLERY,
      ["run", "--target", server.url, "--output", output, path.join(ROOT, "examples/artillery/smoke.yml")],
      { cwd: ROOT, env, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const report = JSON.parse(await readFile(output, "utf8")) as ArtilleryReport;
    const c = report.aggregate.counters;
    expect(c["vusers.created"]).toBeGreaterThan(0);
    expect(c["vusers.failed"] ?? 0).toBe(0);
    expect(c["vusers.completed"]).toBe(c["vusers.created"]);
    expect(c["push_agent.notification.sent"]).toBeGreaterThan(0);
    expect(c["push_agent.notification.received"]).toBe(c["push_agent.notification.sent"]);
    expect(c["push_agent.notification.lost"] ?? 0).toBe(0);
    expect(c["push_agent.connection.opened"]).toBe(c["push_agent.connection.closed"]);
    const latency = report.aggregate.summaries["push_agent.notification.latency"];
    expect(latency?.count).toBe(c["push_agent.notification.received"]);
  }, 240_000);
});
