import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const ROOT = join(import.meta.dirname, "..");
const SCRIPT = join(ROOT, "scripts/check-asvs.js");

function check(document?: string): { status: number | null; stdout: string; stderr: string } {
  const args = [SCRIPT];
  if (document !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), "strongroom-asvs-")), "asvs.md");
    writeFileSync(file, document);
    args.push(file);
  }
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const HEADER =
  "| id | level | requirement | status | evidence |\n| --- | --- | --- | --- | --- |\n";
const GOOD_ROW =
  "| 6.2.1 | 1 | Passwords of 8+ characters | met | `src/accounts/password-policy.test.ts` |\n";

describe("the ASVS map check (scripts/check-asvs.js)", () => {
  it("passes docs/security/asvs.md", () => {
    const result = check();
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /\d+ requirements — \d+ met, \d+ not applicable, \d+ not met/);
  });

  it("passes a small well-formed map", () => {
    const result = check(
      `${HEADER}${GOOD_ROW}| 4.3.1 | 2 | GraphQL limits | not applicable | no GraphQL |\n` +
        "| 6.3.3 | 2 | MFA required | not met | TOTP is optional |\n",
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /3 requirements — 1 met, 1 not applicable, 1 not met/);
  });

  const failures: Array<[string, string, RegExp]> = [
    [
      "a met row without a test file",
      "| 6.2.2 | 1 | Users can change their password | met | shown by the settings page |\n",
      /:4: row 6\.2\.2: is met but names no test file/,
    ],
    [
      "a met row naming a path that does not exist",
      "| 6.2.2 | 1 | Change password | met | `test/accounts/no-such-file.test.ts` |\n",
      /:4: row 6\.2\.2: names test\/accounts\/no-such-file\.test\.ts, which does not exist/,
    ],
    [
      "a met row naming a file that is not a test",
      "| 6.2.2 | 1 | Change password | met | `src/accounts/password-policy.ts` |\n",
      /:4: row 6\.2\.2: names src\/accounts\/password-policy\.ts, which is not a test file/,
    ],
    [
      "a requirement id twice",
      "| 6.2.1 | 1 | Again | not met | missing |\n",
      /:4: row 6\.2\.1: requirement id appears twice \(first on line 3\)/,
    ],
    [
      "an unknown status",
      "| 6.2.2 | 1 | Change password | partly met | halfway |\n",
      /:4: row 6\.2\.2: status "partly met" is not one of: met, not applicable, not met/,
    ],
  ];
  for (const [label, row, message] of failures) {
    it(`fails, naming the row, on ${label}`, () => {
      const result = check(`${HEADER}${GOOD_ROW}${row}`);
      assert.equal(result.status, 1, result.stdout);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /1 problem\(s\) in /);
    });
  }

  it("checks a summary table against the rows, chapter by chapter and in total", () => {
    const rows =
      `${HEADER}${GOOD_ROW}| 6.3.3 | 2 | MFA required | not met | TOTP is optional |\n` +
      "| 4.3.1 | 2 | GraphQL limits | not applicable | no GraphQL |\n";
    const summary = (v6: string, total: string) =>
      "| chapter | L1/L2 requirements | met | not applicable | not met |\n| --- | --- | --- | --- | --- |\n" +
      `| V4 API and Web Service | 1 | 0 | 1 | 0 |\n| V6 Authentication | ${v6} |\n` +
      `| **total** | ${total} |\n\n`;
    const agreeing = check(summary("2 | 1 | 0 | 1", "**3** | **1** | **1** | **1**") + rows);
    assert.equal(agreeing.status, 0, agreeing.stderr);
    const stale = check(summary("2 | 2 | 0 | 0", "**3** | **2** | **1** | **0**") + rows);
    assert.equal(stale.status, 1, stale.stdout);
    assert.match(
      stale.stderr,
      /:4: summary V6 Authentication says 2 \| 2 \| 0 \| 0, the rows say 2 \| 1 \| 0 \| 1/,
    );
    assert.match(
      stale.stderr,
      /:5: summary total says 3 \| 2 \| 1 \| 0, the rows say 3 \| 1 \| 1 \| 1/,
    );
  });

  it("fails on a document with no requirement rows, and on a missing file", () => {
    assert.equal(check("# nothing here\n").status, 1);
    const missing = spawnSync(process.execPath, [SCRIPT, join(tmpdir(), "no-such-asvs.md")], {
      encoding: "utf8",
    });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read .*no-such-asvs\.md: ENOENT/);
  });
});
