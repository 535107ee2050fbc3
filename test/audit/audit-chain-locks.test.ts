import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { recordAuditEvent, verifyAuditChain } from "../../src/audit/index.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { dialectOf } from "../../src/db/dialect.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { Db } from "../../src/db/schema.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";

const event = (n: number) => ({
  actorId: null,
  actorName: "test",
  action: "test.event",
  target: `t${n}`,
  address: null,
  outcome: "success" as const,
});

for (const kind of testDatabaseTargets()) {
  describe(`audit chain appends (${kind.name})`, () => {
    const created: TestDatabase[] = [];
    const handles: DatabaseHandle[] = [];
    const open = async (): Promise<DatabaseHandle> => {
      const database = await kind.create();
      created.push(database);
      const handle = await openDatabase(database.target);
      handles.push(handle);
      await migrateToLatest(handle.db);
      return handle;
    };
    after(async () => {
      for (const handle of handles) await handle.close();
      for (const database of created) await database.cleanup();
    });

    it("forty concurrent appends form one unbroken chain", async () => {
      const { db } = await open();
      await Promise.all(
        Array.from({ length: 40 }, (_, n) => recordAuditEvent(db, event(n), new Date())),
      );
      assert.deepEqual(await verifyAuditChain(db), { ok: true, count: 40 });
    });

    it("a chain being appended to in one schema does not hold up another schema's", {
      skip: kind.name !== "postgres" && "PostgreSQL only: SQLite has one chain per file",
    }, async () => {
      const one = await open();
      const two = await open();
      let releaseOne: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        releaseOne = resolve;
      });
      let locked: () => void = () => {};
      const lockTaken = new Promise<void>((resolve) => {
        locked = resolve;
      });
      // A transaction in schema one takes the chain's lock and keeps it until released.
      const holder = one.db.transaction().execute(async (trx) => {
        const chain: Db = trx;
        await dialectOf(chain).lockAuditChain(chain);
        locked();
        await held;
      });
      await lockTaken;
      let sameSchemaDone = false;
      const sameSchema = recordAuditEvent(one.db, event(1), new Date()).then(() => {
        sameSchemaDone = true;
      });
      // Schema two appends while schema one's lock is held (a hang here fails by timeout).
      await recordAuditEvent(two.db, event(2), new Date());
      assert.equal(sameSchemaDone, false, "schema one's own append waits for its lock");
      releaseOne();
      await holder;
      await sameSchema;
      assert.deepEqual(await verifyAuditChain(one.db), { ok: true, count: 1 });
      assert.deepEqual(await verifyAuditChain(two.db), { ok: true, count: 1 });
    });
  });
}
