import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { POSTGRES_SKIPPED, testDatabaseTargets } from "../../test/helpers/databases.js";
import { recordAuditEvent } from "../audit/audit.service.js";
import { verifyAuditChain } from "../audit/audit-verify.js";
import { type DatabaseHandle, openDatabase } from "./database.js";
import { migrateToLatest } from "./migrate.js";
import { POSTGRES_POOL_MAX } from "./postgres.js";
import type { DatabaseTarget } from "./url.js";

const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");

describe("PostgreSQL connections", {
  skip: postgres === undefined ? POSTGRES_SKIPPED : false,
}, () => {
  let handle: DatabaseHandle;
  let schema: string | undefined;
  let target: Extract<DatabaseTarget, { kind: "postgres" }> | undefined;
  let cleanup: () => Promise<void>;

  before(async () => {
    const created = await (postgres?.create() ?? Promise.reject(new Error("no postgres")));
    cleanup = created.cleanup;
    if (created.target.kind !== "postgres") throw new Error("expected postgres");
    schema = created.target.schema;
    target = created.target;
    // A server, database or role whose default is repeatable read; the URL stands for them.
    const url = new URL(created.target.url);
    url.searchParams.set("options", "-c default_transaction_isolation=repeatable\\ read");
    handle = await openDatabase({ ...created.target, url: url.toString() });
    await migrateToLatest(handle.db);
  });
  after(async () => {
    await handle?.close();
    await cleanup?.();
  });

  it("run read committed whatever the defaults, in the configured schema", async () => {
    const { rows } = await sql<{
      isolation: string;
      path: string;
    }>`select current_setting('transaction_isolation') as isolation, current_setting('search_path') as path`.execute(
      handle.db,
    );
    assert.deepEqual(rows[0], { isolation: "read committed", path: schema });
    const inTransaction = await handle.db
      .transaction()
      .execute((trx) =>
        sql<{ level: string }>`select current_setting('transaction_isolation') as level`.execute(
          trx,
        ),
      );
    assert.equal(inTransaction.rows[0]?.level, "read committed");
  });

  it("still give a transaction the isolation it asks for (backups read one snapshot)", async () => {
    const { rows } = await handle.db
      .transaction()
      .setIsolationLevel("repeatable read")
      .execute((trx) =>
        sql<{ level: string }>`select current_setting('transaction_isolation') as level`.execute(
          trx,
        ),
      );
    assert.equal(rows[0]?.level, "repeatable read");
  });

  it("open at most the target's poolMax (DATABASE_POOL_MAX), by default POSTGRES_POOL_MAX", async () => {
    assert.equal(handle.poolStats()?.max, POSTGRES_POOL_MAX);
    assert.ok(target);
    const small = await openDatabase({ ...target, poolMax: 2 });
    try {
      const held = Array.from({ length: 4 }, () => sql`select pg_sleep(0.05)`.execute(small.db));
      const stats = small.poolStats();
      assert.equal(stats?.max, 2);
      assert.ok((stats?.total ?? 0) <= 2);
      assert.ok((stats?.waiting ?? 0) >= 2, JSON.stringify(stats));
      await Promise.all(held);
    } finally {
      await small.close();
    }
    await assert.rejects(openDatabase({ ...target, poolMax: 0 }), RangeError);
  });

  it("keep one audit chain under concurrent appends", async () => {
    // Under repeatable read, an append that waited for the chain's lock would still read
    // the last event of its older snapshot, and two events would share a predecessor.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        recordAuditEvent(
          handle.db,
          {
            actorId: null,
            actorName: "test",
            action: "test.append",
            target: String(i),
            address: null,
            outcome: "success",
          },
          new Date(),
        ),
      ),
    );
    const chain = await verifyAuditChain(handle.db, { batchSize: 100 });
    assert.equal(chain.ok, true, JSON.stringify(chain));
  });
});
