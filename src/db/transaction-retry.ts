/**
 * Running a transaction again when the database rolled it back because it lost a race with
 * a concurrent one (a deadlock, a serialization failure, a stale SQLite snapshot).
 */
import { randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Kysely } from "kysely";
import { dialectOf } from "./dialect.js";

/** How many times {@link withTransactionRetry} runs a transaction at most, by default. */
export const TRANSACTION_ATTEMPTS = 4;
/** The first retry waits up to this long, each further one up to twice as long (ms). */
export const TRANSACTION_RETRY_BASE_DELAY_MS = 20;

/** Options for {@link withTransactionRetry}. */
export interface TransactionRetryOptions {
  /** Runs in all, the first included; default {@link TRANSACTION_ATTEMPTS}. */
  attempts?: number;
  /** Default {@link TRANSACTION_RETRY_BASE_DELAY_MS}. */
  baseDelayMs?: number;
  /** Told about each rolled-back run that is about to be retried (`attempt` counts from 1). */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Runs `work` in a new transaction, and again in a fresh one (up to `attempts` runs in all)
 * when the database rolled it back for losing a race with a concurrent transaction, as
 * `Dialect.isRetryableTransactionError` tells. Before retry n it waits a random time up to
 * `baseDelayMs × 2^(n-1)`, so that the contenders do not collide again in step.
 *
 * `work` may therefore run more than once, so all it does must happen inside `trx`: no mail
 * sent, no counter bumped, nothing carried from one run to the next (values computed before
 * the call are fine; ids and timestamps made inside are simply made again).
 *
 * Handed a transaction (`db.isTransaction`), it runs `work` once in it: only the owner of the
 * outermost transaction can run it again, so that owner should be the one to use this.
 *
 * @throws at once any error that is not retryable (a unique violation, a lost connection,
 *   an `AppError` from `work`), and the last error once the runs are used up.
 * @throws {RangeError} when `attempts` is not a positive integer.
 */
export async function withTransactionRetry<DB, T>(
  db: Kysely<DB>,
  work: (trx: Kysely<DB>) => Promise<T>,
  options: TransactionRetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? TRANSACTION_ATTEMPTS;
  if (!Number.isSafeInteger(attempts) || attempts < 1)
    throw new RangeError("attempts must be a positive integer");
  if (db.isTransaction) return work(db);
  const baseDelayMs = options.baseDelayMs ?? TRANSACTION_RETRY_BASE_DELAY_MS;
  const dialect = dialectOf(db);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= attempts || !dialect.isRetryableTransactionError(error)) throw error;
      options.onRetry?.(error, attempt);
      // Full jitter. Not a secret, but the project draws all randomness from node:crypto.
      await sleep(randomInt(0, Math.max(1, Math.ceil(baseDelayMs * 2 ** (attempt - 1)))));
    }
  }
}
