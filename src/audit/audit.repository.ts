import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";

/** An audit row as stored. */
export interface AuditRow {
  id: string;
  at: string;
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  target: string | null;
  address: string | null;
  outcome: string;
  details: string | null;
  prev_hash: string;
  hash: string;
}

/** The hash of the newest event, or null when the log is empty. */
export async function findLastAuditHash(db: Kysely<Database>): Promise<string | null> {
  const row = await db
    .selectFrom("audit_events")
    .select("hash")
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.hash ?? null;
}

/** Appends one event. */
export async function insertAuditEvent(db: Kysely<Database>, row: AuditRow): Promise<void> {
  await db.insertInto("audit_events").values(row).execute();
}

/** Events of one action, newest first (tests and the audit pages use it). */
export async function listAuditEvents(
  db: Kysely<Database>,
  filter: { action?: string; limit: number },
): Promise<AuditRow[]> {
  let query = db
    .selectFrom("audit_events")
    .select([
      "id",
      "at",
      "actor_id",
      "actor_name",
      "action",
      "target",
      "address",
      "outcome",
      "details",
      "prev_hash",
      "hash",
    ])
    .orderBy("seq", "desc")
    .limit(filter.limit);
  if (filter.action !== undefined) query = query.where("action", "=", filter.action);
  return query.execute();
}
