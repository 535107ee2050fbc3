import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { sql } from "kysely";
import { listAuditEvents } from "../../src/audit/audit.repository.js";
import { AUDIT_BATCH_MAX_EVENTS } from "../../src/audit/audit.service.js";
import { recordAuditEvent, verifyAuditChain } from "../../src/audit/index.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";

const event = (target: string, details?: Record<string, string | number>) => ({
  actorId: null,
  actorName: "test",
  action: "test.event",
  target,
  address: null,
  outcome: "success" as const,
  ...(details === undefined ? {} : { details }),
});

for (const kind of testDatabaseTargets()) {
  describe(`audit group commit (${kind.name})`, () => {
    const created: TestDatabase[] = [];
    const handles: DatabaseHandle[] = [];
    /** A fresh migrated database, and `extra` more handles on it (other processes' pools). */
    const open = async (
      extra = 0,
      options: { commits?: { count: number } } = {},
    ): Promise<DatabaseHandle[]> => {
      const database = await kind.create();
      created.push(database);
      const opened: DatabaseHandle[] = [];
      for (let n = 0; n <= extra; n++) {
        const handle = await openDatabase(database.target, {
          log: (logged) => {
            if (options.commits && /^commit$/i.test(logged.query.sql)) options.commits.count += 1;
          },
        });
        handles.push(handle);
        opened.push(handle);
      }
      const [first] = opened;
      assert.ok(first);
      await migrateToLatest(first.db);
      return opened;
    };
    after(async () => {
      for (const handle of handles) await handle.close();
      for (const database of created) await database.cleanup();
    });

    it("writes events recorded at the same moment in one transaction, in call order", async () => {
      const commits = { count: 0 };
      const [handle] = await open(0, { commits });
      assert.ok(handle);
      commits.count = 0;
      const total = AUDIT_BATCH_MAX_EVENTS + 6;
      await Promise.all(
        Array.from({ length: total }, (_, n) =>
          recordAuditEvent(handle.db, event(`t${n}`), new Date()),
        ),
      );
      // One group of the most a group takes, then one of the rest: never one per event.
      assert.equal(commits.count, 2);
      assert.deepEqual(await verifyAuditChain(handle.db), { ok: true, count: total });
      const newestFirst = await listAuditEvents(handle.db, { limit: total });
      assert.deepEqual(
        newestFirst.map((row) => row.target).reverse(),
        Array.from({ length: total }, (_, n) => `t${n}`),
      );
    });

    it("acknowledges an event only once another connection can read it", async () => {
      const [writer, reader] = await open(1);
      assert.ok(writer && reader);
      const appends = Array.from({ length: 10 }, (_, n) =>
        recordAuditEvent(writer.db, event(`seen${n}`), new Date()).then(async () => {
          const rows = await reader.db
            .selectFrom("audit_events")
            .select("target")
            .where("target", "=", `seen${n}`)
            .execute();
          return rows.length;
        }),
      );
      assert.deepEqual(await Promise.all(appends), Array(10).fill(1));
    });

    it("fails every caller of a group that cannot be committed, and stores none of it", async () => {
      const [handle] = await open();
      assert.ok(handle);
      await recordAuditEvent(handle.db, event("before"), new Date());
      await sql`alter table audit_events rename to audit_events_away`.execute(handle.db);
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, n) =>
          recordAuditEvent(handle.db, event(`lost${n}`), new Date()),
        ),
      );
      await sql`alter table audit_events_away rename to audit_events`.execute(handle.db);
      assert.deepEqual(
        results.map((result) => result.status),
        Array(5).fill("rejected"),
      );
      // The handle keeps working afterwards, and the chain never saw the failed group.
      await recordAuditEvent(handle.db, event("after"), new Date());
      assert.deepEqual(await verifyAuditChain(handle.db), { ok: true, count: 2 });
    });

    it("an event that cannot be serialised fails alone, not the events recorded with it", async () => {
      const [handle] = await open();
      assert.ok(handle);
      const bad = {
        actorId: null,
        actorName: "x",
        action: "test.bad",
        target: null,
        address: null,
      };
      const results = await Promise.allSettled([
        recordAuditEvent(handle.db, event("ok1"), new Date()),
        recordAuditEvent(
          handle.db,
          { ...bad, outcome: "success", details: { n: 1n as unknown as number } },
          new Date(),
        ),
        recordAuditEvent(handle.db, event("ok2"), new Date()),
      ]);
      assert.deepEqual(
        results.map((result) => result.status),
        ["fulfilled", "rejected", "fulfilled"],
      );
      assert.deepEqual(await verifyAuditChain(handle.db), { ok: true, count: 2 });
    });

    it("keeps one chain while several handles on one database append groups at once", async () => {
      const opened = await open(2);
      await Promise.all(
        opened.flatMap((handle, h) =>
          Array.from({ length: 30 }, (_, n) =>
            recordAuditEvent(handle.db, event(`h${h}e${n}`), new Date()),
          ),
        ),
      );
      const [first] = opened;
      assert.ok(first);
      assert.deepEqual(await verifyAuditChain(first.db), { ok: true, count: 90 });
    });

    it("an event recorded in a caller's transaction still commits or rolls back with it", async () => {
      const [handle] = await open();
      assert.ok(handle);
      await assert.rejects(
        handle.db.transaction().execute(async (trx) => {
          await recordAuditEvent(trx, event("rolled-back"), new Date());
          throw new Error("abort");
        }),
        /abort/,
      );
      await handle.db.transaction().execute(async (trx) => {
        await recordAuditEvent(trx, event("kept"), new Date());
      });
      const rows = await listAuditEvents(handle.db, { limit: 10 });
      assert.deepEqual(
        rows.map((row) => row.target),
        ["kept"],
      );
    });
  });
}
