import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Kysely } from "kysely";
import type { TestDatabase } from "../../test/helpers/databases.js";
import { testDatabaseTargets } from "../../test/helpers/databases.js";
import { type DatabaseHandle, openDatabase } from "./database.js";
import { migrateToLatest } from "./migrate.js";
import { precompiled } from "./precompiled.js";
import type { Database } from "./schema.js";

for (const kind of testDatabaseTargets()) {
  describe(`precompiled queries (${kind.name})`, () => {
    let database: TestDatabase | undefined;
    let handle: DatabaseHandle | undefined;
    const open = async (): Promise<Kysely<Database>> => {
      if (handle === undefined) {
        database = await kind.create();
        handle = await openDatabase(database.target);
        await migrateToLatest(handle.db);
        const now = new Date().toISOString();
        await handle.db
          .insertInto("vaults")
          .values(
            ["alpha", "beta", "gamma"].map((slug, n) => ({
              id: `v${n}`,
              slug,
              description: `vault ${slug}`,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
      }
      return handle.db;
    };
    after(async () => {
      await handle?.close();
      await database?.cleanup();
    });

    it("compiles once, then answers each call for its own arguments", async () => {
      const db = await open();
      let builds = 0;
      const bySlugs = precompiled((kysely: Kysely<Database>, first: string, second: string) => {
        builds += 1;
        return kysely
          .selectFrom("vaults")
          .select(["slug", "description"])
          .where((eb) => eb.or([eb("slug", "=", first), eb("slug", "=", second)]))
          .orderBy("slug")
          .limit(5);
      });
      assert.deepEqual(await bySlugs(db, "gamma", "alpha"), [
        { slug: "alpha", description: "vault alpha" },
        { slug: "gamma", description: "vault gamma" },
      ]);
      assert.deepEqual(await bySlugs(db, "beta", "nope"), [
        { slug: "beta", description: "vault beta" },
      ]);
      assert.deepEqual(await bySlugs(db, "nope", "nada"), []);
      // Inside a transaction too (another Kysely instance, same engine).
      const inTransaction = await db.transaction().execute((trx) => bySlugs(trx, "alpha", "beta"));
      assert.deepEqual(
        inTransaction.map((row) => row.slug),
        ["alpha", "beta"],
      );
      assert.equal(builds, 1);
    });

    it("keeps the query's own constants (a limit) as they were", async () => {
      const db = await open();
      const firstTwo = precompiled((kysely: Kysely<Database>, after: string) =>
        kysely
          .selectFrom("vaults")
          .select("slug")
          .where("slug", ">", after)
          .orderBy("slug")
          .limit(2),
      );
      assert.deepEqual(
        (await firstTwo(db, "")).map((row) => row.slug),
        ["alpha", "beta"],
      );
      assert.deepEqual(
        (await firstTwo(db, "alpha")).map((row) => row.slug),
        ["beta", "gamma"],
      );
    });

    it("refuses a query that does not bind each argument exactly once", async () => {
      const db = await open();
      const unused = precompiled((kysely: Kysely<Database>, _slug: string) =>
        kysely.selectFrom("vaults").select("slug"),
      );
      await assert.rejects(unused(db, "alpha"), /each argument must be bound exactly once/);
      const twice = precompiled((kysely: Kysely<Database>, slug: string) =>
        kysely
          .selectFrom("vaults")
          .select("slug")
          .where((eb) => eb.or([eb("slug", "=", slug), eb("description", "=", slug)])),
      );
      await assert.rejects(twice(db, "alpha"), /each argument must be bound exactly once/);
    });
  });
}
