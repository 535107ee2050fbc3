/**
 * The logging inventory (docs/security/logging.md, ASVS 16.1.1 and 16.2.3) held against the
 * source and the running process:
 *
 * - every audit action the source can record — found by following the `action` and `outcome`
 *   of every `recordAuditEvent` call through the helpers that pass them on, with the
 *   TypeScript compiler's symbol resolution — has a row with exactly its outcomes, and every
 *   row names an action the source can record; likewise every `security.…` event name and
 *   every logged message;
 * - no module of src/ writes a file, prints to the console or sets a log transport but the
 *   documented ones;
 * - the real server, started with zero configuration in empty directories and driven through
 *   a few requests, writes only JSON lines on stdout, nothing on stderr, and no file anywhere
 *   under its working directory, HOME or TMPDIR that the inventory does not name.
 */
import assert from "node:assert/strict";
import type { FSWatcher } from "node:fs";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
// @ts-expect-error: plain JavaScript without declarations (see test/launch.test.ts).
import { chooseEntry } from "../bin/launch.js";
import { startCli } from "./helpers/process.js";

const ROOT = join(import.meta.dirname, "..");
const DOC = "docs/security/logging.md";

// ---------------------------------------------------------------------------------------------
// The document

/** The cells of a Markdown table row. */
function cellsOf(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((cell) => cell.trim());
}

/** The text of every code span in `text`. */
function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? "");
}

/** The body rows of the first table under the heading line `heading`. */
function tableUnder(heading: string): string[][] {
  const lines = readFileSync(join(ROOT, DOC), "utf8").split("\n");
  let at = lines.indexOf(heading);
  assert.notEqual(at, -1, `${DOC} has no "${heading}" heading`);
  at += 1;
  while (at < lines.length && !lines[at]?.startsWith("|") && !lines[at]?.startsWith("#")) at += 1;
  const rows: string[][] = [];
  for (; lines[at]?.startsWith("|"); at += 1) rows.push(cellsOf(lines[at] ?? ""));
  assert.ok(rows.length > 2, `${DOC} has no table under "${heading}"`);
  return rows.slice(2);
}

/** The audit actions of the document, each with the outcomes its row gives. */
function documentedActions(): Map<string, Set<string>> {
  const actions = new Map<string, Set<string>>();
  for (const [action = "", , outcomes = ""] of tableUnder("### Actions")) {
    const [name, ...extra] = codeSpans(action);
    assert.ok(
      name !== undefined && extra.length === 0,
      `an Actions row names one action: ${action}`,
    );
    assert.ok(!actions.has(name), `${name} has two rows`);
    actions.set(name, new Set(codeSpans(outcomes)));
  }
  return actions;
}

/** `level message` for every message of the document's security events and log lines. */
function documentedMessages(): Set<string> {
  const messages = new Set<string>();
  for (const [, message = ""] of tableUnder("### Security events"))
    messages.add(`warn ${codeSpans(message)[0]}`);
  for (const [level = "", message = ""] of tableUnder("### Lines Strongroom writes"))
    messages.add(`${level} ${codeSpans(message)[0]}`);
  return messages;
}

// ---------------------------------------------------------------------------------------------
// The source, read with the TypeScript compiler

/** The server's own modules: src/ without tests and without the scripts browsers run. */
function serverModules(dir = join(ROOT, "src")): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (relative(ROOT, path) !== join("src", "web", "static")) files.push(...serverModules(path));
    } else if (/\.(ts|tsx|js)$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

/** A construct the extraction cannot see through: the source must say it more plainly. */
class Unresolved extends Error {}

/** A parameter of `fn` was reached: the value depends on who calls `fn`. */
class NeedsCaller extends Error {
  constructor(readonly fn: ts.SignatureDeclaration) {
    super("the value is a parameter");
  }
}

/** Which call of each enclosing function the values are being followed through. */
type Bindings = ReadonlyMap<ts.SignatureDeclaration, ts.CallExpression>;

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);
const SECURITY_EVENT = /^security\.[a-z0-9_]+$/;
/** Calls that can create or write a file (`open` and `openSync` unless the flag is "r"). */
const FILE_WRITERS = new Set([
  "appendFile",
  "appendFileSync",
  "copyFile",
  "copyFileSync",
  "cp",
  "cpSync",
  "createWriteStream",
  "destination",
  "link",
  "linkSync",
  "mkdir",
  "mkdirSync",
  "mkdtemp",
  "mkdtempSync",
  "open",
  "openSync",
  "rename",
  "renameSync",
  "symlink",
  "symlinkSync",
  "transport",
  "truncate",
  "truncateSync",
  "writeFile",
  "writeFileSync",
]);

interface SourceModel {
  /** Audit action → the outcomes the source can record it with, and where. */
  actions: Map<string, { outcomes: Set<string>; sites: Set<string> }>;
  /** `security.…` event name → where it appears. */
  securityEvents: Map<string, string[]>;
  /** `level message` of every logger call → where. */
  messages: Map<string, string[]>;
  /** `file: call` of every call that can write a file, print, or route the log elsewhere. */
  writers: Set<string>;
}

let model: SourceModel | undefined;

/** Reads src/ once (about a second: parsing and binding only, no type checking). */
function sourceModel(): SourceModel {
  model ??= readSource();
  return model;
}

function readSource(): SourceModel {
  const files = serverModules();
  const program = ts.createProgram(files, {
    allowJs: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    jsx: ts.JsxEmit.Preserve,
    // Only the symbols of src/ matter: no default library, no node_modules.
    noLib: true,
    noResolve: true,
    types: [],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const wanted = new Set(files);
  const sources = program.getSourceFiles().filter((file) => wanted.has(file.fileName));
  assert.equal(sources.length, files.length, "every module was parsed");

  const where = (node: ts.Node): string => {
    const file = node.getSourceFile();
    const { line } = file.getLineAndCharacterOfPosition(node.getStart());
    return `${relative(ROOT, file.fileName)}:${line + 1}`;
  };
  const symbolOf = (node: ts.Node): ts.Symbol | undefined => {
    const symbol = checker.getSymbolAtLocation(node);
    return symbol !== undefined && symbol.flags & ts.SymbolFlags.Alias
      ? checker.getAliasedSymbol(symbol)
      : symbol;
  };

  const identifiers = new Map<string, ts.Identifier[]>();
  for (const file of sources) {
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node))
        identifiers.set(node.text, [...(identifiers.get(node.text) ?? []), node]);
      ts.forEachChild(node, visit);
    };
    visit(file);
  }

  /** Every call of the function named by `name`; any other use of it is refused. */
  const callsOf = (name: ts.Identifier): ts.CallExpression[] => {
    const symbol = symbolOf(name);
    const calls: ts.CallExpression[] = [];
    for (const use of identifiers.get(name.text) ?? []) {
      if (use === name || symbolOf(use) !== symbol) continue;
      const parent = use.parent;
      if (ts.isCallExpression(parent) && parent.expression === use) calls.push(parent);
      else if (!ts.isImportSpecifier(parent) && !ts.isExportSpecifier(parent))
        throw new Unresolved(`${where(use)}: ${name.text} is used other than by calling it`);
    }
    return calls;
  };

  const nameOf = (fn: ts.SignatureDeclaration): ts.Identifier => {
    if (ts.isFunctionDeclaration(fn) && fn.name !== undefined) return fn.name;
    const parent = fn.parent;
    if (
      (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) &&
      ts.isVariableDeclaration(parent) &&
      ts.isIdentifier(parent.name)
    )
      return parent.name;
    throw new Unresolved(`${where(fn)}: a function without a name passes the value on`);
  };

  const property = (object: ts.ObjectLiteralExpression, name: string): ts.Expression => {
    for (const member of object.properties) {
      if (ts.isPropertyAssignment(member) && member.name.getText() === name)
        return member.initializer;
      if (ts.isShorthandPropertyAssignment(member) && member.name.text === name) return member.name;
    }
    throw new Unresolved(`${where(object)}: no "${name}" property here`);
  };

  /** The string and object literals `expression` can evaluate to, given `bindings`. */
  const resolve = (expression: ts.Expression, bindings: Bindings, depth = 0): ts.Expression[] => {
    if (depth > 40) throw new Unresolved(`${where(expression)}: too deep (recursion?)`);
    const next = (inner: ts.Expression): ts.Expression[] => resolve(inner, bindings, depth + 1);
    if (
      ts.isParenthesizedExpression(expression) ||
      ts.isAsExpression(expression) ||
      ts.isSatisfiesExpression(expression) ||
      ts.isNonNullExpression(expression)
    )
      return next(expression.expression);
    if (
      ts.isStringLiteral(expression) ||
      ts.isNoSubstitutionTemplateLiteral(expression) ||
      ts.isObjectLiteralExpression(expression)
    )
      return [expression];
    if (ts.isConditionalExpression(expression))
      return [...next(expression.whenTrue), ...next(expression.whenFalse)];
    if (ts.isPropertyAccessExpression(expression) || ts.isElementAccessExpression(expression)) {
      return next(expression.expression).flatMap((object) => {
        if (!ts.isObjectLiteralExpression(object))
          throw new Unresolved(`${where(expression)}: ${expression.getText()}`);
        if (ts.isPropertyAccessExpression(expression))
          return next(property(object, expression.name.text));
        // `MESSAGES[event]`: any of the object's values.
        return object.properties.flatMap((member) => {
          if (!ts.isPropertyAssignment(member))
            throw new Unresolved(`${where(member)}: ${member.getText()}`);
          return next(member.initializer);
        });
      });
    }
    if (ts.isIdentifier(expression)) {
      const symbol = ts.isShorthandPropertyAssignment(expression.parent)
        ? checker.getShorthandAssignmentValueSymbol(expression.parent)
        : symbolOf(expression);
      const declaration = symbol?.valueDeclaration;
      if (
        declaration !== undefined &&
        ts.isVariableDeclaration(declaration) &&
        declaration.initializer !== undefined &&
        ts.getCombinedNodeFlags(declaration) & ts.NodeFlags.Const
      )
        return next(declaration.initializer);
      if (declaration !== undefined && ts.isParameter(declaration)) {
        const fn = declaration.parent;
        const call = bindings.get(fn);
        if (call === undefined) throw new NeedsCaller(fn);
        const argument = call.arguments[fn.parameters.indexOf(declaration)];
        if (argument !== undefined) return next(argument);
        if (declaration.initializer !== undefined) return next(declaration.initializer);
      }
    }
    throw new Unresolved(`${where(expression)}: cannot tell what \`${expression.getText()}\` is`);
  };

  const strings = (expressions: ts.Expression[]): string[] =>
    expressions.map((expression) => {
      if (ts.isStringLiteral(expression) || ts.isNoSubstitutionTemplateLiteral(expression))
        return expression.text;
      throw new Unresolved(`${where(expression)}: not a string literal`);
    });

  const actions: SourceModel["actions"] = new Map();
  /** Records the events of one `recordAuditEvent` call, once per chain of callers. */
  const recordEventsOf = (call: ts.CallExpression, bindings: Bindings): void => {
    try {
      const event = call.arguments[1];
      if (event === undefined) throw new Unresolved(`${where(call)}: no event`);
      for (const object of resolve(event, bindings)) {
        if (!ts.isObjectLiteralExpression(object))
          throw new Unresolved(`${where(object)}: the event is not an object literal`);
        const outcomes = strings(resolve(property(object, "outcome"), bindings));
        for (const action of strings(resolve(property(object, "action"), bindings))) {
          const entry = actions.get(action) ?? { outcomes: new Set(), sites: new Set() };
          for (const outcome of outcomes) entry.outcomes.add(outcome);
          // Outermost caller first: where the literal is, then the helpers it went through.
          entry.sites.add([...[...bindings.values()].reverse(), call].map(where).join(" → "));
          actions.set(action, entry);
        }
      }
    } catch (error) {
      if (!(error instanceof NeedsCaller)) throw error;
      for (const caller of callsOf(nameOf(error.fn)))
        recordEventsOf(call, new Map(bindings).set(error.fn, caller));
    }
  };
  const auditService = sources.find((file) =>
    file.fileName.endsWith(join("src", "audit", "audit.service.ts")),
  );
  let recordAuditEvent: ts.Identifier | undefined;
  if (auditService !== undefined)
    ts.forEachChild(auditService, (node) => {
      if (ts.isFunctionDeclaration(node) && node.name?.text === "recordAuditEvent")
        recordAuditEvent = node.name;
    });
  assert.ok(recordAuditEvent, "recordAuditEvent is declared in src/audit/audit.service.ts");
  for (const call of callsOf(recordAuditEvent)) recordEventsOf(call, new Map());

  const securityEvents: SourceModel["securityEvents"] = new Map();
  const messages: SourceModel["messages"] = new Map();
  const writers: SourceModel["writers"] = new Set();
  const add = (map: Map<string, string[]>, key: string, node: ts.Node): void => {
    map.set(key, [...(map.get(key) ?? []), where(node)]);
  };
  for (const file of sources) {
    const name = relative(ROOT, file.fileName);
    const visit = (node: ts.Node): void => {
      if (
        (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) &&
        SECURITY_EVENT.test(node.text)
      )
        add(securityEvents, node.text, node);
      if (ts.isTemplateExpression(node) && node.head.text.startsWith("security."))
        throw new Unresolved(`${where(node)}: a security event name built at run time`);
      if (ts.isPropertyAssignment(node) && node.name.getText() === "transport")
        writers.add(`${name}: transport:`);
      if (ts.isCallExpression(node)) {
        const callee = node.expression;
        const calleeName = ts.isIdentifier(callee)
          ? callee.text
          : ts.isPropertyAccessExpression(callee)
            ? callee.name.text
            : "";
        const flag = node.arguments[1];
        const readOnly = flag !== undefined && ts.isStringLiteral(flag) && flag.text === "r";
        if (FILE_WRITERS.has(calleeName) && !(calleeName.startsWith("open") && readOnly))
          writers.add(`${name}: ${calleeName}`);
        if (ts.isPropertyAccessExpression(callee)) {
          const receiver = callee.expression.getText();
          if (receiver === "console") writers.add(`${name}: console.${calleeName}`);
          if (/^process\.(stdout|stderr)$/.test(receiver) && !name.startsWith(join("src", "cli")))
            writers.add(`${name}: ${receiver}.${calleeName}`);
          if (LOG_LEVELS.has(calleeName) && /(^|\.)(log|logger)$/.test(receiver)) {
            const last = node.arguments.at(-1);
            if (last === undefined || ts.isObjectLiteralExpression(last))
              throw new Unresolved(`${where(node)}: a log line without a message`);
            const texts = ts.isTemplateExpression(last)
              ? [last.getText().slice(1, -1)]
              : strings(resolve(last, new Map()));
            for (const text of texts) add(messages, `${calleeName} ${text}`, node);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return { actions, securityEvents, messages, writers };
}

/** The sorted difference `a` − `b`. */
function missingFrom(
  a: Iterable<string>,
  b: ReadonlySet<string> | ReadonlyMap<string, unknown>,
): string[] {
  return [...a].filter((item) => !b.has(item)).sort();
}

describe("the logging inventory against the source (16.1.1)", () => {
  it("lists every audit action the source can record, and no other", () => {
    const { actions } = sourceModel();
    const documented = documentedActions();
    assert.ok(actions.size > 40, `found only ${actions.size} actions: is the extraction broken?`);
    assert.deepEqual(
      missingFrom(actions.keys(), documented).map(
        (action) => `${action} (${[...(actions.get(action)?.sites ?? [])].join(", ")})`,
      ),
      [],
      `audit actions the source records without a row under "### Actions" in ${DOC}`,
    );
    assert.deepEqual(
      missingFrom(documented.keys(), actions),
      [],
      `${DOC} lists audit actions the source cannot record`,
    );
  });

  it("gives each audit action exactly the outcomes the source can record it with", () => {
    const { actions } = sourceModel();
    const wrong: string[] = [];
    for (const [action, outcomes] of documentedActions()) {
      const recorded = [...(actions.get(action)?.outcomes ?? [])].sort();
      if (recorded.length > 0 && recorded.join() !== [...outcomes].sort().join())
        wrong.push(`${action}: the document says ${[...outcomes]}, the source ${recorded}`);
    }
    assert.deepEqual(wrong, []);
  });

  it("lists every security event the source names, and no other", () => {
    const { securityEvents } = sourceModel();
    const documented = new Set(
      tableUnder("### Security events").map(([event = ""]) => codeSpans(event)[0] ?? event),
    );
    assert.ok(securityEvents.size >= 4, "the security events were found");
    assert.deepEqual(
      missingFrom(securityEvents.keys(), documented).map(
        (event) => `${event} (${securityEvents.get(event)?.join(", ")})`,
      ),
      [],
      `security events without a row under "### Security events" in ${DOC}`,
    );
    assert.deepEqual(
      missingFrom(documented, securityEvents),
      [],
      `${DOC}: events not in the source`,
    );
  });

  it("lists every message the source logs, at its level, and no other", () => {
    const { messages } = sourceModel();
    const documented = documentedMessages();
    assert.ok(messages.size > 20, "the log calls were found");
    assert.deepEqual(
      missingFrom(messages.keys(), documented).map(
        (message) => `${message} (${messages.get(message)?.join(", ")})`,
      ),
      [],
      `log lines missing from "### Lines Strongroom writes" or "### Security events" in ${DOC}`,
    );
    assert.deepEqual(missingFrom(documented, messages), [], `${DOC}: lines the source never logs`);
  });
});

describe("where the code can send logs (16.2.3)", () => {
  it("writes files, prints and routes the log only where the inventory says", () => {
    // Each entry is a destination named under "Where logs go" in the inventory.
    const documented = [
      "src/backup/backup.service.ts: open", // FILE.partial-…, the backup the operator names
      "src/backup/backup.service.ts: rename", // … renamed to FILE once complete
      "src/config/keys.ts: mkdirSync", // data/ (development keys)
      "src/config/keys.ts: writeFileSync", // data/secret_key, data/master_key
      "src/db/sqlite.ts: mkdirSync", // the SQLite database's directory
      "src/db/sqlite.ts: openSync", // the database file, created 0600 before SQLite opens it
      "src/logger.ts: transport:", // pino-pretty to stdout, on a development terminal only
    ];
    assert.deepEqual([...sourceModel().writers].sort(), documented.sort());
  });
});

// ---------------------------------------------------------------------------------------------
// The running process

/** Every file and directory under `dir`, as `label/relative/path`. */
function listTree(dir: string, label: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((path) => `${label}/${path}`);
}

const SENTINEL = ".logging-inventory-sentinel";

/** What the zero-config server may create, as the inventory names it → the path it matches. */
function allowedFiles(fromSource: boolean): Map<string, RegExp> {
  const allowed = new Map<string, RegExp>([
    ["data/", /^cwd\/data$/],
    ["data/secret_key", /^cwd\/data\/secret_key$/],
    ["data/master_key", /^cwd\/data\/master_key$/],
    ["data/strongroom.db", /^cwd\/data\/strongroom\.db$/],
    ["data/strongroom.db-wal", /^cwd\/data\/strongroom\.db-wal$/],
    ["data/strongroom.db-shm", /^cwd\/data\/strongroom\.db-shm$/],
    ["data/strongroom.db-journal", /^cwd\/data\/strongroom\.db-journal$/],
  ]);
  // Not a log: tsx's compile cache, only when the CLI runs the TypeScript sources.
  if (fromSource)
    allowed.set("$TMPDIR/tsx-<uid>/", new RegExp(`^TMPDIR/tsx-${process.getuid?.()}(/[^/]+)?$`));
  return allowed;
}

/**
 * Writes a sentinel file into `dir` and resolves once the watcher has reported it: inotify
 * delivers events in order, so every earlier event has been seen by then.
 */
function sentinel(dir: string, seen: Set<string>, label: string): Promise<void> {
  const name = SENTINEL;
  writeFileSync(join(dir, name), "");
  const giveUpAt = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (seen.has(`${label}/${name}`)) resolve();
      else if (Date.now() > giveUpAt) reject(new Error(`the watcher of ${label} reported nothing`));
      else setTimeout(check, 10);
    };
    check();
  });
}

describe("where the running server writes (16.2.3)", () => {
  it("logs JSON lines on stdout only and creates no file the inventory does not name", async () => {
    const base = mkdtempSync(join(tmpdir(), "strongroom-log-destinations-"));
    const roots = { cwd: join(base, "cwd"), HOME: join(base, "home"), TMPDIR: join(base, "tmp") };
    const seen = new Set<string>();
    const watchers: FSWatcher[] = [];
    for (const [label, dir] of Object.entries(roots)) {
      mkdirSync(dir);
      // Also sees files that come and go between two listings (a journal, a temporary file).
      watchers.push(
        watch(dir, { recursive: true, encoding: "utf8" }, (_event, name) => {
          if (name !== null) seen.add(`${label}/${name}`);
        }),
      );
    }
    // The CLI runs src/ through tsx unless dist/ is current (bin/launch.js).
    const fromSource = (chooseEntry as (root: string) => "dist" | "src")(ROOT) === "src";
    const env = {
      NODE_ENV: "development",
      PORT: "0",
      LOG_LEVEL: "trace",
      HOME: roots.HOME,
      TMPDIR: roots.TMPDIR,
    };
    const server = startCli(["serve"], env, roots.cwd);
    const openFiles: string[] = [];
    try {
      const [, url] = await server.waitFor(/Strongroom is serving at (http:\/\/127\.0\.0\.1:\d+)/);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.equal((await fetch(`${url}/no-such-page`)).status, 404);
      const signIn = await fetch(`${url}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "nobody", password: "not-the-password-1" }),
      });
      assert.equal(signIn.status, 401, "a failed sign-in: an audit event in the database");
      const bearer = await fetch(`${url}/api/v1/vaults`, {
        headers: { authorization: `Bearer sr_${"x".repeat(43)}` },
      });
      assert.equal(bearer.status, 401, "a refused token: a security event");
      for (const [label, dir] of Object.entries(roots))
        for (const path of listTree(dir, label)) seen.add(path);
      const fds = `/proc/${server.child.pid}/fd`;
      if (existsSync(fds))
        for (const fd of readdirSync(fds)) {
          try {
            openFiles.push(readlinkSync(join(fds, fd)));
          } catch {
            // Closed between listing and reading.
          }
        }
    } finally {
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0);
    }
    await Promise.all(Object.entries(roots).map(([label, dir]) => sentinel(dir, seen, label)));
    for (const watcher of watchers) watcher.close();
    for (const [label, dir] of Object.entries(roots))
      for (const path of listTree(dir, label)) seen.add(path);

    assert.equal(server.stderr(), "", "nothing on stderr");

    const lines = server.stdout().split("\n").filter(Boolean);
    const records = lines.map((line) => {
      let record: { level?: unknown; time?: unknown; msg?: unknown };
      try {
        record = JSON.parse(line);
      } catch {
        assert.fail(`a line on stdout that is not JSON: ${line}`);
      }
      assert.equal(typeof record.level, "number", line);
      assert.equal(typeof record.time, "number", line);
      assert.equal(typeof record.msg, "string", line);
      return record as { msg: string; event?: string };
    });
    const logged = new Set(records.map((record) => record.msg));
    for (const expected of ["request completed", "request refused", "stopped"])
      assert.ok(logged.has(expected), `"${expected}" was logged`);
    assert.ok(records.some((record) => record.event === "security.token_refused"));
    // Every message that reached stdout is in the inventory (`…` and `${…}` stand for text).
    const patterns = [
      ...tableUnder("### Lines Strongroom writes"),
      ...tableUnder("### Security events"),
      ...tableUnder("### Lines Fastify writes"),
    ]
      .flatMap((row) => codeSpans(row[1] ?? "").slice(0, 1))
      .map(
        (message) =>
          new RegExp(
            `^${message
              .split(/\$\{[^}]*\}|…/)
              .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
              .join(".*")}$`,
          ),
      );
    assert.deepEqual(
      [...logged].filter((message) => !patterns.some((pattern) => pattern.test(message))),
      [],
      `messages on stdout that ${DOC} does not list`,
    );

    const allowed = allowedFiles(fromSource);
    const created = [...seen].filter((path) => !path.endsWith(`/${SENTINEL}`));
    assert.deepEqual(
      created.filter((path) => ![...allowed.values()].some((pattern) => pattern.test(path))).sort(),
      [],
      `files the server created that ${DOC} does not name`,
    );
    for (const required of ["data/strongroom.db", "data/strongroom.db-wal", "data/master_key"]) {
      const pattern = allowed.get(required);
      assert.ok(pattern && created.some((path) => pattern.test(path)), `${required} was seen`);
    }
    const named = new Set(codeSpans(readFileSync(join(ROOT, DOC), "utf8")));
    assert.deepEqual(missingFrom(allowed.keys(), named), [], `${DOC} names every allowed file`);

    // Linux: while serving, the only files it held open were its database files.
    const database = join(roots.cwd, "data", "strongroom.db");
    const expectedOpen = new Set(["/dev/null", database, `${database}-wal`, `${database}-shm`]);
    assert.deepEqual(
      openFiles.filter((target) => target.startsWith("/") && !expectedOpen.has(target)),
      [],
      "files the server held open",
    );
    // Kept when an assertion fails above: what the server wrote is the evidence.
    rmSync(base, { recursive: true, force: true });
  });
});
