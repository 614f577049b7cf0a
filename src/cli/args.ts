/**
 * The CLI's small argument layer on node:util parseArgs: a declarative command spec, strict
 * parsing that turns every mistake into one UsageError line, typed value readers, and the
 * generated --help text. Subcommands describe their options here and never parse by hand.
 */

import { parseArgs } from "node:util";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder shown in help, e.g. "URL"; string options only. */
  value?: string;
  /** May be given several times (string options); read it with listOption. */
  multiple?: boolean;
  description: string;
}

export interface CommandSpec {
  name: string;
  /** One line for `push-agent --help`. */
  summary: string;
  /** Positional part of the usage line, e.g. "<subscription.json|-> <message>". */
  positionals?: string;
  /** How many positionals the command takes. Default 0..0. */
  minPositionals?: number;
  maxPositionals?: number;
  options: Record<string, OptionSpec>;
  /** Free text after the option list (examples, notes). */
  details?: string;
}

/** Bad command-line input: the CLI prints the message as one line and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

export type Parsed = { help: true } | { help: false; values: ParsedValues; positionals: string[] };

const HELP: OptionSpec = { type: "boolean", short: "h", description: "show this help" };

export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options = { ...spec.options, help: HELP };
  let result: { values: ParsedValues; positionals: string[] };
  try {
    result = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [
          name,
          { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    }) as { values: ParsedValues; positionals: string[] };
  } catch (error) {
    throw new UsageError(parseArgsMessage(error));
  }
  if (result.values.help === true) return { help: true };
  const min = spec.minPositionals ?? 0;
  const max = spec.maxPositionals ?? min;
  const count = result.positionals.length;
  if (count > max) throw new UsageError(`unexpected argument '${result.positionals[max]}'`);
  if (count < min)
    throw new UsageError(`missing argument: expected ${spec.positionals ?? `${min} argument(s)`}`);
  return { help: false, values: result.values, positionals: result.positionals };
}

/**
 * parseArgs messages carry a long hint after the first sentence; the CLI keeps the first, plus
 * the one fix that matters for a value starting with "-" (a base64url key can): `--name=VALUE`.
 */
function parseArgsMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = (message.split(/\.\s/)[0] ?? message)
    .replace(/\.$/, "")
    .replace(/^./, (c) => c.toLowerCase());
  const ambiguous = /^option '(--[\w-]+)' argument is ambiguous/.exec(first);
  return ambiguous ? `${first}: a value starting with '-' is given as ${ambiguous[1]}=VALUE` : first;
}

export function formatHelp(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: HELP }).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : "    ";
    const value = o.type === "string" ? ` ${o.value ?? "VALUE"}` : "";
    return [`  ${short}--${name}${value}`, o.description] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [
    `Usage: push-agent ${spec.name}${spec.positionals ? ` ${spec.positionals}` : ""} [options]`,
    "",
    spec.summary,
    "",
    "Options:",
    ...rows.map(([left, description]) => left.padEnd(width) + description),
  ];
  if (spec.details) lines.push("", spec.details);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Typed readers: each throws a UsageError naming the option.

export function stringOption(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0) throw new UsageError(`--${name} needs a value`);
  return value;
}

/** Every value of a `multiple` option, in order; [] when absent. */
export function listOption(values: ParsedValues, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [String(value)];
  if (list.some((item) => item.length === 0)) throw new UsageError(`--${name} needs a value`);
  return list;
}

export function booleanOption(values: ParsedValues, name: string): boolean {
  return values[name] === true;
}

/** A whole number within `range`; every number flag has an upper bound (a duration's is below 2^31 ms). */
export function integerOption(
  values: ParsedValues,
  name: string,
  range: { min: number; max: number },
): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(`--${name} must be a whole number ${range.min}-${range.max}, got '${text}'`);
  }
  return value;
}

export function urlOption(values: ParsedValues, name: string, protocols: string[]): string | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--${name} is not a valid URL: '${text}'`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new UsageError(
      `--${name} must be a ${protocols.map((p) => `${p}//`).join(" or ")} URL, got '${text}'`,
    );
  }
  return text;
}

export function choiceOption<T extends string>(
  values: ParsedValues,
  name: string,
  choices: readonly T[],
): T | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got '${text}'`);
  }
  return text as T;
}
