/**
 * fast-check arbitraries for hostile server frames: arbitrary strings, arbitrary JSON values, and
 * valid autopush frames (hello, register, unregister, notification, legacy notification,
 * broadcast, ping) mutated field by field. JSON is built as a small syntax tree and serialized by
 * hand, so objects can hold `__proto__` as an own key, duplicate keys, and number literals that
 * JSON.stringify never writes (1e999, -0).
 */

import fc from "fast-check";

export type JsonNode =
  | { kind: "literal"; text: string }
  | { kind: "string"; value: string }
  | { kind: "array"; items: JsonNode[] }
  | { kind: "object"; entries: [string, JsonNode][] };

/** Keys that mean something to JavaScript objects, or to the protocol. */
export const DANGEROUS_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "toJSON",
  "then",
  "length",
] as const;
export const PROTOCOL_KEYS = [
  "messageType",
  "uaid",
  "status",
  "use_webpush",
  "broadcasts",
  "errors",
  "channelID",
  "pushEndpoint",
  "version",
  "data",
  "headers",
  "updates",
  "encoding",
  "encryption",
  "crypto_key",
  "encryption_key",
] as const;
export const MESSAGE_TYPES = [
  "hello",
  "register",
  "unregister",
  "notification",
  "broadcast",
  "ping",
  "HELLO",
  "Notification",
  "nOtIfIcAtIoN",
  "ack",
  "nack",
  "broadcast_subscribe",
  "",
  "__proto__",
  "constructor",
] as const;

const str = (value: string): JsonNode => ({ kind: "string", value });
const lit = (text: string): JsonNode => ({ kind: "literal", text });
const obj = (entries: [string, JsonNode][]): JsonNode => ({ kind: "object", entries });
const arr = (items: JsonNode[]): JsonNode => ({ kind: "array", items });

export function serialize(node: JsonNode): string {
  switch (node.kind) {
    case "literal":
      return node.text;
    case "string":
      return JSON.stringify(node.value);
    case "array":
      return `[${node.items.map(serialize).join(",")}]`;
    case "object":
      return `{${node.entries.map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(",")}}`;
  }
}

const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DANGEROUS_KEYS) },
  { weight: 3, arbitrary: fc.constantFrom(...PROTOCOL_KEYS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
);

const literalArb = fc.oneof(
  fc.constantFrom("null", "true", "false", "0", "-0", "1", "-1", "1e999", "-1e999", "4.9e-324", "1e-400"),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.integer().map(String),
);

const stringArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    ...MESSAGE_TYPES,
    ...DANGEROUS_KEYS,
    "200",
    "0200",
    " 200",
    "1e3",
    "aes128gcm",
    "aesgcm",
    "aesgcm128",
  ),
  fc.stringMatching(/^[A-Za-z0-9_-]{0,60}={0,2}$/),
);

/** Any JSON value, with prototype-ish keys and odd number literals. */
export const jsonNodeArb: fc.Arbitrary<JsonNode> = fc.letrec<{ node: JsonNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    literalArb.map(lit),
    stringArb.map(str),
    fc.array(tie("node"), { maxLength: 4 }).map(arr),
    fc.array(fc.tuple(keyArb, tie("node")), { maxLength: 5 }).map(obj),
  ),
})).node;

const uuidArb = fc.uuid().map((u) => u.toLowerCase());

export interface FrameContext {
  /** A channelID the client knows (varied in case), so mutations reach the delivery pipeline. */
  channelID?: string;
  /** A real payload for `channelID`, so mutations reach the decryptor. */
  encrypted?: { data: string; headers: Record<string, string> }[];
}

/** Valid frames as syntax trees. */
function templates(context: FrameContext): fc.Arbitrary<JsonNode> {
  const channel = context.channelID
    ? fc.oneof(
        { weight: 1, arbitrary: uuidArb },
        { weight: 3, arbitrary: fc.constantFrom(context.channelID, context.channelID.toUpperCase()) },
      )
    : uuidArb;
  const payload = context.encrypted?.length
    ? fc.constantFrom(...context.encrypted)
    : fc.constant({ data: "AAAA", headers: { encoding: "aes128gcm" } });
  const version = fc.oneof(fc.string({ minLength: 1, maxLength: 16 }), uuidArb);
  const headersNode = (headers: Record<string, string>) =>
    obj(Object.entries(headers).map(([k, v]) => [k, str(v)]));
  return fc.oneof(
    fc
      .record({ uaid: fc.stringMatching(/^[0-9a-f]{32}$/), id: fc.string({ maxLength: 8 }) })
      .map(({ uaid, id }) =>
        obj([
          ["messageType", str("hello")],
          ["uaid", str(uaid)],
          ["status", lit("200")],
          ["use_webpush", lit("true")],
          ["broadcasts", obj([[id, str("v1")]])],
        ]),
      ),
    fc.tuple(channel, fc.webUrl()).map(([id, url]) =>
      obj([
        ["messageType", str("register")],
        ["channelID", str(id)],
        ["status", lit("200")],
        ["pushEndpoint", str(url)],
      ]),
    ),
    channel.map((id) =>
      obj([
        ["messageType", str("unregister")],
        ["channelID", str(id)],
        ["status", lit("200")],
      ]),
    ),
    // Notifications weigh more: they are what reaches the store, the decryptor and the app.
    {
      weight: 3,
      arbitrary: fc.tuple(channel, version, payload).map(([id, v, p]) =>
        obj([
          ["messageType", str("notification")],
          ["channelID", str(id)],
          ["version", str(v)],
          ["data", str(p.data)],
          ["headers", headersNode(p.headers)],
        ]),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(channel, version).map(([id, v]) =>
        obj([
          ["messageType", str("notification")],
          ["channelID", str(id)],
          ["version", str(v)],
        ]),
      ),
    },
    fc.tuple(channel, fc.nat()).map(([id, v]) =>
      obj([
        ["messageType", str("notification")],
        [
          "updates",
          arr([
            obj([
              ["channelID", str(id)],
              ["version", lit(String(v))],
            ]),
          ]),
        ],
      ]),
    ),
    fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([id, reason]) =>
      obj([
        ["messageType", str("broadcast")],
        [
          "broadcasts",
          obj([
            [id, str("v2")],
            ["errors", obj([[id, str(reason)]])],
          ]),
        ],
      ]),
    ),
    fc.constant(obj([])),
    fc.constant(obj([["messageType", str("ping")]])),
  );
}

type Mutation =
  | { op: "replace"; target: number; at: number; value: JsonNode }
  | { op: "remove"; target: number; at: number }
  | { op: "add"; target: number; key: string; value: JsonNode }
  | { op: "duplicate"; target: number; at: number; value: JsonNode }
  | { op: "messageType"; value: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("replace" as const), target: fc.nat(), at: fc.nat(), value: jsonNodeArb }),
  fc.record({ op: fc.constant("remove" as const), target: fc.nat(), at: fc.nat() }),
  fc.record({ op: fc.constant("add" as const), target: fc.nat(), key: keyArb, value: jsonNodeArb }),
  fc.record({ op: fc.constant("duplicate" as const), target: fc.nat(), at: fc.nat(), value: jsonNodeArb }),
  fc.record({ op: fc.constant("messageType" as const), value: fc.constantFrom(...MESSAGE_TYPES) }),
);

function objectsIn(node: JsonNode, out: Extract<JsonNode, { kind: "object" }>[] = []) {
  if (node.kind === "object") {
    out.push(node);
    for (const [, value] of node.entries) objectsIn(value, out);
  } else if (node.kind === "array") {
    for (const item of node.items) objectsIn(item, out);
  }
  return out;
}

function mutate(root: JsonNode, mutations: Mutation[]): JsonNode {
  const copy = structuredClone(root);
  for (const m of mutations) {
    const objects = objectsIn(copy);
    if (objects.length === 0) break;
    if (m.op === "messageType") {
      const top = objects[0]!;
      const entry = top.entries.find(([k]) => k === "messageType");
      if (entry) entry[1] = str(m.value);
      continue;
    }
    const target = objects[m.target % objects.length]!;
    const n = target.entries.length;
    if (m.op === "add") target.entries.push([m.key, m.value]);
    else if (n === 0) continue;
    else if (m.op === "replace") target.entries[m.at % n]![1] = m.value;
    else if (m.op === "remove") target.entries.splice(m.at % n, 1);
    else target.entries.push([target.entries[m.at % n]![0], m.value]);
  }
  return copy;
}

type TextEdit = { op: "none" } | { op: "truncate"; at: number } | { op: "insert"; at: number; text: string };

const textEditArb: fc.Arbitrary<TextEdit> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ op: "none" as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at: fc.nat(),
      text: fc.string({ maxLength: 3 }),
    }),
  },
);

function edit(text: string, e: TextEdit): string {
  if (e.op === "none" || text.length === 0) return text;
  const at = e.at % text.length;
  return e.op === "truncate" ? text.slice(0, at) : text.slice(0, at) + e.text + text.slice(at);
}

/** A valid frame with 1–4 structural mutations and, sometimes, a text edit. */
export function mutatedFrameArb(context: FrameContext = {}): fc.Arbitrary<string> {
  return fc
    .tuple(
      templates(context),
      // Mostly one mutation, so most frames stay close enough to valid to go deep.
      fc.oneof(
        { weight: 3, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 1 }) },
        { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 2, maxLength: 4 }) },
      ),
      textEditArb,
    )
    .map(([template, mutations, textEdit]) => edit(serialize(mutate(template, mutations)), textEdit));
}

/** A valid frame, unmutated (to check the fuzzer's baseline reaches every message type). */
export function validFrameArb(context: FrameContext = {}): fc.Arbitrary<string> {
  return templates(context).map(serialize);
}

export const anyStringArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789.eE+-truefalsnl \\u'), maxLength: 120 }),
);

export const anyJsonArb: fc.Arbitrary<string> = fc.oneof(
  jsonNodeArb.map(serialize),
  fc.jsonValue().map((value) => JSON.stringify(value)),
);

/** The three families, labelled, for counting. */
export function hostileFrameArb(context: FrameContext = {}): fc.Arbitrary<{ family: Family; text: string }> {
  return fc.oneof(
    anyStringArb.map((text) => ({ family: "string" as const, text })),
    anyJsonArb.map((text) => ({ family: "json" as const, text })),
    { weight: 2, arbitrary: mutatedFrameArb(context).map((text) => ({ family: "mutated" as const, text })) },
  );
}

export type Family = "string" | "json" | "mutated";
