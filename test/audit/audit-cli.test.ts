import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { Db } from "../../src/db/schema.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createTestDatabase, databaseUrlOf } from "../helpers/databases.js";
import { runCli } from "../helpers/process.js";
import { readAuditRows, seedAuditEvents, swapSeq } from "./fixtures.js";

const keys = {
  NODE_ENV: "test",
  SECRET_KEY: randomBytes(32).toString("base64url"),
  MASTER_KEY: `k1:${randomBytes(32).toString("base64")}`,
};
/** One database on the test engine per test, reached by the CLI and by `withDatabase`. */
let database: TestDatabase;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  database = await createTestDatabase();
  env = { ...keys, DATABASE_URL: databaseUrlOf(database.target) };
});
afterEach(async () => {
  await database.cleanup();
});

async function withDatabase(_cwd: string, work: (db: Db) => Promise<void>): Promise<void> {
  const handle = await openDatabase(database.target);
  try {
    await migrateToLatest(handle.db);
    await work(handle.db);
  } finally {
    await handle.close();
  }
}

describe("strongroom audit verify", () => {
  it("exits 0 on an intact chain and 1 naming the first bad event", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-audit-"));
    const fresh = await runCli(["audit", "verify"], env, cwd);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stdout, "audit chain intact: 0 events\n");

    let rows: Awaited<ReturnType<typeof readAuditRows>> = [];
    await withDatabase(cwd, async (db) => {
      await seedAuditEvents(db, 5);
      rows = await readAuditRows(db);
    });
    const intact = await runCli(["audit", "verify"], env, cwd);
    assert.equal(intact.code, 0, intact.stderr);
    assert.equal(intact.stdout, "audit chain intact: 5 events\n");

    const [, second, third] = rows;
    assert.ok(second && third);
    await withDatabase(cwd, async (db) => {
      await db
        .updateTable("audit_events")
        .set({ target: "tampered" })
        .where("seq", "=", third.seq)
        .execute();
    });
    const edited = await runCli(["audit", "verify"], env, cwd);
    assert.equal(edited.code, 1, edited.stderr);
    assert.equal(
      edited.stdout,
      `audit chain broken at event #${third.seq} (${third.id}): its hash does not match its contents: the event or its hash was altered\n`,
      `stderr: ${edited.stderr}`,
    );

    await withDatabase(cwd, async (db) => {
      await db
        .updateTable("audit_events")
        .set({ target: third.target })
        .where("seq", "=", third.seq)
        .execute();
      await swapSeq(db, second, third);
    });
    const reordered = await runCli(["audit", "verify"], env, cwd);
    assert.equal(reordered.code, 1, reordered.stderr);
    assert.match(
      reordered.stdout,
      new RegExp(`^audit chain broken at event #${second.seq} \\(${third.id}\\): .*reordered`),
    );
  });

  it("a configuration problem is one line and exit 1", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-audit-"));
    const result = await runCli(
      ["audit", "verify"],
      { ...env, DATABASE_URL: "mysql://root@db/strongroom" },
      cwd,
    );
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, /^strongroom: audit verify: DATABASE_URL/);
    const help = await runCli(["audit", "verify", "--help"], {}, cwd);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: strongroom audit verify/);
  });
});
