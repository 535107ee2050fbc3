import { createHash } from "node:crypto";
import { dialectOf } from "../db/dialect.js";
import type { Database, Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import { randomId } from "../lib/random.js";
import type { AuditQuery, AuditRow, SequencedAuditRow } from "./audit.repository.js";
import { findLastAuditHash, insertAuditEvents, queryAuditEvents } from "./audit.repository.js";

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

/** Most events one group commit appends; later ones wait for the next (bounds the statement). */
export const AUDIT_BATCH_MAX_EVENTS = 64;

/** An event whose stored fields are fixed; the chain fields are added when it is appended. */
type PreparedEvent = Omit<AuditRow, "id" | "prev_hash" | "hash">;

function prepareEvent(event: AuditEvent, now: Date): PreparedEvent {
  return {
    at: now.toISOString(),
    actor_id: event.actorId,
    actor_name: event.actorName,
    action: event.action,
    target: event.target,
    address: event.address,
    outcome: event.outcome,
    details: event.details === undefined ? null : JSON.stringify(event.details),
  };
}

/**
 * Appends events, in the given order, to the end of the chain in transaction `trx`: takes
 * the chain's lock (PostgreSQL; held until `trx` ends), reads the last hash and links each
 * event to the one before it.
 */
async function appendToChain(trx: Db, events: readonly PreparedEvent[]): Promise<void> {
  await dialectOf<Database>(trx).lockAuditChain(trx);
  let prevHash = (await findLastAuditHash(trx)) ?? GENESIS_HASH;
  const rows: AuditRow[] = [];
  for (const event of events) {
    const row: Omit<AuditRow, "hash"> = { id: randomId(), ...event, prev_hash: prevHash };
    prevHash = hashAuditRow(row);
    rows.push({ ...row, hash: prevHash });
  }
  await insertAuditEvents(trx, rows);
}

interface PendingAppend {
  event: PreparedEvent;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit of the audit events recorded outside any transaction (reveals, logins, …):
 * the events that arrive while the event loop is busy, or while the previous group is being
 * written, are appended together in ONE transaction — one chain lock, one read of the last
 * hash, one insert, one commit (one fsync) for all of them. Each caller's promise settles only
 * once that transaction has committed (or failed: then every caller in the group gets the
 * error), so nothing acknowledged can lack its committed event, and the chain's order is the
 * order of the calls. One group is written at a time per database handle; across handles and
 * processes the chain's lock orders them as before.
 */
class AuditGroupCommitter {
  readonly #db: Db;
  #pending: PendingAppend[] = [];
  /** A write is scheduled or running. */
  #busy = false;

  constructor(db: Db) {
    this.#db = db;
  }

  append(event: PreparedEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ event, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#busy) return;
    this.#busy = true;
    // A macrotask later, not a microtask: requests whose sockets are already readable get to
    // queue their events first, so a busy server writes them in one transaction.
    setImmediate(() => void this.#write());
  }

  async #write(): Promise<void> {
    const group = this.#pending.splice(0, AUDIT_BATCH_MAX_EVENTS);
    try {
      // Rows (ids, links, hashes) are made inside the transaction, so a rerun makes them again.
      await withTransactionRetry(this.#db, (trx) =>
        appendToChain(
          trx,
          group.map((pending) => pending.event),
        ),
      );
      for (const pending of group) pending.resolve();
    } catch (error) {
      for (const pending of group) pending.reject(error);
    } finally {
      this.#busy = false;
      if (this.#pending.length > 0) this.#schedule();
    }
  }
}

const committers = new WeakMap<Db, AuditGroupCommitter>();

/**
 * Appends an event to the tamper-evident audit chain. In the caller's transaction when given
 * one (so the event commits or rolls back with the change it records). Otherwise in a
 * transaction of its own, shared with the other events recorded at the same moment through
 * the same handle (a group commit, see {@link AuditGroupCommitter}); either way the promise
 * resolves only once the event is committed, and rejects when it could not be.
 */
export async function recordAuditEvent(db: Db, event: AuditEvent, now: Date): Promise<void> {
  // Serialised here, so an event that cannot be stored fails alone, not its whole group.
  const prepared = prepareEvent(event, now);
  if (db.isTransaction) {
    await appendToChain(db, [prepared]);
    return;
  }
  let committer = committers.get(db);
  if (committer === undefined) {
    committer = new AuditGroupCommitter(db);
    committers.set(db, committer);
  }
  await committer.append(prepared);
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
