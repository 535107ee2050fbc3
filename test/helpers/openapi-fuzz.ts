/**
 * Request generators for protocol fuzzing, built from the server's own OpenAPI document:
 * every operation with its path and query parameters and its JSON body, each value drawn
 * from the schema (valid, at the boundaries, hostile, or of the wrong type), wrapped in
 * bodies that are too big, too deep, mis-encoded or carry duplicate or prototype-polluting
 * keys, and sent byte for byte over a plain socket so nothing on the client side tidies them.
 *
 * A generated request is a small plain {@link RequestPlan}: that is what fast-check prints
 * when it shrinks a failure, and {@link describePlan} turns it into a readable request.
 */
import { connect } from "node:net";
import fc from "fast-check";

type JsonSchema = Record<string, unknown>;

/** One operation of the OpenAPI document. */
export interface Operation {
  /** `POST /api/v1/vaults/{vault}/secrets/{name}` */
  id: string;
  method: string;
  path: string;
  pathParams: Array<{ name: string; schema: JsonSchema }>;
  queryParams: Array<{ name: string; schema: JsonSchema; required: boolean }>;
  body: JsonSchema | null;
}

/** Every operation in an OpenAPI 3.1 document. */
export function operationsOf(document: unknown): Operation[] {
  const paths = (document as { paths: Record<string, Record<string, JsonSchema>> }).paths;
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = (operation.parameters ?? []) as Array<{
        name: string;
        in: string;
        required?: boolean;
        schema: JsonSchema;
      }>;
      const content = (operation.requestBody as { content?: Record<string, JsonSchema> })
        ?.content?.["application/json"];
      operations.push({
        id: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        pathParams: parameters.filter((p) => p.in === "path"),
        queryParams: parameters
          .filter((p) => p.in === "query")
          .map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        body: (content?.schema as JsonSchema | undefined) ?? null,
      });
    }
  }
  return operations;
}

/**
 * Names of real things, by parameter or field name (`vault`, `slug`, `name`, `username`,
 * `email`, `id`, `n`), so that a good share of requests aim at what exists — above all the
 * victim's vaults, secrets, tokens and sessions.
 */
export type Targets = Record<string, ReadonlyArray<string | number>>;

/** A string shown by fast-check as `"a"×70000` instead of seventy thousand letters. */
export class LongString {
  constructor(
    readonly unit: string,
    readonly count: number,
  ) {}
  toJSON(): string {
    return this.unit.repeat(this.count);
  }
  [fc.toStringMethod](): string {
    return `${JSON.stringify(this.unit)}×${this.count}`;
  }
}

/** Key carried by every prototype-pollution attempt; seen anywhere later, it is a finding. */
export const POLLUTION_CANARY = "srPollutionCanary";

/** Strings that have broken parsers, queries, templates, paths and normalisers elsewhere. */
export const HOSTILE_STRINGS: readonly string[] = [
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  "1) OR pg_sleep(5)--",
  "' || (SELECT randomblob(500000000)) || '",
  "%' AND 1=0 UNION SELECT password_hash FROM users --",
  '{"$gt":""}',
  '{"$where":"sleep(5000)"}',
  "[$ne]=1",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as is
  "${7*7}",
  "{{7*7}}",
  "<%= 7*7 %>",
  "#{7*7}",
  "<script>alert(1)</script>",
  "../../../../etc/passwd",
  "..%2f..%2f..%2fetc%2fpasswd",
  "..\\..\\..\\windows\\win.ini",
  "/",
  ".",
  "..",
  "%",
  "%00",
  "%ZZ",
  "%C0%AF",
  "a\r\nSet-Cookie: x=y",
  "a\r\n\r\nHTTP/1.1 200 OK",
  "a\u0000b",
  "\u0000",
  "\uFEFFadmin",
  "admin\u200B",
  "\u202Eedoc.exe",
  "\u212A", // KELVIN SIGN: NFKC → K
  "\uFB01", // LATIN SMALL LIGATURE FI: NFKC → fi
  "ｖｉｃｔｉｍ",
  "VİCTİM", // dotted capital I lower-cases to two code points
  "e\u0301",
  "\uD800", // lone surrogate
  "\uDFFF\uD800",
  "🔑🗝️",
  "  ",
  "\t\n",
  "null",
  "undefined",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e999999",
  "-0",
  "0x10",
  " 1",
  "1 ",
  "9".repeat(400),
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
];

/** Long strings, as {@link LongString}s, aimed at regular-expression and size handling. */
const LONG_STRINGS = [
  new LongString("a", 70_000),
  new LongString("a", 5_000),
  new LongString("0", 3_000),
  new LongString("é", 40_000),
  new LongString("\u0000", 20_000),
  new LongString("a-", 2_000),
  new LongString("a.", 3_000),
  new LongString("%", 1_000),
  new LongString("\\", 4_000),
  new LongString("🔑", 20_000),
];

const WRONG_TYPES: readonly unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2 ** 53 + 1,
  true,
  false,
  [],
  {},
  [[]],
  ["a"],
  { $gt: "" },
  { $ne: null },
  "",
  "a",
];

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** Strings at and just past a schema's length limits. */
function boundaryStrings(schema: JsonSchema): fc.Arbitrary<unknown> {
  const max = typeof schema.maxLength === "number" ? schema.maxLength : null;
  const min = typeof schema.minLength === "number" ? schema.minLength : null;
  const candidates: unknown[] = ["", " ", "x"];
  if (max !== null) {
    candidates.push(new LongString("x", max), new LongString("x", max + 1));
    candidates.push(new LongString("é", max), new LongString("🔑", max));
  }
  if (min !== null && min > 1) candidates.push("x".repeat(min - 1), "x".repeat(min));
  return fc.constantFrom(...unique(candidates));
}

function boundaryNumbers(schema: JsonSchema): fc.Arbitrary<unknown> {
  const candidates: unknown[] = [0, -1, 1, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 1e308, 0.5, -0];
  for (const key of ["minimum", "maximum"] as const) {
    const limit = schema[key];
    if (typeof limit === "number") candidates.push(limit, limit - 1, limit + 1);
  }
  candidates.push("1", "NaN", "Infinity", "1e400", "0x10", "");
  return fc.constantFrom(...unique(candidates));
}

function validString(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.format === "uuid") return fc.uuid();
  if (schema.format === "date-time") {
    return fc
      .date({ min: new Date("1970-01-01"), max: new Date("2100-01-01"), noInvalidDate: true })
      .map((d) => d.toISOString());
  }
  if (typeof schema.pattern === "string") {
    try {
      return fc.stringMatching(new RegExp(schema.pattern, "u"));
    } catch {
      // A pattern fast-check cannot invert: fall through to plain strings.
    }
  }
  const maxLength = typeof schema.maxLength === "number" ? Math.min(schema.maxLength, 64) : 64;
  const minLength =
    typeof schema.minLength === "number" ? Math.min(schema.minLength, maxLength) : 0;
  return fc.string({ minLength, maxLength, unit: "grapheme" });
}

function validValue(
  schema: JsonSchema,
  targets: Targets,
  depth: number,
  clean: boolean,
): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return validString(schema);
    case "integer":
    case "number": {
      const min = typeof schema.minimum === "number" ? schema.minimum : -1000;
      const max = typeof schema.maximum === "number" ? schema.maximum : 1000;
      return fc.integer({ min, max });
    }
    case "boolean":
      return fc.boolean();
    case "array": {
      const items = (schema.items ?? {}) as JsonSchema;
      const minLength = typeof schema.minItems === "number" ? schema.minItems : 0;
      const maxLength = Math.min(typeof schema.maxItems === "number" ? schema.maxItems : 5, 5);
      return fc.array(valueFor(items, targets, depth + 1, null, clean), {
        minLength: Math.min(minLength, maxLength),
        maxLength,
      });
    }
    case "object":
      return objectFor(schema, targets, depth, clean);
    default:
      return fc.constantFrom(...WRONG_TYPES);
  }
}

/** Objects from a schema: required keys usually there, optional ones sometimes, extras rarely. */
function objectFor(
  schema: JsonSchema,
  targets: Targets,
  depth: number,
  clean: boolean,
): fc.Arbitrary<unknown> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  const entries = Object.entries(properties).map(([key, property]) =>
    fc.tuple(
      fc.constant(key),
      valueFor(property, targets, depth + 1, key, clean),
      // present: required keys 9 in 10 (always when clean), optional ones half the time.
      fc
        .integer({ min: 0, max: 9 })
        .map((roll) => (required.has(key) ? clean || roll > 0 : roll >= 5)),
    ),
  );
  const extra = fc.option(
    fc.tuple(
      fc.constantFrom("extra", "role", "isAdmin", "userId", "vaultId", "admin", "id", "ownerId"),
      fc.constantFrom<unknown>("admin", true, 1, "owner", null),
    ),
    { freq: 8 },
  );
  return fc
    .tuple(fc.tuple(...entries), clean ? fc.constant(null) : extra)
    .map(([fields, extraField]) => {
      const object: Record<string, unknown> = {};
      for (const [key, value, present] of fields) if (present) object[key] = value;
      if (extraField !== null) object[extraField[0]] = extraField[1];
      return object;
    });
}

/**
 * Any value for `schema`: valid most often, else aimed at a real thing (by `field` name), at
 * a boundary, hostile, or of the wrong type. `clean`: only valid or aimed values, so that a
 * request gets past validation into the handler.
 */
export function valueFor(
  schema: JsonSchema,
  targets: Targets,
  depth: number,
  field: string | null,
  clean = false,
): fc.Arbitrary<unknown> {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const choices: Array<{ weight: number; arbitrary: fc.Arbitrary<unknown> }> = [
    { weight: 6, arbitrary: validValue(schema, targets, depth, clean) },
  ];
  const aimed = field === null ? undefined : targets[field];
  if (aimed !== undefined && aimed.length > 0) {
    choices.push({ weight: 4, arbitrary: fc.constantFrom(...aimed) });
  }
  if (clean) return fc.oneof(...choices);
  choices.push({ weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) });
  if (type === "string") {
    choices.push(
      { weight: 2, arbitrary: boundaryStrings(schema) },
      { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
      { weight: 1, arbitrary: fc.constantFrom(...LONG_STRINGS) },
    );
  } else if (type === "integer" || type === "number") {
    choices.push({ weight: 3, arbitrary: boundaryNumbers(schema) });
  } else if (type === "array") {
    const max = typeof schema.maxItems === "number" ? schema.maxItems : 50;
    const items = (schema.items ?? {}) as JsonSchema;
    choices.push({
      weight: 1,
      arbitrary: fc.constantFrom(0, max + 1).chain((n) =>
        fc.array(valueFor(items, targets, depth + 1, null), {
          minLength: n,
          maxLength: n,
        }),
      ),
    });
  }
  return fc.oneof(...choices);
}

/** A request body, described compactly. */
export type BodyPlan =
  | { kind: "none" }
  | { kind: "json"; value: unknown }
  /** Raw text sent as is: duplicate keys, pollution, malformed JSON. */
  | { kind: "text"; text: string }
  /** Bytes (as hex) spliced into the JSON text of `value` after its first quote. */
  | { kind: "bytes"; value: unknown; hex: string }
  | { kind: "utf16"; value: unknown }
  | { kind: "huge"; bytes: number }
  | { kind: "deep"; depth: number; open: "[" | '{"a":' };

/** Who the request claims to be. */
export type Credentials =
  | "session+csrf"
  | "session"
  | "session+wrong-csrf"
  | "bearer-read"
  | "bearer-write"
  | "none"
  | "forged-bearer"
  | "forged-cookie";

/** One generated request; everything about it is in here. */
export interface RequestPlan {
  operation: string;
  method: string;
  /** Request target, already percent-encoded (or deliberately not). */
  target: string;
  credentials: Credentials;
  headers: Record<string, string>;
  body: BodyPlan;
  /** Send the body with chunked transfer encoding instead of a Content-Length. */
  chunked: boolean;
}

/** Percent-encodes every byte outside RFC 3986's unreserved set (lone surrogates too). */
function percentEncode(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char)
      ? char
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A path or query value as it goes on the wire: percent-encoded (mostly), double-encoded,
 * or raw where Node lets it through (bytes 0x21–0xFF: `/`, `?`, `#`, `%`, Latin-1 bytes that
 * are not UTF-8).
 */
function onTheWire(value: unknown, mode: number): string {
  const text = value instanceof LongString ? value.toJSON() : String(value);
  if (mode === 0) return percentEncode(percentEncode(text));
  if (mode === 1) {
    let raw = "";
    for (const char of text) {
      const code = char.codePointAt(0) ?? 0;
      raw += code > 0x20 && code <= 0xff ? char : percentEncode(char);
    }
    return raw;
  }
  return percentEncode(text);
}

const wireMode = fc.integer({ min: 0, max: 11 });

const QUERY_EXTRAS: readonly string[] = [
  `__proto__[${POLLUTION_CANARY}]=1`,
  `constructor[prototype][${POLLUTION_CANARY}]=1`,
  `__proto__.${POLLUTION_CANARY}=1`,
  "__proto__=1",
  "limit=1&limit=2",
  "limit[]=1",
  "cursor[$gt]=",
  "a[b][c][d]=1",
  "=",
  "&&&",
  "%ZZ=1",
  "q=%00",
  `x=${"a".repeat(10_000)}`,
];

const CONTENT_TYPES: readonly (string | null)[] = [
  null,
  "",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  'application/json; charset="utf-8"',
  "APPLICATION/JSON",
  "application/json, text/plain",
  "application/jsonx",
  "application/merge-patch+json",
  "application/problem+json",
  "application/json; charset=utf-8; charset=utf-16",
  "*/*",
];

const CONTENT_ENCODINGS: readonly string[] = ["gzip", "deflate", "br", "identity", "gzip, gzip"];

const EXTRA_HEADERS: ReadonlyArray<Record<string, string>> = [
  { origin: "https://evil.example" },
  { origin: "null" },
  { "sec-fetch-site": "cross-site" },
  { "x-forwarded-for": "203.0.113.7" },
  { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
  { "x-http-method-override": "DELETE" },
  { "if-match": '"1", W/"2", *' },
  { accept: "text/html" },
  { accept: "application/xml" },
  { range: "bytes=0-1,1-2" },
  { "x-request-id": "forged-id" },
  { "x-csrf-token": "a".repeat(8_000) },
];

/** Bodies that are not what the schema wants, or not JSON at all. */
function hostileBodies(value: fc.Arbitrary<unknown>): fc.Arbitrary<BodyPlan> {
  const canary = `{"${POLLUTION_CANARY}":"polluted","isAdmin":true,"role":"admin"}`;
  return fc.oneof(
    // Duplicate keys: the JSON text says one thing twice; which one wins must not matter.
    value.map((v): BodyPlan => {
      const object = typeof v === "object" && v !== null && !Array.isArray(v) ? v : { a: v };
      const [first] = Object.keys(object);
      const key = JSON.stringify(first ?? "a");
      const body = JSON.stringify(object);
      return {
        kind: "text",
        text: `{${key}:"first",${body.slice(1, -1)}${body.length > 2 ? "," : ""}${key}:${JSON.stringify("second")}}`,
      };
    }),
    value.chain((v) => {
      const body = JSON.stringify(v ?? {});
      const inner = body.startsWith("{") && body.length > 2 ? `,${body.slice(1, -1)}` : "";
      return fc
        .constantFrom(
          `{"__proto__":${canary}${inner}}`,
          `{"constructor":{"prototype":${canary}}${inner}}`,
          `{"prototype":${canary}${inner}}`,
          `{"a":{"__proto__":${canary}}${inner}}`,
          `{"a":[{"constructor":{"prototype":${canary}}}]${inner}}`,
          `{"\\u005f_proto__":${canary}${inner}}`,
          `{"__proto__":null${inner}}`,
          `[{"__proto__":${canary}}]`,
        )
        .map((text): BodyPlan => ({ kind: "text", text }));
    }),
    fc
      .constantFrom(
        "{",
        "}",
        "nul",
        "'single'",
        '{"a":1,}',
        "[1,]",
        "NaN",
        "1e999999",
        '"\\ud800"',
        '"\\u0000"',
        "{}{}",
        "{} trailing",
        "\uFEFF{}",
        "  ",
        "[]",
        "0",
        '""',
        "true",
        '{"a":"\\x41"}',
        "/* comment */ {}",
      )
      .map((text): BodyPlan => ({ kind: "text", text })),
    fc
      .tuple(
        value,
        fc.constantFrom("c0af", "e080af", "eda080", "ff", "f4908080", "c3", "00", "0d0a"),
      )
      .map(([v, hex]): BodyPlan => ({ kind: "bytes", value: v, hex })),
    value.map((v): BodyPlan => ({ kind: "utf16", value: v })),
    fc
      .constantFrom(128 * 1024 + 1, 512 * 1024 + 1, 2 * 1024 * 1024)
      .map((bytes): BodyPlan => ({ kind: "huge", bytes })),
    fc
      .tuple(
        fc.constantFrom(21, 1_000, 10_000, 60_000),
        fc.constantFrom<"[" | '{"a":'>("[", '{"a":'),
      )
      .map(([depth, open]): BodyPlan => ({ kind: "deep", depth, open })),
  );
}

/**
 * Requests for one operation: two in five clean (valid or aimed values, JSON, the right
 * method), so they reach the handler; the rest anything goes.
 */
export function requestsFor(operation: Operation, targets: Targets): fc.Arbitrary<RequestPlan> {
  return fc.oneof(
    { weight: 2, arbitrary: requestsOfKind(operation, targets, true) },
    { weight: 3, arbitrary: requestsOfKind(operation, targets, false) },
  );
}

function requestsOfKind(
  operation: Operation,
  targets: Targets,
  clean: boolean,
): fc.Arbitrary<RequestPlan> {
  const percentEncoded = fc.constant(2);
  const pathValues = fc.tuple(
    ...operation.pathParams.map((param) =>
      fc.tuple(
        fc.oneof(
          { weight: 4, arbitrary: valueFor(param.schema, targets, 0, param.name, clean) },
          { weight: 3, arbitrary: fc.constantFrom(...(targets[param.name] ?? ["x"])) },
        ),
        clean ? percentEncoded : wireMode,
      ),
    ),
  );
  const query = fc.tuple(
    fc.tuple(
      ...operation.queryParams.map((param) =>
        fc.option(
          fc.tuple(
            valueFor(param.schema, targets, 0, param.name, clean),
            clean ? percentEncoded : wireMode,
          ),
          // Optional parameters half the time, required ones nearly always.
          { freq: param.required ? 10 : 2 },
        ),
      ),
    ),
    clean ? fc.constant(null) : fc.option(fc.constantFrom(...QUERY_EXTRAS), { freq: 5 }),
  );
  const value =
    operation.body === null
      ? fc.constantFrom<unknown>({}, { value: "x" }, [])
      : valueFor(operation.body, targets, 0, null, clean);
  const json = value.map((v): BodyPlan => ({ kind: "json", value: v }));
  const none = fc.constant<BodyPlan>({ kind: "none" });
  const body: fc.Arbitrary<BodyPlan> = clean
    ? operation.body === null
      ? none
      : json
    : operation.body === null
      ? fc.oneof(
          { weight: 8, arbitrary: none },
          { weight: 1, arbitrary: json },
          { weight: 1, arbitrary: hostileBodies(value) },
        )
      : fc.oneof(
          { weight: 5, arbitrary: json },
          { weight: 1, arbitrary: none },
          { weight: 5, arbitrary: hostileBodies(value) },
        );
  const credentials = fc.oneof(
    { weight: 6, arbitrary: fc.constant<Credentials>("session+csrf") },
    { weight: 3, arbitrary: fc.constantFrom<Credentials>("bearer-read", "bearer-write") },
    {
      weight: clean ? 1 : 3,
      arbitrary: fc.constantFrom<Credentials>(
        "session",
        "session+wrong-csrf",
        "none",
        "forged-bearer",
        "forged-cookie",
      ),
    },
  );
  const headers = clean
    ? fc.constant({ contentType: "application/json", encoding: null, extra: null })
    : fc.record({
        contentType: fc.oneof(
          { weight: 6, arbitrary: fc.constant<string | null>("application/json") },
          { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        ),
        encoding: fc.option(fc.constantFrom(...CONTENT_ENCODINGS), { freq: 6 }),
        extra: fc.option(fc.constantFrom(...EXTRA_HEADERS), { freq: 4 }),
      });
  const method = clean
    ? fc.constant(operation.method)
    : fc.oneof(
        { weight: 20, arbitrary: fc.constant(operation.method) },
        { weight: 1, arbitrary: fc.constantFrom("HEAD", "OPTIONS", "TRACE", "PROPFIND", "PATCH") },
      );
  return fc
    .record({ pathValues, query, body, credentials, headers, method, chunked: fc.boolean() })
    .map((drawn): RequestPlan => {
      let index = 0;
      const path = operation.path.replace(/\{[^}]+\}/g, () => {
        const [value, mode] = drawn.pathValues[index++] ?? ["", 2];
        return onTheWire(value, mode);
      });
      const [values, extra] = drawn.query;
      const pairs = operation.queryParams.flatMap((param, i) => {
        const drawnValue = values[i];
        return drawnValue === null || drawnValue === undefined
          ? []
          : [`${param.name}=${onTheWire(drawnValue[0], drawnValue[1])}`];
      });
      if (extra !== null) pairs.push(extra);
      const requestHeaders: Record<string, string> = { ...(drawn.headers.extra ?? {}) };
      if (drawn.body.kind !== "none") {
        const contentType =
          drawn.body.kind === "utf16"
            ? "application/json; charset=utf-16"
            : drawn.headers.contentType;
        if (contentType !== null) requestHeaders["content-type"] = contentType;
        if (drawn.headers.encoding !== null)
          requestHeaders["content-encoding"] = drawn.headers.encoding;
      }
      return printable({
        operation: operation.id,
        method: drawn.method,
        target: pairs.length === 0 ? path : `${path}?${pairs.join("&")}`,
        credentials: drawn.credentials,
        headers: requestHeaders,
        body: drawn.body,
        chunked: drawn.chunked && drawn.body.kind !== "none",
      });
    });
}

/** Makes fast-check print a plan with a long target cut short (the body is compact already). */
function printable(plan: RequestPlan): RequestPlan {
  const target =
    plan.target.length > 300
      ? `${plan.target.slice(0, 300)}…(${plan.target.length} characters)`
      : plan.target;
  Object.defineProperty(plan, fc.toStringMethod, {
    value: () => fc.stringify({ ...plan, target }),
    enumerable: false,
  });
  return plan;
}

/** The bytes a body plan stands for. */
export function bodyBytes(body: BodyPlan): Buffer | null {
  switch (body.kind) {
    case "none":
      return null;
    case "json":
      return Buffer.from(JSON.stringify(body.value) ?? "null", "utf8");
    case "text":
      return Buffer.from(body.text, "utf8");
    case "bytes": {
      const text = JSON.stringify(body.value) ?? "null";
      const at = text.indexOf('"') + 1;
      return Buffer.concat([
        Buffer.from(text.slice(0, at), "utf8"),
        Buffer.from(body.hex, "hex"),
        Buffer.from(text.slice(at), "utf8"),
      ]);
    }
    case "utf16":
      return Buffer.from(JSON.stringify(body.value) ?? "null", "utf16le");
    case "huge": {
      const prefix = '{"value":"';
      const suffix = '"}';
      return Buffer.concat([
        Buffer.from(prefix),
        Buffer.alloc(Math.max(0, body.bytes - prefix.length - suffix.length), "a"),
        Buffer.from(suffix),
      ]);
    }
    case "deep":
      return Buffer.from(
        body.open.repeat(body.depth) + (body.open === "[" ? "]" : "}").repeat(body.depth),
      );
  }
}

/** A request plan as a person reads it: request line, headers and (the start of) the body. */
export function describePlan(plan: RequestPlan, headers: Record<string, string>): string {
  const bytes = bodyBytes(plan.body);
  const lines = [
    `${plan.method} ${plan.target.length > 300 ? `${plan.target.slice(0, 300)}…` : plan.target}  (operation ${plan.operation}, as ${plan.credentials})`,
    ...Object.entries(headers).map(
      ([name, value]) =>
        `${name}: ${/^(cookie|authorization|x-csrf-token)$/.test(name) && value.length > 24 ? `${value.slice(0, 20)}…` : value.slice(0, 200)}`,
    ),
  ];
  if (bytes !== null) {
    const preview = bytes.subarray(0, 400);
    lines.push(
      `body: ${bytes.length} bytes${plan.chunked ? ", chunked" : ""}: ${JSON.stringify(preview.toString("latin1"))}${bytes.length > 400 ? "…" : ""}`,
    );
  }
  return lines.join("\n  ");
}

/** A response as the fuzzer checks it. */
export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers (Set-Cookie) as arrays. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  elapsedMs: number;
}

/** Parses the first HTTP/1.1 response in `bytes` (Content-Length, chunked, or until close). */
function parseResponse(bytes: Buffer): Omit<RawResponse, "elapsedMs"> | null {
  const end = bytes.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine = "", ...lines] = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: RawResponse["headers"] = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [existing, value].flat();
  }
  let rest = bytes.subarray(end + 4);
  if (String(headers["transfer-encoding"] ?? "").includes("chunked")) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf("\r\n");
      const size = Number.parseInt(rest.subarray(0, lineEnd).toString("latin1"), 16);
      if (lineEnd < 0 || Number.isNaN(size) || size === 0) break;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    return { status, headers, body: Buffer.concat(chunks) };
  }
  const length = headers["content-length"];
  const body = length === undefined ? rest : rest.subarray(0, Number(length));
  return { status, headers, body };
}

/**
 * Sends one request over a fresh TCP connection, byte for byte as given (`Connection:
 * close`, so the answer ends when the server closes). Unlike `node:http`, this still reads
 * the answer when the server replies early and stops reading a large body. Rejects when the
 * connection closes without an answer or none came within `timeoutMs`.
 */
export function sendRaw(options: {
  port: number;
  method: string;
  target: string;
  headers: Record<string, string>;
  body: Buffer | null;
  chunked: boolean;
  timeoutMs: number;
  localAddress?: string;
}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers: Record<string, string | number> = {
      host: `127.0.0.1:${options.port}`,
      connection: "close",
      ...options.headers,
    };
    if (options.body !== null) {
      if (options.chunked) headers["transfer-encoding"] = "chunked";
      else headers["content-length"] = options.body.length;
    }
    const head = Buffer.from(
      `${options.method} ${options.target} HTTP/1.1\r\n${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")}\r\n`,
      "latin1",
    );
    const received: Buffer[] = [];
    let writeError: Error | null = null;
    const socket = connect({
      host: "127.0.0.1",
      port: options.port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    socket.on("connect", () => {
      const body = options.body;
      if (body === null) {
        socket.write(head);
      } else if (options.chunked) {
        const half = Math.floor(body.length / 2);
        const pieces = [body.subarray(0, half), body.subarray(half)].filter((p) => p.length > 0);
        socket.write(
          Buffer.concat([
            head,
            ...pieces.flatMap((piece) => [
              Buffer.from(`${piece.length.toString(16)}\r\n`),
              piece,
              Buffer.from("\r\n"),
            ]),
            Buffer.from("0\r\n\r\n"),
          ]),
        );
      } else {
        socket.write(Buffer.concat([head, body]));
      }
    });
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    // The server may answer and close before reading all of a large body: EPIPE or a reset
    // on our side then, while its answer is already in hand.
    socket.on("error", (error) => {
      writeError = error;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const response = parseResponse(Buffer.concat(received));
      if (response === null) {
        reject(
          new Error(
            `connection closed without an answer${writeError ? ` (${writeError.message})` : ""}`,
          ),
        );
        return;
      }
      resolve({ ...response, elapsedMs: performance.now() - started });
    });
  });
}
