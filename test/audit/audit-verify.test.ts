import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import type { SequencedAuditRow } from "../../src/audit/audit.repository.js";
import { hashAuditRow } from "../../src/audit/audit.service.js";
import { verifyAuditChain } from "../../src/audit/audit-verify.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";
import { readAuditRows, seedAuditEvents, swapSeq } from "./fixtures.js";

for (const kind of testDatabaseTargets()) {
  describe(`audit chain verification (${kind.name})`, () => {
    let testDb: TestDatabase;
    let database: DatabaseHandle;
    /** The six seeded events in chain order. */
    let rows: SequencedAuditRow[];

    before(async () => {
      testDb = await kind.create();
      database = await openDatabase(testDb.target);
      await migrateToLatest(database.db);
    });
    after(async () => {
      await database.close();
      await testDb.cleanup();
    });
    beforeEach(async () => {
      await database.db.deleteFrom("audit_events").execute();
      await seedAuditEvents(database.db, 6);
      rows = await readAuditRows(database.db);
      assert.equal(rows.length, 6);
    });

    const row = (index: number): SequencedAuditRow => {
      const found = rows[index];
      assert.ok(found);
      return found;
    };

    it("an untouched chain verifies, also across batch boundaries and when empty", async () => {
      assert.deepEqual(await verifyAuditChain(database.db), { ok: true, count: 6 });
      for (const batchSize of [1, 2, 5, 6])
        assert.deepEqual(await verifyAuditChain(database.db, { batchSize }), {
          ok: true,
          count: 6,
        });
      await database.db.deleteFrom("audit_events").execute();
      assert.deepEqual(await verifyAuditChain(database.db), { ok: true, count: 0 });
    });

    it("names an event whose field was edited", async () => {
      for (const change of [
        { outcome: "failure" },
        { actor_name: "mallory" },
        { details: '{"index":99}' },
        { at: "2001-01-01T00:00:00.000Z" },
      ]) {
        await database.db
          .updateTable("audit_events")
          .set(change)
          .where("seq", "=", row(2).seq)
          .execute();
        const verdict = await verifyAuditChain(database.db, { batchSize: 2 });
        assert.deepEqual(verdict, {
          ok: false,
          seq: row(2).seq,
          id: row(2).id,
          reason: "its hash does not match its contents: the event or its hash was altered",
          count: 2,
        });
        const { seq: _seq, ...original } = row(2);
        await database.db
          .updateTable("audit_events")
          .set(original)
          .where("seq", "=", row(2).seq)
          .execute();
      }
      assert.equal((await verifyAuditChain(database.db)).ok, true, "restored");
    });

    it("names the event after a deleted one", async () => {
      await database.db.deleteFrom("audit_events").where("seq", "=", row(2).seq).execute();
      const verdict = await verifyAuditChain(database.db, { batchSize: 2 });
      assert.equal(verdict.ok, false);
      assert.ok(!verdict.ok);
      assert.equal(verdict.seq, row(3).seq);
      assert.equal(verdict.id, row(3).id);
      assert.match(verdict.reason, new RegExp(`does not follow event #${row(1).seq}: .*removed`));
    });

    it("notices the first event was deleted", async () => {
      await database.db.deleteFrom("audit_events").where("seq", "=", row(0).seq).execute();
      const verdict = await verifyAuditChain(database.db);
      assert.ok(!verdict.ok);
      assert.equal(verdict.id, row(1).id);
      assert.match(verdict.reason, /first event but does not start the chain/);
    });

    it("names the first of two events whose seq values were swapped", async () => {
      await swapSeq(database.db, row(2), row(3));
      const verdict = await verifyAuditChain(database.db);
      assert.ok(!verdict.ok);
      // Position row(2).seq now holds the later event, whose link names row(2), not row(1).
      assert.equal(verdict.seq, row(2).seq);
      assert.equal(verdict.id, row(3).id);
      assert.match(verdict.reason, /reordered/);
    });

    it("names an event whose hash was forged", async () => {
      await database.db
        .updateTable("audit_events")
        .set({ hash: "f".repeat(64) })
        .where("seq", "=", row(4).seq)
        .execute();
      const verdict = await verifyAuditChain(database.db);
      assert.ok(!verdict.ok);
      assert.equal(verdict.seq, row(4).seq);
      assert.equal(verdict.id, row(4).id);
      assert.match(verdict.reason, /hash does not match/);
    });

    it("an edit with a recomputed hash is caught at the next event, which says so", async () => {
      const edited = { ...row(2), outcome: "failure" };
      const { seq: _seq, hash: _hash, ...content } = edited;
      await database.db
        .updateTable("audit_events")
        .set({ outcome: "failure", hash: hashAuditRow(content) })
        .where("seq", "=", row(2).seq)
        .execute();
      const verdict = await verifyAuditChain(database.db);
      assert.ok(!verdict.ok);
      assert.equal(verdict.seq, row(3).seq);
      assert.match(verdict.reason, new RegExp(`event #${row(2).seq} was altered and rehashed`));
    });

    it("the last event's tampering is caught too", async () => {
      await database.db
        .updateTable("audit_events")
        .set({ target: "someone-else" })
        .where("seq", "=", row(5).seq)
        .execute();
      const verdict = await verifyAuditChain(database.db, { batchSize: 3 });
      assert.ok(!verdict.ok);
      assert.equal(verdict.seq, row(5).seq);
      assert.equal(verdict.count, 5);
    });
  });
}
