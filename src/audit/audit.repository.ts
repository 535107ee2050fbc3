import type { Kysely } from "kysely";
import { precompiled } from "../db/precompiled.js";
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

/** Every stored column of an audit row, in chain order. */
const SEQUENCED_COLUMNS = [
  "seq",
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
] as const;

const selectLastAuditHash = precompiled((db: Kysely<Database>) =>
  db.selectFrom("audit_events").select("hash").orderBy("seq", "desc").limit(1),
);

/** The hash of the newest event, or null when the log is empty. */
export async function findLastAuditHash(db: Kysely<Database>): Promise<string | null> {
  const [row] = await selectLastAuditHash(db);
  return row?.hash ?? null;
}

/** Appends events; `seq` follows their order in `rows` (one multi-row insert). */
export async function insertAuditEvents(
  db: Kysely<Database>,
  rows: readonly AuditRow[],
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto("audit_events")
    .values([...rows])
    .execute();
}

/** Events of one action, newest first (tests and the audit pages use it). */
export async function listAuditEvents(
  db: Kysely<Database>,
  filter: { action?: string; limit: number },
): Promise<AuditRow[]> {
  let query = db
    .selectFrom("audit_events")
    .select(SEQUENCED_COLUMNS.filter((column) => column !== "seq"))
    .orderBy("seq", "desc")
    .limit(filter.limit);
  if (filter.action !== undefined) query = query.where("action", "=", filter.action);
  return query.execute();
}

/** A stored audit row with its position in the chain. */
export interface SequencedAuditRow extends AuditRow {
  seq: number;
}

/**
 * Up to `limit` events with `seq` greater than `afterSeq` (null: from the very first, whatever
 * its number), oldest first: the order of the hash chain.
 */
export async function listAuditRowsAfter(
  db: Kysely<Database>,
  afterSeq: number | null,
  limit: number,
): Promise<SequencedAuditRow[]> {
  let select = db
    .selectFrom("audit_events")
    .select(SEQUENCED_COLUMNS)
    .orderBy("seq", "asc")
    .limit(limit);
  if (afterSeq !== null) select = select.where("seq", ">", afterSeq);
  return select.execute();
}

/** What `GET /audit` filters on; every field is optional except the page size. */
export interface AuditQuery {
  /** Lower-cased actor name (usernames are unique without regard to case). */
  actorKey?: string;
  action?: string;
  /** ISO-8601 UTC, inclusive. */
  since?: string;
  /** ISO-8601 UTC, exclusive. */
  until?: string;
  /** Only events older than this `seq` (the page cursor). */
  beforeSeq?: number;
  limit: number;
}

/** Events matching `query`, newest first, at most `query.limit`. */
export async function queryAuditEvents(
  db: Kysely<Database>,
  query: AuditQuery,
): Promise<SequencedAuditRow[]> {
  let select = db
    .selectFrom("audit_events")
    .select(SEQUENCED_COLUMNS)
    .orderBy("seq", "desc")
    .limit(query.limit);
  if (query.actorKey !== undefined) {
    const actorKey = query.actorKey;
    select = select.where((eb) => eb(eb.fn<string>("lower", ["actor_name"]), "=", actorKey));
  }
  if (query.action !== undefined) select = select.where("action", "=", query.action);
  if (query.since !== undefined) select = select.where("at", ">=", query.since);
  if (query.until !== undefined) select = select.where("at", "<", query.until);
  if (query.beforeSeq !== undefined) select = select.where("seq", "<", query.beforeSeq);
  return select.execute();
}
