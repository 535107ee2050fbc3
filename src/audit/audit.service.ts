import { createHash } from "node:crypto";
import { dialectOf } from "../db/dialect.js";
import type { Database, Db } from "../db/schema.js";
import { randomId } from "../lib/random.js";
import type { AuditQuery, AuditRow, SequencedAuditRow } from "./audit.repository.js";
import { findLastAuditHash, insertAuditEvent, queryAuditEvents } from "./audit.repository.js";

/** The `prev_hash` of the first event. */
export const GENESIS_HASH = "0".repeat(64);

export type AuditOutcome = "success" | "failure" | "denied";

/** One security-relevant event. `details` must never hold a secret, password or token. */
export interface AuditEvent {
  actorId: string | null;
  actorName: string | null;
  action: string;
  target: string | null;
  address: string | null;
  outcome: AuditOutcome;
  details?: Record<string, string | number | boolean | null>;
}

/**
 * Told the action (`login.failure`, `secret.reveal`, …) of an audit event its caller knows
 * to be committed, so that metrics count only what the audit log holds. Must not throw.
 */
export type AuditEventCounter = (action: string) => void;

/**
 * The hash of an event: SHA-256 over the previous hash and the event's fields in a fixed
 * order, so changing, removing or reordering any event breaks every hash after it.
 */
export function hashAuditRow(row: Omit<AuditRow, "hash">): string {
  const fields = [
    row.id,
    row.at,
    row.actor_id,
    row.actor_name,
    row.action,
    row.target,
    row.address,
    row.outcome,
    row.details,
  ];
  return createHash("sha256")
    .update(row.prev_hash)
    .update("\n")
    .update(JSON.stringify(fields))
    .digest("hex");
}

/**
 * Appends an event to the tamper-evident audit chain. Runs in the caller's transaction when
 * given one (so the event commits or rolls back with the change it records), else in its own.
 */
export async function recordAuditEvent(db: Db, event: AuditEvent, now: Date): Promise<void> {
  const append = async (trx: Db): Promise<void> => {
    await dialectOf<Database>(trx).lockAuditChain(trx);
    const prevHash = (await findLastAuditHash(trx)) ?? GENESIS_HASH;
    const row: Omit<AuditRow, "hash"> = {
      id: randomId(),
      at: now.toISOString(),
      actor_id: event.actorId,
      actor_name: event.actorName,
      action: event.action,
      target: event.target,
      address: event.address,
      outcome: event.outcome,
      details: event.details === undefined ? null : JSON.stringify(event.details),
      prev_hash: prevHash,
    };
    await insertAuditEvent(trx, { ...row, hash: hashAuditRow(row) });
  };
  if (db.isTransaction) await append(db);
  else await db.transaction().execute(append);
}

/** One page of audit events, newest first, and where the next (older) page starts. */
export interface AuditPage {
  events: SequencedAuditRow[];
  /** Pass as `beforeSeq` for the next page; null on the last page. */
  nextBeforeSeq: number | null;
}

/**
 * Events matching `query` (actor, action, time window), newest first, `query.limit` per
 * page. Paging is by `seq`, so events appended while a reader pages never shift or repeat
 * what the reader sees next.
 */
export async function listAuditPage(db: Db, query: AuditQuery): Promise<AuditPage> {
  // One extra row says whether another page exists without a count query.
  const rows = await queryAuditEvents(db, { ...query, limit: query.limit + 1 });
  const events = rows.slice(0, query.limit);
  const last = events.at(-1);
  return {
    events,
    nextBeforeSeq: rows.length > query.limit && last !== undefined ? last.seq : null,
  };
}
