/**
 * `tsx scripts/heap-summary.ts file.heapsnapshot N [Class]`: where the heap of N idle services
 * goes, per service. Computes the dominator tree of a V8 heap snapshot (Cooper, Harvey and
 * Kennedy's iterative algorithm; weak edges ignored) and prints, per instance of `Class`
 * (PushService by default), its retained size split by what it holds (dominator-tree children,
 * two levels deep, named by the field that points at them), plus the self size per object kind
 * of the whole heap. Made for BENCH_HEAP_SNAPSHOT of bench/scale-worker.ts.
 */

import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
    node_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const [file, countText, rootClass = "PushService"] = process.argv.slice(2);
if (!file || !countText) throw new Error("usage: heap-summary.ts file.heapsnapshot N [Class]");
const perInstance = Number(countText);
const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
const { meta } = snap.snapshot;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nType = meta.node_fields.indexOf("type");
const nName = meta.node_fields.indexOf("name");
const nSelf = meta.node_fields.indexOf("self_size");
const nEdges = meta.node_fields.indexOf("edge_count");
const eType = meta.edge_fields.indexOf("type");
const eName = meta.edge_fields.indexOf("name_or_index");
const eTo = meta.edge_fields.indexOf("to_node");
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const WEAK = edgeTypes.indexOf("weak");
const SHORTCUT = edgeTypes.indexOf("shortcut");
const ELEMENT = edgeTypes.indexOf("element");
const HIDDEN = edgeTypes.indexOf("hidden");
const { nodes, edges, strings } = snap;
const count = nodes.length / NF;

const firstEdge = new Uint32Array(count + 1);
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e;
  e += nodes[i * NF + nEdges]! * EF;
  firstEdge[i + 1] = e;
}
const skip = (edge: number) => {
  const type = edges[edge + eType];
  return type === WEAK || type === SHORTCUT;
};

// Depth-first post-order from the root (node 0).
const post = new Int32Array(count).fill(-1);
const order: number[] = [];
{
  const stack = [0];
  const next = new Uint32Array(count);
  const seen = new Uint8Array(count);
  seen[0] = 1;
  for (let i = 0; i < count; i++) next[i] = firstEdge[i]!;
  while (stack.length > 0) {
    const node = stack[stack.length - 1]!;
    if (next[node]! < firstEdge[node + 1]!) {
      const edge = next[node]!;
      next[node] = edge + EF;
      if (skip(edge)) continue;
      const to = edges[edge + eTo]! / NF;
      if (!seen[to]) {
        seen[to] = 1;
        stack.push(to);
      }
    } else {
      stack.pop();
      post[node] = order.length;
      order.push(node);
    }
  }
}

// Predecessors (strong edges only), as CSR.
const predCount = new Uint32Array(count + 1);
for (let i = 0; i < count; i++)
  for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF)
    if (!skip(e) && post[i]! >= 0) predCount[edges[e + eTo]! / NF + 1]!++;
for (let i = 0; i < count; i++) predCount[i + 1]! += predCount[i]!;
const preds = new Uint32Array(predCount[count]!);
{
  const fill = predCount.slice();
  for (let i = 0; i < count; i++)
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF)
      if (!skip(e) && post[i]! >= 0) preds[fill[edges[e + eTo]! / NF]!++] = i;
}

const idom = new Int32Array(count).fill(-1);
idom[0] = 0;
const intersect = (a: number, b: number) => {
  while (a !== b) {
    while (post[a]! < post[b]!) a = idom[a]!;
    while (post[b]! < post[a]!) b = idom[b]!;
  }
  return a;
};
for (let changed = true; changed; ) {
  changed = false;
  for (let k = order.length - 2; k >= 0; k--) {
    const node = order[k]!;
    let dom = -1;
    for (let p = predCount[node]!; p < predCount[node + 1]!; p++) {
      const pred = preds[p]!;
      if (idom[pred] === -1) continue;
      dom = dom === -1 ? pred : intersect(pred, dom);
    }
    if (dom !== -1 && idom[node] !== dom) {
      idom[node] = dom;
      changed = true;
    }
  }
}

const retained = new Float64Array(count);
for (const node of order) retained[node]! += nodes[node * NF + nSelf]!;
for (const node of order) if (node !== 0) retained[idom[node]!]! += retained[node]!;

const typeOf = (node: number) => nodeTypes[nodes[node * NF + nType]!]!;
const nameOf = (node: number) => strings[nodes[node * NF + nName]!]!;
function kind(node: number): string {
  const type = typeOf(node);
  if (type === "object") return nameOf(node);
  if (type === "closure") return `(closure ${nameOf(node) || "anonymous"})`;
  if (type === "native" || type === "hidden") return `(${type} ${nameOf(node).split(" ")[0]})`;
  return `(${type})`;
}
/** The name of the field `parent` holds `child` under, else the child's kind. */
function label(parent: number, child: number): string {
  for (let e = firstEdge[parent]!; e < firstEdge[parent + 1]!; e += EF) {
    if (edges[e + eTo]! / NF !== child) continue;
    const type = edges[e + eType];
    if (type === ELEMENT || type === HIDDEN) return `[${edges[e + eName]}] ${kind(child)}`;
    return `.${strings[edges[e + eName]!]} ${kind(child)}`;
  }
  return kind(child);
}

const children = new Map<number, number[]>();
for (const node of order) {
  if (node === 0) continue;
  const parent = idom[node]!;
  const list = children.get(parent);
  if (list) list.push(node);
  else children.set(parent, [node]);
}

const kb = (bytes: number) => (bytes / perInstance / 1024).toFixed(2).padStart(7);
function breakdown(roots: number[], depth: number, indent: string): void {
  const byLabel = new Map<string, { bytes: number; nodes: number[] }>();
  for (const root of roots) {
    for (const child of children.get(root) ?? []) {
      const key = label(root, child);
      const entry = byLabel.get(key) ?? { bytes: 0, nodes: [] };
      entry.bytes += retained[child]!;
      entry.nodes.push(child);
      byLabel.set(key, entry);
    }
  }
  const sorted = [...byLabel].sort((a, b) => b[1].bytes - a[1].bytes);
  for (const [key, { bytes, nodes: held }] of sorted) {
    if (bytes / perInstance < 24) continue;
    console.log(`${kb(bytes)} KB ${indent}${key}`);
    if (depth > 1) breakdown(held, depth - 1, `${indent}  `);
  }
}

const instances = order.filter((node) => typeOf(node) === "object" && nameOf(node) === rootClass);
const total = instances.reduce((sum, node) => sum + retained[node]!, 0);
console.log(`${instances.length} × ${rootClass}: ${kb(total)} KB retained per instance (÷ ${perInstance})`);
const selfOnly = instances.reduce((sum, node) => sum + nodes[node * NF + nSelf]!, 0);
console.log(`${kb(selfOnly)} KB   (${rootClass} object itself)`);
breakdown(instances, Number(process.env.DEPTH ?? 3), "");

console.log(`\nSelf size by kind, whole heap, per ${rootClass} (top 40):`);
const byKind = new Map<string, number>();
for (const node of order) byKind.set(kind(node), (byKind.get(kind(node)) ?? 0) + nodes[node * NF + nSelf]!);
for (const [name, bytes] of [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 40))
  console.log(`${kb(bytes)} KB ${name}`);
