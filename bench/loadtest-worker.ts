/**
 * One load-test generator process for bench/loadtest.ts (run with --expose-gc, so the heap at
 * the peak is measured after a collection): runs its share of a plan, as one worker of
 * `push-agent loadtest --workers N` does, and sends its ScenarioRunData back over IPC.
 *
 *   loadtest-worker.ts <PlanRunConfig JSON> <worker index> <workers>
 */

import { runShare } from "../src/loadtest/workers.ts";
import { finish } from "./support.ts";

const [configText, index, count] = process.argv.slice(2);
const data = await runShare(JSON.parse(configText!), Number(index), Number(count), {});
finish(data);
