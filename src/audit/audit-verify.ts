import type { Db } from "../db/schema.js";
import { listAuditRowsAfter } from "./audit.repository.js";
import { GENESIS_HASH, hashAuditRow } from "./audit.service.js";

/** Events read per query while verifying; bounds memory whatever the size of the log. */
export const AUDIT_VERIFY_BATCH_SIZE = 1000;

/** The outcome of {@link verifyAuditChain}. */
export type AuditChainVerdict =
  | { ok: true; count: number }
  | {
      ok: false;
      /** The first event whose link or hash does not hold. */
      seq: number;
      id: string;
      reason: string;
      /** Events that verified before it. */
      count: number;
    };

/**
 * Walks the audit log in `seq` order and checks that every event links to the one before
 * it (`prev_hash`, the genesis hash for the first) and that its `hash` is the hash of its own
 * contents (`hashAuditRow`). Stops at the first event that fails and names it:
 *
 * - an edited field or a forged `hash` fails at that event;
 * - a removed event, or events moved to other `seq` values, fail at the first event whose
 *   `prev_hash` no longer names its predecessor;
 * - an edited event whose hash was recomputed to match fails at the next event.
 *
 * What a hash chain cannot show on its own: removal of the newest events, or a rewrite of
 * the whole tail by someone who can also recompute every later hash. Comparing the newest
 * hash with a copy kept elsewhere (a backup, a log shipper) closes that gap.
 *
 * `batchSize` defaults to {@link AUDIT_VERIFY_BATCH_SIZE}. Throws only on database errors.
 */
export async function verifyAuditChain(
  db: Db,
  options: { batchSize?: number } = {},
): Promise<AuditChainVerdict> {
  const batchSize = options.batchSize ?? AUDIT_VERIFY_BATCH_SIZE;
  let previous: { seq: number; hash: string } | null = null;
  let count = 0;
  for (;;) {
    const rows = await listAuditRowsAfter(db, previous?.seq ?? null, batchSize);
    for (const row of rows) {
      const expectedPrev = previous?.hash ?? GENESIS_HASH;
      if (row.prev_hash !== expectedPrev) {
        const reason =
          previous === null
            ? "it is the first event but does not start the chain: earlier events were removed"
            : `it does not follow event #${previous.seq}: an event between them was removed, ` +
              `events were reordered, or event #${previous.seq} was altered and rehashed`;
        return { ok: false, seq: row.seq, id: row.id, reason, count };
      }
      const { seq: _seq, hash, ...content } = row;
      if (hashAuditRow(content) !== hash) {
        return {
          ok: false,
          seq: row.seq,
          id: row.id,
          reason: "its hash does not match its contents: the event or its hash was altered",
          count,
        };
      }
      previous = { seq: row.seq, hash };
      count += 1;
    }
    if (rows.length < batchSize) return { ok: true, count };
  }
}
