/**
 * Which JavaScript runtime this is, decided here once for every concern that depends on it (the
 * default WebSocket first). Deno and Bun both present a Node-like `process.versions.node`, so
 * they are told apart by their own globals before Node is assumed; anything without
 * `process.versions.node` (browsers, service workers, Electron renderers without Node
 * integration) is "browser".
 */

export type Runtime = "node" | "deno" | "bun" | "browser";

/** The globals the decision reads; `globalThis` in production, a plain object in tests. */
export interface RuntimeGlobals {
  Deno?: unknown;
  Bun?: unknown;
  process?: { versions?: { node?: unknown; bun?: unknown } };
}

export function runtimeOf(globals: RuntimeGlobals): Runtime {
  if (typeof globals.Deno === "object" && globals.Deno !== null) return "deno";
  const versions = globals.process?.versions;
  if (globals.Bun !== undefined || typeof versions?.bun === "string") return "bun";
  if (typeof versions?.node === "string") return "node";
  return "browser";
}

let current: Runtime | undefined;

/** The runtime this process runs in (it does not change, so it is worked out once). */
export function currentRuntime(): Runtime {
  current ??= runtimeOf(globalThis as RuntimeGlobals);
  return current;
}
