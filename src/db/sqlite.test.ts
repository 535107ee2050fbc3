import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Kysely, SqliteDialect, sql } from "kysely";
import { openSqliteFile, SQLITE_STATEMENT_CACHE_SIZE } from "./sqlite.js";

describe("SQLite statement cache", () => {
  it("hands out the statement already prepared for the same SQL text", () => {
    const database = openSqliteFile(":memory:");
    try {
      const first = database.prepare("select 1 as one");
      assert.equal(database.prepare("select 1 as one"), first);
      assert.notEqual(database.prepare("select 2 as two"), first);
      // Parameters are bound per call, so a shared statement answers each caller its own.
      const echo = database.prepare("select ? as v");
      assert.deepEqual(echo.get("a"), { v: "a" });
      assert.deepEqual(database.prepare("select ? as v").get("b"), { v: "b" });
    } finally {
      database.close();
    }
  });

  it("never hands out a statement that is still being iterated", () => {
    const database = openSqliteFile(":memory:");
    try {
      database.exec("create table t (n integer); insert into t values (1), (2), (3)");
      const text = "select n from t order by n";
      const outer = database.prepare(text);
      const seen: unknown[] = [];
      for (const row of outer.iterate()) {
        // Without the busy check this would be `outer`, and running it would throw.
        const inner = database.prepare(text);
        assert.notEqual(inner, outer);
        seen.push([(row as { n: number }).n, inner.all().length]);
      }
      assert.deepEqual(seen, [
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
    } finally {
      database.close();
    }
  });

  it("keeps at most SQLITE_STATEMENT_CACHE_SIZE statements, dropping the least recently used", () => {
    const database = openSqliteFile(":memory:");
    try {
      const kept = database.prepare("select 0");
      const oldest = database.prepare("select 1");
      for (let n = 2; n < SQLITE_STATEMENT_CACHE_SIZE; n++) database.prepare(`select ${n}`);
      // The cache is full. Using `kept` again leaves `select 1` the least recently used…
      assert.equal(database.prepare("select 0"), kept);
      // …so one more statement drops it, and only it.
      database.prepare("select 'one more'");
      assert.equal(database.prepare("select 0"), kept);
      assert.notEqual(database.prepare("select 1"), oldest);
    } finally {
      database.close();
    }
  });

  it("sees schema changes made after a statement was cached", async () => {
    const database = openSqliteFile(":memory:");
    const db = new Kysely<{ t: { a: number; b?: number } }>({
      dialect: new SqliteDialect({ database }),
    });
    try {
      await sql`create table t (a integer)`.execute(db);
      await db.insertInto("t").values({ a: 1 }).execute();
      assert.deepEqual(await db.selectFrom("t").selectAll().execute(), [{ a: 1 }]);
      await sql`alter table t add column b integer default 7`.execute(db);
      assert.deepEqual(await db.selectFrom("t").selectAll().execute(), [{ a: 1, b: 7 }]);
      await sql`drop table t`.execute(db);
      await assert.rejects(db.selectFrom("t").selectAll().execute(), /no such table/);
    } finally {
      await db.destroy();
    }
  });
});
