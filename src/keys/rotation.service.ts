/**
 * Master key rotation (SPEC §6 `keys rotate`, issue 4 point 7). The operator puts a new key
 * first in `MASTER_KEY` on every instance, keeping the old ones after it, then runs this:
 * every data key still wrapped by an old key is rewrapped under the new one (or, with
 * `reencrypt`, replaced along with the ciphertext). Afterwards the old keys can be removed.
 *
 * - **Online**: rows are read in id order in batches outside any transaction, resealed in
 *   memory, then written in one short transaction per batch, each row only if it is still
 *   exactly what was read (`*IfUnchanged`). A concurrent writer (a shredding, another
 *   rotation) therefore always wins; its row is left alone and counted as skipped. Readers
 *   never fail: every row is wholly old or wholly new, and both keys are in the keyring.
 * - **Resumable**: the work list is "rows not yet wholly under the current key", in both
 *   modes. An interrupted run (Ctrl-C, a crash: the open batch rolls back) is finished by
 *   running it again, which skips what is done at the cost of reading it. That is also why
 *   `reencrypt` only re-encrypts rows not under the current key: to re-encrypt everything,
 *   make a new master key current first — which a suspected key compromise calls for anyway.
 */
import { setImmediate as nextMacrotask } from "node:timers/promises";
import type { AuditOutcome } from "../audit/audit.service.js";
import { recordAuditEvent } from "../audit/audit.service.js";
import type { MasterKey } from "../config/keys.js";
import { DecryptionError } from "../crypto/envelope.js";
import type { Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import { countSecretVersionsByKeyId } from "./rotation.repository.js";
import type { RotationSource } from "./rotation-sources.js";
import { ROTATION_SOURCES } from "./rotation-sources.js";

/** Rows read, resealed and written per transaction by default. */
export const ROTATION_BATCH_SIZE = 500;

export interface RotateKeysOptions {
  /** Also replace data keys and ciphertexts (same plaintext), not only rewrap the keys. */
  reencrypt: boolean;
  /** Rows per batch and transaction; default {@link ROTATION_BATCH_SIZE}. */
  batchSize?: number;
  /**
   * Called (and awaited) after each committed batch with the rows examined so far and the
   * expected total (which grows if rows are added meanwhile).
   */
  onProgress?: (done: number, total: number) => void | Promise<void>;
  /** When aborted, the run stops after the current batch and reports `interrupted`. */
  signal?: AbortSignal;
  /** Who to record in the audit event; default the anonymous actor `system`. */
  actor?: { id: string | null; name: string | null; address: string | null };
  /** The clock for the audit event; default the system clock. */
  now?: () => Date;
}

export interface RotateKeysResult {
  /** The id of the current master key everything was moved under. */
  keyId: string;
  /** Rows written under the current key. */
  rewrapped: number;
  /** Rows already under the current key, or changed by another writer while rotating. */
  skipped: number;
  /** Ids of rows that could not be decrypted (altered or corrupt); they were left as they were. */
  failed: string[];
  /** Rows there were to examine when the run started. */
  total: number;
  /**
   * Rows still under another key when the run ended: `failed` ones, and any written
   * meanwhile by an instance that does not have the new key first yet. The old keys must
   * stay in the keyring until this is 0.
   */
  remaining: number;
  /** True when `signal` stopped the run early; run again to finish. */
  interrupted: boolean;
}

/** The keyring cannot rotate this database: a key still in use is missing. */
export class KeyRotationError extends Error {
  override name = "KeyRotationError";
}

/**
 * Moves every sealed row (secret versions, TOTP secrets) under the current master key,
 * batch by batch, and records a `keys.rotate` audit event with the counts (also when
 * interrupted or failing). See the module comment for the guarantees.
 *
 * @throws KeyRotationError when `keyring` lacks a key that still wraps secret versions.
 * @throws RangeError when `batchSize` is not a positive integer; `Error` on an empty keyring.
 */
export async function rotateKeys(
  db: Db,
  keyring: readonly MasterKey[],
  options: RotateKeysOptions,
): Promise<RotateKeysResult> {
  const current = keyring[0];
  if (current === undefined) throw new Error("the master keyring is empty");
  const batchSize = options.batchSize ?? ROTATION_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new RangeError("batchSize must be a positive integer");
  await assertKeyringCoversSecretVersions(db, keyring);

  const counts = await Promise.all(ROTATION_SOURCES.map((source) => source.count(db)));
  const total = counts.reduce((sum, count) => sum + count, 0);
  const result: RotateKeysResult = {
    keyId: current.id,
    rewrapped: 0,
    skipped: 0,
    failed: [],
    total,
    remaining: 0,
    interrupted: false,
  };
  const progress = { done: 0 };
  const record = (outcome: AuditOutcome): Promise<void> =>
    recordRotation(db, options, result, outcome, progress.done);
  try {
    for (const source of ROTATION_SOURCES) {
      if (!(await walkSource(db, keyring, source, { ...options, batchSize }, result, progress)))
        break;
    }
    for (const source of ROTATION_SOURCES)
      result.remaining += await source.countNotCurrent(db, keyring);
  } catch (error) {
    // Best effort: the database may be what failed. The original error matters more.
    await record("failure").catch(() => {});
    throw error;
  }
  const clean = !result.interrupted && result.failed.length === 0 && result.remaining === 0;
  await record(clean ? "success" : "failure");
  return result;
}

/**
 * Rotates one source batch by batch, adding to `result`. False when `options.signal` stopped
 * it (then `result.interrupted` is set).
 */
async function walkSource<Row extends { id: string }>(
  db: Db,
  keyring: readonly MasterKey[],
  source: RotationSource<Row>,
  options: RotateKeysOptions & { batchSize: number },
  result: RotateKeysResult,
  progress: { done: number },
): Promise<boolean> {
  let afterId: string | null = null;
  for (;;) {
    if (options.signal?.aborted === true) {
      result.interrupted = true;
      return false;
    }
    const batch: PreparedRotationBatch<Row> = await prepareRotationBatch(db, keyring, source, {
      afterId,
      limit: options.batchSize,
      reencrypt: options.reencrypt,
    });
    const { written, conflicts } = await writeRotationBatch(db, batch);
    result.rewrapped += written;
    result.skipped += batch.current + conflicts;
    result.failed.push(...batch.failed);
    progress.done += batch.examined;
    await options.onProgress?.(progress.done, Math.max(result.total, progress.done));
    // SQLite's driver is synchronous, so without this the whole walk would run in one turn of
    // the event loop: no signal (Ctrl-C) would be seen, and no other work of the process done.
    await nextMacrotask();
    if (batch.lastId === null || batch.examined < options.batchSize) return true;
    afterId = batch.lastId;
  }
}

/** One batch read and resealed in memory, not yet written. */
export interface PreparedRotationBatch<Row extends { id: string }> {
  source: RotationSource<Row>;
  /** Rows read. */
  examined: number;
  /** The id to continue after; null when nothing was read. */
  lastId: string | null;
  /** Rows already under the current key. */
  current: number;
  failed: string[];
  writes: Array<{ expected: Row; next: Row }>;
}

/**
 * Step one of a batch: reads up to `limit` rows of `source` after `afterId` and reseals
 * those not under the current key. Exported with {@link writeRotationBatch} so a test can
 * change a row between the two steps, as a concurrent writer would.
 */
export async function prepareRotationBatch<Row extends { id: string }>(
  db: Db,
  keyring: readonly MasterKey[],
  source: RotationSource<Row>,
  options: { afterId: string | null; limit: number; reencrypt: boolean },
): Promise<PreparedRotationBatch<Row>> {
  const rows = await source.listAfter(db, options.afterId, options.limit);
  const batch: PreparedRotationBatch<Row> = {
    source,
    examined: rows.length,
    lastId: rows.at(-1)?.id ?? null,
    current: 0,
    failed: [],
    writes: [],
  };
  for (const row of rows) {
    try {
      if (!source.needsWork(keyring, row)) {
        batch.current += 1;
        continue;
      }
      batch.writes.push({
        expected: row,
        next: source.reseal(keyring, row, { reencrypt: options.reencrypt }),
      });
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      batch.failed.push(row.id);
    }
  }
  return batch;
}

/**
 * Step two: writes a prepared batch in one transaction, each row only if unchanged since it
 * was read. If anything throws, the whole batch rolls back and every row stays as it was.
 * The batch locks its rows in id order, a writer trimming or shredding versions in another,
 * so on PostgreSQL they can deadlock: the batch then runs again (each write re-checks its
 * row, so a rerun is as safe as the first run).
 */
export async function writeRotationBatch<Row extends { id: string }>(
  db: Db,
  batch: PreparedRotationBatch<Row>,
): Promise<{ written: number; conflicts: number }> {
  if (batch.writes.length === 0) return { written: 0, conflicts: 0 };
  const work = async (trx: Db): Promise<number> => {
    let written = 0;
    for (const { expected, next } of batch.writes) {
      if (await batch.source.writeIfUnchanged(trx, expected, next)) written += 1;
    }
    return written;
  };
  const written = await withTransactionRetry(db, work);
  return { written, conflicts: batch.writes.length - written };
}

async function assertKeyringCoversSecretVersions(
  db: Db,
  keyring: readonly MasterKey[],
): Promise<void> {
  const known = new Set(keyring.map((key) => key.id));
  const missing = (await countSecretVersionsByKeyId(db)).filter(({ keyId }) => !known.has(keyId));
  if (missing.length === 0) return;
  const list = missing.map(({ keyId, count }) => `"${keyId}" (${count} secret versions)`);
  throw new KeyRotationError(
    `MASTER_KEY lacks ${list.join(", ")}: put the old key back after the current one and run again`,
  );
}

function recordRotation(
  db: Db,
  options: RotateKeysOptions,
  result: RotateKeysResult,
  outcome: AuditOutcome,
  done: number,
): Promise<void> {
  const actor = options.actor ?? { id: null, name: "system", address: null };
  return recordAuditEvent(
    db,
    {
      actorId: actor.id,
      actorName: actor.name,
      action: "keys.rotate",
      target: result.keyId,
      address: actor.address,
      outcome,
      details: {
        mode: options.reencrypt ? "reencrypt" : "rewrap",
        examined: done,
        total: result.total,
        rewrapped: result.rewrapped,
        skipped: result.skipped,
        failed: result.failed.length,
        remaining: result.remaining,
        interrupted: result.interrupted,
      },
    },
    (options.now ?? (() => new Date()))(),
  );
}
