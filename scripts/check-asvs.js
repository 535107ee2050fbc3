#!/usr/bin/env node
// `npm run check:asvs [FILE]`: checks the ASVS map (docs/security/asvs.md by default) so that
// its evidence keeps pointing at real tests. Every table row whose first cell is a
// requirement id (`6.2.1`) must have five cells — id, level, requirement, status, evidence —
// and:
//   - the id appears only once in the document;
//   - the level is 1 or 2 (Level 3 is out of scope);
//   - the status is `met`, `not applicable` or `not met`;
//   - a `met` row names at least one test file in backticks, and every repository path it
//     names in backticks exists and is a test (`*.test.ts` or `*.test.tsx`);
//   - when the document has a summary table (rows `| V6 Authentication | 35 | 24 | 9 | 2 |`
//     and `| **total** | … |`), each of its counts agrees with the rows of that chapter
//     (a requirement's chapter is its first number), so the summary cannot go stale.
// Paths are relative to the repository root (this script's parent directory), whatever the
// document's location. Exit 0 when all holds, else 1 with one line per problem naming the
// row; 2 for a usage error. Plain Node, no dependencies.
import { existsSync, readFileSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const STATUSES = new Set(["met", "not applicable", "not met"]);
const REQUIREMENT_ID = /^\d+\.\d+\.\d+$/;
/** A backticked repository path: relative, at least one directory, a file extension. */
const REPO_PATH = /^[\w.-]+(?:\/[\w.-]+)+\.[A-Za-z0-9]+$/;
const TEST_FILE = /\.test\.tsx?$/;
/** A summary row's first cell: `V6 Authentication` (chapter 6), or `**total**`. */
const SUMMARY_ROW = /^(?:V(\d+)\b.*|\*\*total\*\*)$/;

/** The cells of a Markdown table row, `\|` kept as a literal bar. */
function cellsOf(line) {
  const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll("\\|", "|"));
}

/**
 * Checks the map's text; returns the problems (each naming its line and row) and a count
 * of the requirement rows by status.
 */
export function checkAsvsMap(text, { root = ROOT, name = "asvs.md" } = {}) {
  const problems = [];
  const counts = { met: 0, "not applicable": 0, "not met": 0 };
  /** Per chapter number: [rows, met, not applicable, not met]. */
  const chapters = new Map();
  const summary = [];
  const seen = new Map();
  let rows = 0;
  text.split("\n").forEach((line, index) => {
    if (!line.trim().startsWith("|")) return;
    const cells = cellsOf(line);
    const id = cells[0];
    const summaryOf = SUMMARY_ROW.exec(id);
    if (summaryOf !== null) {
      summary.push({ line: index + 1, chapter: summaryOf[1] ?? null, label: id, cells });
      return;
    }
    if (!REQUIREMENT_ID.test(id)) return;
    rows += 1;
    const where = `${name}:${index + 1}: row ${id}`;
    const problem = (message) => problems.push(`${where}: ${message}`);
    if (seen.has(id)) problem(`requirement id appears twice (first on line ${seen.get(id)})`);
    else seen.set(id, index + 1);
    if (cells.length !== 5) {
      problem(
        `has ${cells.length} cells, expected 5 (id | level | requirement | status | evidence)`,
      );
      return;
    }
    const [, level, , status, evidence] = cells;
    if (level !== "1" && level !== "2") problem(`level "${level}" is not 1 or 2`);
    if (!STATUSES.has(status)) {
      problem(`status "${status}" is not one of: met, not applicable, not met`);
      return;
    }
    counts[status] += 1;
    const chapter = id.split(".")[0];
    const tally = chapters.get(chapter) ?? [0, 0, 0, 0];
    tally[0] += 1;
    tally[1 + ["met", "not applicable", "not met"].indexOf(status)] += 1;
    chapters.set(chapter, tally);
    if (evidence === "") problem("has no evidence");
    if (status !== "met") return;
    const paths = [...evidence.matchAll(/`([^`]+)`/g)]
      .map((match) => match[1])
      .filter((token) => REPO_PATH.test(token));
    for (const path of paths) {
      const absolute = resolve(root, path);
      if (!existsSync(absolute) || !statSync(absolute).isFile())
        problem(`names ${path}, which does not exist`);
      else if (!TEST_FILE.test(path))
        problem(`names ${path}, which is not a test file (*.test.ts or *.test.tsx)`);
    }
    if (paths.length === 0) problem("is met but names no test file");
  });
  if (rows === 0) problems.push(`${name}: no requirement rows found`);
  for (const { line, chapter, label, cells } of summary) {
    const expected =
      chapter === null
        ? [rows, counts.met, counts["not applicable"], counts["not met"]]
        : (chapters.get(chapter) ?? [0, 0, 0, 0]);
    const stated = cells.slice(1).map((cell) => cell.replaceAll("*", ""));
    if (stated.join(" | ") !== expected.join(" | "))
      problems.push(
        `${name}:${line}: summary ${label.replaceAll("*", "")} says ${stated.join(" | ")}, ` +
          `the rows say ${expected.join(" | ")} (requirements | met | not applicable | not met)`,
      );
  }
  return { problems, counts, rows };
}

function main(argv) {
  if (argv.length > 1 || argv[0] === "--help" || argv[0] === "-h") {
    process.stderr.write(
      "usage: node scripts/check-asvs.js [FILE]  (default docs/security/asvs.md)\n",
    );
    return 2;
  }
  const file = resolve(argv[0] ?? resolve(ROOT, "docs/security/asvs.md"));
  const name = relative(process.cwd(), file) || file;
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    process.stderr.write(`check-asvs: cannot read ${name}: ${error.code ?? error.message}\n`);
    return 1;
  }
  const { problems, counts, rows } = checkAsvsMap(text, { name });
  if (problems.length > 0) {
    for (const line of problems) process.stderr.write(`check-asvs: ${line}\n`);
    process.stderr.write(`check-asvs: ${problems.length} problem(s) in ${name}\n`);
    return 1;
  }
  process.stdout.write(
    `check-asvs: ${name}: ${rows} requirements — ${counts.met} met, ` +
      `${counts["not applicable"]} not applicable, ${counts["not met"]} not met\n`,
  );
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exitCode = main(process.argv.slice(2));
