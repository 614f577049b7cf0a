/**
 * The load test's HTML report in headless Chromium: a real run's page renders every chart
 * (SVG with drawn lines), fetches nothing, and its numbers are the JSON report's. Needs
 * /usr/bin/chromium (or CHROMIUM_PATH); skipped without it, like the browser suite.
 */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScenarioReport } from "../../src/loadtest/report.ts";
import { createPushServer, type PushServer } from "../../src/server/index.ts";
import { runMain } from "../cli/in-process.ts";
import { CHROMIUM, CHROMIUM_ARGS, HAS_CHROMIUM } from "../helpers/chromium.ts";

let server: PushServer;
let browser: Browser;
let workdir: string;

describe.skipIf(!HAS_CHROMIUM)("the loadtest HTML report in Chromium", () => {
  beforeAll(async () => {
    workdir = await mkdtemp(path.join(tmpdir(), "push-agent-html-"));
    server = await createPushServer({ port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it("draws every chart and shows the JSON report's numbers", async () => {
    const file = path.join(workdir, "report.html");
    const { code, stdout } = await runMain([
      "loadtest",
      "--server",
      server.url,
      "--plan",
      "notification_forever,10,20,0,0.2|connect_and_idle_forever,5,0,0|notification_forever_bad_tokens,1,1,0,0.5",
      "--duration",
      "2.5",
      "--workers",
      "1",
      "--json",
      "--html",
      file,
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as ScenarioReport;
    expect(report.pushes.received).toBeGreaterThan(0);

    const page = await browser.newPage();
    const requests: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith("file:")) requests.push(request.url());
    });
    await page.goto(pathToFileURL(file).href);

    const charts = await page.$$eval("svg[data-chart]", (svgs) =>
      svgs.map((svg) => ({
        id: svg.getAttribute("data-chart"),
        width: svg.getBoundingClientRect().width,
        lines: Array.from(svg.querySelectorAll("polyline")).map((line) => ({
          series: line.getAttribute("data-series"),
          points: (line.getAttribute("points") ?? "").trim().split(/\s+/).filter(Boolean).length,
          length: (line as SVGPolylineElement).getTotalLength(),
        })),
      })),
    );
    expect(charts.map((c) => c.id)).toEqual(["connections", "registrations", "pushes", "latency"]);
    for (const chart of charts) {
      expect(chart.width).toBeGreaterThan(300);
      expect(chart.lines.length).toBeGreaterThan(0);
      for (const line of chart.lines) expect(line.points).toBe(report.timeline.length);
    }
    const pushes = charts.find((c) => c.id === "pushes")!;
    expect(pushes.lines.map((l) => l.series)).toEqual(["sent", "received"]);
    expect(pushes.lines.every((l) => l.length > 0)).toBe(true);
    const latency = charts.find((c) => c.id === "latency")!;
    expect(latency.lines.map((l) => l.series)).toEqual(["p50", "p95", "p99"]);
    // No error in this run: the errors chart says so instead of drawing.
    expect(await page.textContent('[data-chart="errors"]')).toBe("No errors.");

    const metric = (id: string) => page.textContent(`[data-metric="${id}"]`);
    expect(await metric("pushes-sent")).toBe(String(report.pushes.sent));
    expect(await metric("pushes-received")).toBe(String(report.pushes.received));
    expect(await metric("connections-peak")).toBe(String(report.connections.peak));
    expect(await metric("registrations")).toBe(String(report.registrations));
    expect(await metric("users-started")).toBe(String(report.users.started));
    expect(await metric("latency-p50")).toBe(String(report.latency!.p50));
    expect(await metric("latency-p99")).toBe(String(report.latency!.p99));
    const embedded = await page.$eval("#report-data", (el) => JSON.parse(el.textContent ?? "null"));
    expect(embedded).toEqual(report);
    expect(requests).toEqual([]);
    const html = await readFile(file, "utf8");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    await page.close();
  });
});
