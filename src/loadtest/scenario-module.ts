/**
 * The scenario registry: the built-ins plus the named exports of a user's module
 * (`--scenario ./file.js` or `.ts`). An export is a scenario when it is an async function of the
 * context, or an object with `run` (and optional `params` and `description`). A `.ts` module
 * needs a TypeScript loader: it loads when the process runs under tsx (the source tree, or
 * `node --import tsx`), and otherwise through tsx's register API when tsx is installed.
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ScenarioDefinition, ScenarioFunction } from "./scenario-types.ts";
import { builtinScenarios } from "./scenarios.ts";

export class ScenarioModuleError extends Error {
  override readonly name = "ScenarioModuleError";
}

export async function loadScenarios(modulePath?: string | null): Promise<Map<string, ScenarioDefinition>> {
  const scenarios = new Map(builtinScenarios.map((s) => [s.name, s]));
  if (!modulePath) return scenarios;
  for (const scenario of await loadModule(modulePath)) scenarios.set(scenario.name, scenario);
  return scenarios;
}

async function loadModule(modulePath: string): Promise<ScenarioDefinition[]> {
  const url = pathToFileURL(isAbsolute(modulePath) ? modulePath : resolve(modulePath)).href;
  const exports = await importModule(url, modulePath);
  const found: ScenarioDefinition[] = [];
  for (const [name, value] of Object.entries(exports)) {
    if (name === "default") continue;
    const scenario = asScenario(name, value);
    if (scenario) found.push(scenario);
  }
  if (found.length === 0) {
    throw new ScenarioModuleError(
      `${modulePath} exports no scenario (a named async function of the context)`,
    );
  }
  return found;
}

async function importModule(url: string, modulePath: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "ERR_UNKNOWN_FILE_EXTENSION" || !/\.[mc]?ts$/.test(modulePath)) {
      throw new ScenarioModuleError(`cannot load ${modulePath}: ${(error as Error).message}`);
    }
  }
  let tsx: { register: () => unknown };
  try {
    tsx = (await import("tsx/esm/api" as string)) as { register: () => unknown };
  } catch {
    throw new ScenarioModuleError(
      `cannot load ${modulePath}: Node 20 runs no TypeScript by itself; install tsx (npm i -D tsx) or compile it to .js`,
    );
  }
  tsx.register();
  return (await import(url)) as Record<string, unknown>;
}

function asScenario(name: string, value: unknown): ScenarioDefinition | null {
  if (typeof value === "function") {
    return { name, description: "from the scenario module", params: {}, run: value as ScenarioFunction };
  }
  if (typeof value !== "object" || value === null) return null;
  const object = value as Partial<ScenarioDefinition>;
  if (typeof object.run !== "function") return null;
  return {
    name: typeof object.name === "string" ? object.name : name,
    description: typeof object.description === "string" ? object.description : "from the scenario module",
    params: typeof object.params === "object" && object.params !== null ? object.params : {},
    run: object.run,
  };
}
