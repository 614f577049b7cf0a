/**
 * `npm run bench [name...]`: runs the named benchmarks (all by default), prints a table and writes
 * bench/results.json and BENCHMARKS.md. Add a benchmark by adding one entry to BENCHES.
 * `npm run bench -- --runtimes`: decrypt, burst and drain under Node 20, 22 and 24 (runtimes.ts),
 * into the per-runtime section; the other sections keep their figures.
 */

import { readFile, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { benchDecrypt } from "./decrypt.ts";
import { benchE2E } from "./e2e.ts";
import { benchLoadtest } from "./loadtest.ts";
import { benchPeers } from "./peers.ts";
import { type ResultsFile, writeReport } from "./report.ts";
import { benchRuntimes } from "./runtimes.ts";
import { benchScale } from "./scale.ts";
import { benchStartup } from "./startup.ts";

type Bench = () => Promise<Record<string, number>>;

const BENCHES: Record<string, Bench> = {
  decrypt: benchDecrypt,
  e2e: benchE2E,
  peers: benchPeers,
  scale: benchScale,
  startup: benchStartup,
  loadtest: benchLoadtest,
};

const RESULTS_FILE = new URL("./results.json", import.meta.url);

function printTable(name: string, results: Record<string, number>): void {
  const width = Math.max(...Object.keys(results).map((key) => key.length));
  console.log(`\n${name}`);
  for (const [key, value] of Object.entries(results)) {
    console.log(`  ${key.padEnd(width)}  ${value.toLocaleString("en-US").padStart(12)}`);
  }
}

async function previousFile(): Promise<Partial<ResultsFile>> {
  try {
    return JSON.parse(await readFile(RESULTS_FILE, "utf8")) as ResultsFile;
  } catch {
    return {};
  }
}

/** The per-runtime run: only the `runtimes` part of the results file changes. */
async function runtimesMain(): Promise<void> {
  const previous = await previousFile();
  const runtimes = await benchRuntimes(cpus()[0]?.model ?? "unknown", cpus().length);
  for (const run of runtimes.runs)
    printTable(`${run.node} (OpenSSL ${run.openssl}, ECDH path ${run.ecdhPath})`, {
      ...run.results.decrypt,
      ...run.results.peers,
    });
  const file: ResultsFile = {
    machine: previous.machine ?? {
      cpus: runtimes.cpus,
      cpuCount: runtimes.cpuCount,
      node: process.version,
      date: runtimes.date,
    },
    results: previous.results ?? {},
    runtimes,
  };
  await writeFile(RESULTS_FILE, `${JSON.stringify(file, null, 2)}\n`);
  await writeReport(file);
  console.log("\nwrote bench/results.json (runtimes) and BENCHMARKS.md");
}

async function main(): Promise<void> {
  if (process.argv.includes("--runtimes")) return runtimesMain();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in BENCHES));
  if (unknown.length > 0)
    throw new Error(`Unknown bench: ${unknown.join(", ")} (have ${Object.keys(BENCHES).join(", ")})`);
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
  // A partial run keeps the other benches' last results.
  const previous = await previousFile();
  const results = wanted.length > 0 ? (previous.results ?? {}) : {};
  const { runtimes } = previous;
  for (const name of names) {
    results[name] = await BENCHES[name]!();
    printTable(name, results[name]);
  }
  const machine = {
    cpus: cpus()[0]?.model ?? "unknown",
    cpuCount: cpus().length,
    node: process.version,
    date: new Date().toISOString(),
  };
  const file: ResultsFile = { machine, results, ...(runtimes ? { runtimes } : {}) };
  await writeFile(RESULTS_FILE, `${JSON.stringify(file, null, 2)}\n`);
  await writeReport(file);
  console.log(
    `\n${machine.cpus} ×${machine.cpuCount}, Node ${machine.node}: wrote bench/results.json and BENCHMARKS.md`,
  );
}

await main();
