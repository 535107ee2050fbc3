#!/usr/bin/env node
// Runs every *.test.ts / *.test.tsx under src/ and test/ with Node's own test runner.
// Node 20's `--test` does not expand globs, so the files are listed here.
// Usage: node scripts/test.js [path-filter…]   e.g. `npm test -- config`
//        node scripts/test.js --cluster         the multi-instance test (npm run test:cluster),
//                                               which `npm test` leaves out: it starts nginx,
//                                               a Redis and several servers.
//        node scripts/test.js --security        the attack-tool suite (npm run test:security,
//                                               test/security/): sqlmap, protocol fuzzing, the
//                                               header audit and testssl.sh against real
//                                               servers; minutes long, so `npm test` leaves it out.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const cluster = process.argv.includes("--cluster");
const security = process.argv.includes("--security");
const filters = process.argv.slice(2).filter((arg) => arg !== "--cluster" && arg !== "--security");
/** Suites with their own npm script, never part of a plain `npm test`. */
const SEPARATE = new Set(["cluster", "security"]);

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && entry.name !== "fixtures" && !SEPARATE.has(entry.name))
        found.push(...findTests(path));
    } else if (/\.test\.tsx?$/.test(entry.name)) {
      found.push(relative(root, path));
    }
  }
  return found;
}

const files = (cluster ? ["test/cluster"] : security ? ["test/security"] : ["src", "test"])
  .flatMap((dir) => findTests(join(root, dir)))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();

if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
  { cwd: root, stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } },
);
process.exit(result.status ?? 1);
