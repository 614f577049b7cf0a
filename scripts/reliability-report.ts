/**
 * Turns the counts the fault and fuzz suites wrote to .tmp/reliability/*.json into
 * RELIABILITY.md. Run it after `SLOW=1 vitest run test/faults test/fuzz` (npm run reliability);
 * `--clean` empties .tmp/reliability first, so a report never mixes two runs.
 *
 * `--check` exits 1 when any row lost a message or crashed (CI runs it after the slow suite).
 *
 *   tsx scripts/reliability-report.ts [--clean] [--check] [--out RELIABILITY.md]
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ReliabilityFile, ReliabilityRow } from "../test/faults/support/report.ts";

type Row = ReliabilityRow;
type SuiteFile = ReliabilityFile;

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const DIR = join(ROOT, ".tmp", "reliability");
/** Files older than the newest by more than this belong to an earlier run and are left out. */
const SAME_RUN_MS = 2 * 60 * 60 * 1000;

function readSuites(): { suites: SuiteFile[]; stale: string[] } {
  if (!existsSync(DIR)) return { suites: [], stale: [] };
  const all = readdirSync(DIR)
    .filter((name) => name.endsWith(".json"))
    .map((name) => JSON.parse(readFileSync(join(DIR, name), "utf8")) as SuiteFile);
  const newest = Math.max(...all.map((s) => Date.parse(s.finishedAt)));
  const suites = all.filter((s) => newest - Date.parse(s.finishedAt) <= SAME_RUN_MS);
  const stale = all.filter((s) => !suites.includes(s)).map((s) => s.suite);
  return { suites, stale };
}

const NOT_MEASURED = "not measured";
/** A counted figure, or "not measured" where the run could not count it (never a made-up 0). */
const num = (n: number | null) => (n === null ? NOT_MEASURED : n.toLocaleString("en"));
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function faultTable(rows: Row[]): string[] {
  const lines = [
    "| id | fault | runs | sent | delivered | duplicated | lost | crashes | notes |",
    "|---|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.id} | ${cell(r.title)} | ${num(r.runs)} | ${num(r.sent)} | ${num(r.delivered)} | ${num(r.duplicated)} | ${num(r.lost)} | ${num(r.crashes)} | ${cell(r.notes ?? "")} |`,
    );
  }
  return lines;
}

function hostileTable(rows: Row[]): string[] {
  const lines = [
    "| id | hostile input | inputs | escaped exceptions / crashes | valid traffic afterwards (sent → delivered) | notes |",
    "|---|---|---:|---:|---|---|",
  ];
  for (const r of rows) {
    const after = r.sent === null || r.sent > 0 ? `${num(r.sent)} → ${num(r.delivered)}` : "—";
    lines.push(
      `| ${r.id} | ${cell(r.title)} | ${num(r.runs)} | ${num(r.crashes)} | ${after} | ${cell(r.notes ?? "")} |`,
    );
  }
  return lines;
}

/** Duplicates are expected only from host kills (F2*); anything else is called out. */
function duplicateNote(rows: Row[]): string[] {
  const withDuplicates = rows.filter((r) => (r.duplicated ?? 0) > 0);
  const fromKills = withDuplicates.filter((r) => r.id.startsWith("F2"));
  const other = withDuplicates.filter((r) => !r.id.startsWith("F2"));
  const lines: string[] = [];
  if (fromKills.length > 0) {
    lines.push(
      `Duplicates in ${fromKills.map((r) => r.id).join(", ")} come from host kills: a message the app had`,
      "already been handed when the kill came, before its id reached the store, is handed over again",
      "after the restart. The host reports every ack it sends, and the test checks that every duplicate",
      "is such a message: printed by a host that was killed before it acked it. No acked message came",
      "back. Several per subscription can be in that window, because the store writes of messages in",
      "flight share one batch.",
    );
  }
  if (other.length > 0) {
    lines.push(
      "",
      `Duplicates not explained by a kill: ${other.map((r) => `${r.id} (${num(r.duplicated)})`).join(", ")}; each row's notes say where they came from.`,
    );
  }
  if (withDuplicates.length === 0) lines.push("No message reached the app twice.");
  return lines;
}

type Figure = "sent" | "delivered" | "duplicated" | "lost" | "crashes";

/** Sums a column over the rows that counted it, and says how many rows did not. */
function total(rows: Row[], figure: Figure, label: string): string {
  const counted = rows.filter((r) => r[figure] !== null);
  const sum = counted.reduce((n, r) => n + (r[figure] ?? 0), 0);
  const missing = rows.length - counted.length;
  return `${num(sum)} ${label}${missing > 0 ? ` (${missing} ${missing === 1 ? "row" : "rows"} ${NOT_MEASURED})` : ""}`;
}

function totals(rows: Row[]): string {
  const parts = [
    total(rows, "sent", "messages sent"),
    total(rows, "delivered", "delivered"),
    total(rows, "duplicated", "duplicated"),
    total(rows, "lost", "lost"),
    total(rows, "crashes", "crashes"),
  ];
  return `Totals: ${parts.join(", ")}.`;
}

/** A row that lost a message or crashed; a figure not measured is no finding, but is not hidden. */
function isFinding(r: Row): boolean {
  return (r.lost ?? 0) > 0 || (r.crashes ?? 0) > 0;
}

export function render(suites: SuiteFile[], stale: string[]): string {
  const rows = suites
    .flatMap((s) => s.rows)
    .sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  const faults = rows.filter((r) => r.category === "fault");
  const hostile = rows.filter((r) => r.category === "hostile");
  const slow = suites.some((s) => s.mode === "SLOW");
  const last = suites.reduce((a, b) => (Date.parse(a.finishedAt) > Date.parse(b.finishedAt) ? a : b));
  const findings = rows.filter(isFinding);

  const out = [
    "# Reliability",
    "",
    "What the test suite throws at the client (faults in `test/faults/`, hostile input in `test/fuzz/`),",
    "how often, and what came out. Every number below was written by the tests themselves to",
    "`.tmp/reliability/*.json` and turned into this page by `scripts/reliability-report.ts`; do not edit",
    "it by hand, run `npm run reliability`.",
    "",
    `- **Run:** ${slow ? "`SLOW=1` (the full fault and fuzz counts; the default-run variants ran too)" : "default `npm test` sizes (run `npm run reliability` for the full counts)"}`,
    `- **Finished:** ${last.finishedAt.slice(0, 16).replace("T", " ")} UTC`,
    `- **Machine:** ${last.cpu}, ${last.cores} cores, ${last.platform}`,
    `- **Node:** ${last.node}`,
    "",
    "Columns: *runs* is how many times the fault was injected; *sent* the messages an application",
    "server or the scripted server sent towards the app; *delivered* the distinct messages the app",
    "received; *duplicated* deliveries of a message beyond its first; *lost* sent minus delivered;",
    "*crashes* uncaught exceptions, unhandled rejections, or host processes that died on their own.",
    `A cell reads *${NOT_MEASURED}* where the run could not count that figure.`,
    "",
    "## Faults",
    "",
    ...faultTable(faults),
    "",
    totals(faults),
    "",
    ...duplicateNote(faults),
    "",
    "## Hostile input",
    "",
    ...hostileTable(hostile),
    "",
    "The decryptor rows (H5) come from `test/crypto/properties.test.ts`; that file also round-trips",
    "payloads from `http_ece` and feeds random bytes under random headers to both backends.",
    "",
    "## Open findings",
    "",
  ];
  if (findings.length === 0) out.push("None: no row lost a message or crashed.");
  for (const r of findings) {
    out.push(
      `- **${r.id}** ${r.title}: ${num(r.lost)} lost, ${num(r.crashes)} crashes. ${r.notes ?? ""}`.trim(),
    );
  }
  if (stale.length > 0) {
    out.push("", `Left out as older than this run: ${stale.join(", ")}.`);
  }
  out.push(
    "",
    "## Reproduce",
    "",
    "```sh",
    "npm run reliability           # faults + fuzz at both sizes, then this page",
    "SEED=123 npx vitest run test/faults   # replay a random kill/cut schedule (seeds are in the notes)",
    "```",
    "",
  );
  return out.join("\n");
}

function main(): void {
  const args = process.argv.slice(2);
  if (args.includes("--clean")) {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    return;
  }
  const outIndex = args.indexOf("--out");
  const target = resolve(ROOT, outIndex >= 0 ? (args[outIndex + 1] ?? "RELIABILITY.md") : "RELIABILITY.md");
  const { suites, stale } = readSuites();
  if (suites.length === 0) {
    process.stderr.write(`no results in ${DIR}: run SLOW=1 npx vitest run test/faults test/fuzz first\n`);
    process.exit(1);
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, render(suites, stale));
  process.stdout.write(`wrote ${target} from ${suites.length} suites\n`);
  const findings = suites.flatMap((s) => s.rows).filter(isFinding);
  if (args.includes("--check") && findings.length > 0) {
    process.stderr.write(`reliability: ${findings.map((r) => r.id).join(", ")} lost messages or crashed\n`);
    process.exit(1);
  }
}

// Run as a script; imported (by its test), only `render` is used.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
