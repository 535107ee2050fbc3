import { sql } from "kysely";
import type { SequencedAuditRow } from "../../src/audit/audit.repository.js";
import { recordAuditEvent } from "../../src/audit/audit.service.js";
import { dialectOf } from "../../src/db/dialect.js";
import type { Db } from "../../src/db/schema.js";

/** Appends `count` ordinary events, a second apart, through the real `recordAuditEvent`. */
export async function seedAuditEvents(db: Db, count: number, start = new Date()): Promise<void> {
  for (let i = 0; i < count; i++) {
    await recordAuditEvent(
      db,
      {
        actorId: null,
        actorName: i % 2 === 0 ? "alice" : "bob",
        action: i % 3 === 0 ? "login.success" : "secret.reveal",
        target: `target-${i}`,
        address: "192.0.2.1",
        outcome: "success",
        details: { index: i },
      },
      new Date(start.getTime() + i * 1000),
    );
  }
}

/** Every event in chain order. */
export async function readAuditRows(db: Db): Promise<SequencedAuditRow[]> {
  return db.selectFrom("audit_events").selectAll().orderBy("seq", "asc").execute();
}

/**
 * Gives two events each other's `seq`, as someone reordering the log would. PostgreSQL's
 * `generated always` identity refuses an UPDATE of `seq`, so there the rows are deleted and
 * put back with `overriding system value` — what an attacker with table rights can do too.
 */
export async function swapSeq(db: Db, a: SequencedAuditRow, b: SequencedAuditRow): Promise<void> {
  await db.deleteFrom("audit_events").where("seq", "in", [a.seq, b.seq]).execute();
  for (const [row, seq] of [
    [a, b.seq],
    [b, a.seq],
  ] as const) {
    const values = { ...row, seq };
    if (dialectOf(db).name === "postgres") {
      await sql`insert into audit_events
        (seq, id, at, actor_id, actor_name, action, target, address, outcome, details, prev_hash, hash)
        overriding system value values
        (${values.seq}, ${values.id}, ${values.at}, ${values.actor_id}, ${values.actor_name},
         ${values.action}, ${values.target}, ${values.address}, ${values.outcome},
         ${values.details}, ${values.prev_hash}, ${values.hash})`.execute(db);
    } else {
      await sql`insert into audit_events
        (seq, id, at, actor_id, actor_name, action, target, address, outcome, details, prev_hash, hash)
        values
        (${values.seq}, ${values.id}, ${values.at}, ${values.actor_id}, ${values.actor_name},
         ${values.action}, ${values.target}, ${values.address}, ${values.outcome},
         ${values.details}, ${values.prev_hash}, ${values.hash})`.execute(db);
    }
  }
}
