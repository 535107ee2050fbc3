/**
 * Keeps docs/security/dependencies.md in step with package.json: every runtime dependency
 * has exactly one row in its table and the table lists nothing else, each is resolved in the
 * committed lock file, and each is a semver range from the registry (never a URL, git or a
 * local path, which the lock's integrity hash and `npm ci` would not protect the same way).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";

const root = new URL("..", import.meta.url);
const DOC = "docs/security/dependencies.md";

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(path, root), "utf8")) as Record<string, unknown>;
}

const packageJson = readJson("package.json") as { dependencies?: Record<string, string> };
const runtime = packageJson.dependencies ?? {};

/** One data row of the dependency table. */
interface Row {
  line: number;
  name: string;
  cells: string[];
}

/** A package name as npm allows it (lower case, optionally scoped). */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;

/** Splits a GFM table line into trimmed cells (`\|` is a literal pipe, not a separator). */
function splitRow(line: string): string[] {
  const body = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  return body.split(/(?<!\\)\|/).map((cell) => cell.trim());
}

/**
 * Parses the one table whose header's first cell is "Package": each data row's first cell
 * must be a single package name in backticks, and every cell must be filled in. Returns the
 * rows and a list of problems (with line numbers) instead of throwing at the first one.
 */
function parseDependencyTable(markdown: string): { rows: Row[]; problems: string[] } {
  const lines = markdown.split("\n");
  const problems: string[] = [];
  const starts = lines.flatMap((line, i) =>
    line.trim().startsWith("|") && splitRow(line)[0] === "Package" ? [i] : [],
  );
  if (starts.length !== 1) {
    return {
      rows: [],
      problems: [`expected one table with a "Package" column first, found ${starts.length}`],
    };
  }
  const start = starts[0] as number;
  const header = splitRow(lines[start] as string);
  const separator = splitRow(lines[start + 1] ?? "");
  if (separator.length !== header.length || !separator.every((cell) => /^:?-{3,}:?$/.test(cell))) {
    problems.push(`line ${start + 2}: the header is not followed by a separator row`);
  }
  const rows: Row[] = [];
  for (let i = start + 2; i < lines.length && (lines[i] as string).trim().startsWith("|"); i++) {
    const cells = splitRow(lines[i] as string);
    const where = `line ${i + 1}`;
    if (cells.length !== header.length) {
      problems.push(`${where}: ${cells.length} cells, the header has ${header.length}`);
      continue;
    }
    const name = /^`([^`]+)`$/.exec(cells[0] as string)?.[1];
    if (name === undefined || !PACKAGE_NAME.test(name)) {
      problems.push(
        `${where}: the first cell must be one package name in backticks, not ${cells[0]}`,
      );
      continue;
    }
    const empty = cells.flatMap((cell, column) => (cell === "" ? [header[column]] : []));
    if (empty.length > 0) problems.push(`${where} (${name}): empty ${empty.join(", ")}`);
    rows.push({ line: i + 1, name, cells });
  }
  if (rows.length === 0) problems.push("the table has no rows");
  return { rows, problems };
}

const VERSION = String.raw`v?(?:0|[1-9]\d*|[xX*])(?:\.(?:0|[1-9]\d*|[xX*])){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?`;
const COMPARATOR = `(?:[~^]|[<>]=?|=)?${VERSION}`;
const SET = `(?:${VERSION} - ${VERSION}|${COMPARATOR}(?: +${COMPARATOR})*)`;
const SEMVER_RANGE = new RegExp(String.raw`^${SET}(?: *\|\| *${SET})*$`);

/** Whether `spec` is a semver range (so the registry, not a URL, git or a path, supplies it). */
function isSemverRange(spec: string): boolean {
  return SEMVER_RANGE.test(spec.trim());
}

describe("the dependency table parser", () => {
  const table = (...rows: string[]) =>
    ["# T", "", "| Package | Range | Why |", "| --- | --- | --- |", ...rows, "", "After."].join(
      "\n",
    );

  it("reads the package names of well-formed rows", () => {
    const { rows, problems } = parseDependencyTable(
      table("| `a` | `^1.0.0` | x \\| y |", "| `@s/b-c.d` | `1.2.3` | z |"),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      rows.map((row) => row.name),
      ["a", "@s/b-c.d"],
    );
  });

  it("refuses a row without a backticked name, with a missing cell or an empty one", () => {
    const { problems } = parseDependencyTable(
      table("| a | `^1` | x |", "| `a` `b` | `^1` | x |", "| `c` | `^1` |", "| `d` | `^1` | |"),
    );
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(problems[0] as string, /line 5: the first cell must be one package name/);
    assert.match(problems[2] as string, /line 7: 2 cells, the header has 3/);
    assert.match(problems[3] as string, /line 8 \(d\): empty Why/);
  });

  it("refuses a document without exactly one such table", () => {
    assert.match(parseDependencyTable("no table").problems[0] as string, /found 0/);
    assert.match(parseDependencyTable(`${table()}\n\n${table()}`).problems[0] as string, /2$/);
  });
});

describe("semver range check", () => {
  it("accepts the ranges npm resolves from the registry", () => {
    for (const spec of [
      "1.10.7",
      "^5.12.8",
      "~0.28.0",
      ">=1.2.3 <2",
      "1.x || ^2.0.0-rc.1",
      "1 - 2",
    ])
      assert.equal(isSemverRange(spec), true, spec);
  });

  it("refuses URLs, git, GitHub shorthands, paths, aliases and tags", () => {
    for (const spec of [
      "https://example.com/pkg.tgz",
      "git+https://github.com/a/b.git",
      "github:a/b",
      "a/b#v1.0.0",
      "file:../pkg",
      "./pkg",
      "link:../pkg",
      "npm:other@^1.0.0",
      "workspace:*",
      "latest",
      "",
    ])
      assert.equal(isSemverRange(spec), false, spec);
  });
});

describe(`${DOC} and package.json`, () => {
  const { rows, problems } = parseDependencyTable(readFileSync(new URL(DOC, root), "utf8"));

  it("has a well-formed table", () => {
    assert.deepEqual(problems, [], `${DOC}:\n${problems.join("\n")}`);
  });

  it("has exactly one row per runtime dependency and no other", () => {
    const listed = rows.map((row) => row.name);
    const wrong = [
      ...Object.keys(runtime)
        .filter((name) => !listed.includes(name))
        .map((name) => `${name}: a runtime dependency without a row`),
      ...rows
        .filter((row) => !Object.hasOwn(runtime, row.name))
        .map(
          (row) =>
            `${row.name} (line ${row.line}): a row for a package that is not a runtime dependency`,
        ),
      ...rows
        .filter((row, i) => listed.indexOf(row.name) !== i)
        .map((row) => `${row.name} (line ${row.line}): a second row`),
    ];
    assert.deepEqual(wrong, [], `${DOC} is out of step with package.json's dependencies`);
  });

  it("gives each package the range package.json pins", () => {
    const wrong = rows
      .filter((row) => Object.hasOwn(runtime, row.name))
      .filter((row) => !(row.cells[1] as string).startsWith(`\`${runtime[row.name]}\``))
      .map((row) => `${row.name} (line ${row.line}): package.json has ${runtime[row.name]}`);
    assert.deepEqual(wrong, [], `ranges in ${DOC} that differ from package.json`);
  });
});

describe("package.json's runtime dependencies", () => {
  it("are all semver ranges from the registry", () => {
    const bad = Object.entries(runtime)
      .filter(([, spec]) => !isSemverRange(spec))
      .map(([name, spec]) => `${name}: ${spec} is not a semver range`);
    assert.deepEqual(bad, [], "runtime dependencies not pinned to a semver range");
  });

  it("are all resolved in the committed package-lock.json, with the same ranges", () => {
    assert.ok(existsSync(new URL("package-lock.json", root)), "package-lock.json is missing");
    const lock = readJson("package-lock.json") as {
      packages?: Record<string, { version?: string; dependencies?: Record<string, string> }>;
    };
    const packages = lock.packages ?? {};
    const unresolved = Object.keys(runtime)
      .filter((name) => packages[`node_modules/${name}`]?.version === undefined)
      .map((name) => `${name}: no node_modules/${name} in package-lock.json`);
    assert.deepEqual(unresolved, [], "runtime dependencies missing from package-lock.json");
    assert.deepEqual(
      packages[""]?.dependencies ?? {},
      runtime,
      "package-lock.json was written for other dependencies: run npm install",
    );
  });
});
