/**
 * `npm run check:cycles [dir]`: fails when the modules under src/ (or `dir`) import each other in
 * a cycle. Every edge counts: value and type-only imports, re-exports, `import("…")` types and
 * dynamic imports, and the package's `#` imports (each of their targets). A cycle is reported as
 * one path through it, with the files of its strongly connected component.
 *
 * Why type-only edges too: a type cycle still means two files share a type that belongs in a
 * file of its own, and it turns into a runtime cycle with the first value import.
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

/** Every target of a package.json `imports` entry, across all its conditions. */
function packageImports(): Map<string, string[]> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    imports?: Record<string, unknown>;
  };
  const targets = new Map<string, string[]>();
  const collect = (value: unknown, into: Set<string>): void => {
    if (typeof value === "string") {
      if (value.startsWith("./src/")) into.add(path.join(ROOT, value));
    } else if (value && typeof value === "object") {
      for (const inner of Object.values(value)) collect(inner, into);
    }
  };
  for (const [name, value] of Object.entries(pkg.imports ?? {})) {
    const into = new Set<string>();
    collect(value, into);
    targets.set(name, [...into]);
  }
  return targets;
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) files.push(...sourceFiles(full));
    else if (/\.tsx?$/.test(entry) && !entry.endsWith(".d.ts")) files.push(full);
  }
  return files;
}

/** The module specifiers a file names, found anywhere in it (types, dynamic imports included). */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isImportTypeNode(node)) {
      const literal = node.argument;
      if (ts.isLiteralTypeNode(literal) && ts.isStringLiteral(literal.literal))
        found.push(literal.literal.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument)) found.push(argument.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolve(from: string, specifier: string, hashImports: Map<string, string[]>): string[] {
  if (specifier.startsWith("#")) return hashImports.get(specifier) ?? [];
  if (!specifier.startsWith(".")) return [];
  const target = path.resolve(path.dirname(from), specifier);
  for (const candidate of [
    target,
    target.replace(/\.js$/, ".ts"),
    `${target}.ts`,
    path.join(target, "index.ts"),
  ]) {
    try {
      if (statSync(candidate).isFile()) return [candidate];
    } catch {}
  }
  return [];
}

/** Tarjan's strongly connected components; only those that hold a cycle are returned. */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) connect(node);
  return found;
}

/** One concrete path around the component, from its first file back to it. */
function pathThrough(component: string[], graph: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const route = [start];
        for (let at = node; at !== start; at = previous.get(at)!) route.splice(1, 0, at);
        return [...route, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return component;
}

function main(): void {
  const dir = path.resolve(ROOT, process.argv[2] ?? "src");
  const hashImports = packageImports();
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(dir)) {
    const targets = specifiers(file).flatMap((specifier) => resolve(file, specifier, hashImports));
    graph.set(file, [...new Set(targets)]);
  }
  const found = cycles(graph);
  const relative = (file: string) => path.relative(ROOT, file);
  if (found.length === 0) {
    console.log(`check-cycles: no import cycles among ${graph.size} files in ${relative(dir)}/`);
    return;
  }
  for (const component of found) {
    console.error(`import cycle: ${pathThrough(component, graph).map(relative).join(" → ")}`);
    if (component.length > 2) console.error(`  (files in it: ${component.map(relative).join(", ")})`);
  }
  console.error(`check-cycles: ${found.length} import cycle(s) in ${relative(dir)}/`);
  process.exitCode = 1;
}

main();
