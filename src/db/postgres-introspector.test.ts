import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { POSTGRES_SKIPPED, testDatabaseTargets } from "../../test/helpers/databases.js";
import { type DatabaseHandle, openDatabase } from "./database.js";
import { dialectOf } from "./dialect.js";
import { migrateToLatest } from "./migrate.js";

const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");

describe("PostgreSQL introspection", {
  skip: postgres === undefined ? POSTGRES_SKIPPED : false,
}, () => {
  let ours: DatabaseHandle;
  let other: DatabaseHandle;
  let otherSchema: string;
  const cleanups: Array<() => Promise<void>> = [];

  async function open(): Promise<{ handle: DatabaseHandle; schema: string }> {
    const created = await (postgres?.create() ?? Promise.reject(new Error("no postgres")));
    cleanups.push(created.cleanup);
    if (created.target.kind !== "postgres" || created.target.schema === undefined) {
      throw new Error("expected a PostgreSQL schema of its own");
    }
    const schema = created.target.schema;
    const handle = await openDatabase(created.target);
    cleanups.push(() => handle.close());
    return { handle, schema };
  }

  before(async () => {
    ({ handle: ours } = await open());
    ({ handle: other, schema: otherSchema } = await open());
    await migrateToLatest(ours.db);
    // The other schema holds a table we lack, with a serial column, as another deployment might.
    await migrateToLatest(other.db);
    await sql`create table only_elsewhere (id serial primary key, note text)`.execute(other.db);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("lists the tables of our own schema only, exactly those the database has", async () => {
    const tables = await ours.db.introspection.getTables({ withInternalKyselyTables: true });
    assert.ok(tables.length > 0);
    assert.ok(
      tables.every((table) => table.schema !== otherSchema),
      "a table of another schema was listed",
    );
    assert.ok(!tables.some((table) => table.name === "only_elsewhere"));
    const expected = await dialectOf(ours.db).tableColumns(ours.db);
    assert.deepEqual(
      new Map(tables.map((table) => [table.name, new Set(table.columns.map((c) => c.name))])),
      expected,
    );
  });

  it("leaves Kysely's bookkeeping tables out unless asked", async () => {
    const names = (await ours.db.introspection.getTables()).map((table) => table.name);
    assert.ok(!names.includes("kysely_migration"));
    assert.ok(!names.includes("kysely_migration_lock"));
    assert.ok(names.includes("vaults"));
  });

  it("reports column facts: identity and serial columns auto-increment, nullability, defaults", async () => {
    const [table] = (await other.db.introspection.getTables()).filter(
      (candidate) => candidate.name === "only_elsewhere",
    );
    assert.ok(table !== undefined);
    const id = table.columns.find((column) => column.name === "id");
    const note = table.columns.find((column) => column.name === "note");
    assert.deepEqual(
      { auto: id?.isAutoIncrementing, nullable: id?.isNullable, def: id?.hasDefaultValue },
      { auto: true, nullable: false, def: true },
    );
    assert.deepEqual(
      { auto: note?.isAutoIncrementing, nullable: note?.isNullable, def: note?.hasDefaultValue },
      { auto: false, nullable: true, def: false },
    );
    await sql`create table identity_elsewhere (id integer generated always as identity, n int not null default 3)`.execute(
      other.db,
    );
    const [identity] = (await other.db.introspection.getTables()).filter(
      (candidate) => candidate.name === "identity_elsewhere",
    );
    assert.deepEqual(
      identity?.columns.map((column) => [column.name, column.isAutoIncrementing, column.dataType]),
      [
        ["id", true, "int4"],
        ["n", false, "int4"],
      ],
    );
  });

  it("migrates while other schemas of the database are created and dropped", async () => {
    // Kysely's own introspection read every schema's tables, so a schema dropped by someone
    // else mid-query failed our migration. Churn schemas while fresh ones migrate.
    let churning = true;
    const churn = (async () => {
      for (let round = 0; churning; round++) {
        const name = `churn_${process.pid}_${round}`;
        await sql`create schema ${sql.id(name)}`.execute(ours.db);
        for (let index = 0; index < 5; index++) {
          await sql`create table ${sql.id(name, `t${index}`)} (id serial primary key, v text)`.execute(
            ours.db,
          );
        }
        await sql`drop schema ${sql.id(name)} cascade`.execute(ours.db);
      }
    })();
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        const { handle } = await open();
        const { applied } = await migrateToLatest(handle.db);
        assert.ok(applied.length > 0);
      }
    } finally {
      churning = false;
      await churn;
    }
  });
});
