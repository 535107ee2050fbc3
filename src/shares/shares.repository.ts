/** All SQL of share links (the `shares` table of 0001_initial). */
import type { Kysely, Selectable } from "kysely";
import type { Database, SharesTable } from "../db/schema.js";

export type ShareRow = Selectable<SharesTable>;

/** A share link as its creator and the vault's owners see it: never the ciphertext. */
export interface ShareSummary {
  id: string;
  vault_id: string;
  secret_name: string;
  max_views: number;
  view_count: number;
  expires_at: string;
  created_by: string;
  /** The creator's username; null when the account is gone. */
  created_by_name: string | null;
  created_at: string;
}

export async function insertShare(db: Kysely<Database>, row: ShareRow): Promise<void> {
  await db.insertInto("shares").values(row).execute();
}

/**
 * Counts one view of a link that is neither used up nor expired at `now`, in one statement,
 * so two concurrent opens can never both take the last view (PostgreSQL re-checks the
 * condition on the locked row; SQLite runs one write at a time). Returns the row after the
 * count (with the ciphertext), or null when no view was left to take.
 */
export async function takeShareView(
  db: Kysely<Database>,
  id: string,
  now: string,
): Promise<ShareRow | null> {
  const row = await db
    .updateTable("shares")
    .set((eb) => ({ view_count: eb("view_count", "+", 1) }))
    .where("id", "=", id)
    .where((eb) => eb("view_count", "<", eb.ref("max_views")))
    .where("expires_at", ">", now)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** A link's row without its ciphertext (null when there is none). */
export async function findShareSummary(
  db: Kysely<Database>,
  id: string,
): Promise<ShareSummary | null> {
  const row = await summaries(db).where("shares.id", "=", id).executeTakeFirst();
  return row ?? null;
}

function summaries(db: Kysely<Database>) {
  return db
    .selectFrom("shares")
    .leftJoin("users", "users.id", "shares.created_by")
    .select([
      "shares.id",
      "shares.vault_id",
      "shares.secret_name",
      "shares.max_views",
      "shares.view_count",
      "shares.expires_at",
      "shares.created_by",
      "users.username as created_by_name",
      "shares.created_at",
    ]);
}

/**
 * Live links to one secret, newest first; only `createdBy`'s when given. At most `limit`.
 */
export async function listShares(
  db: Kysely<Database>,
  filter: { vaultId: string; secretName: string; createdBy: string | null; limit: number },
): Promise<ShareSummary[]> {
  let query = summaries(db)
    .where("shares.vault_id", "=", filter.vaultId)
    .where("shares.secret_name", "=", filter.secretName)
    .orderBy("shares.created_at", "desc")
    .orderBy("shares.id")
    .limit(filter.limit);
  if (filter.createdBy !== null) query = query.where("shares.created_by", "=", filter.createdBy);
  return query.execute();
}

/** How many live links `userId` has made (a bound on what one account can store). */
export async function countSharesBy(db: Kysely<Database>, userId: string): Promise<number> {
  const row = await db
    .selectFrom("shares")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("created_by", "=", userId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Deletes one link (its ciphertext with it). True when there was one. */
export async function deleteShare(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db.deleteFrom("shares").where("id", "=", id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Deletes links expired at `now` (at most `limit`), returning what was deleted with the
 * vault's slug, for the audit log.
 */
export async function deleteExpiredShares(
  db: Kysely<Database>,
  now: string,
  limit: number,
): Promise<Array<{ id: string; secret_name: string; vault_slug: string }>> {
  const expired = await db
    .selectFrom("shares")
    .innerJoin("vaults", "vaults.id", "shares.vault_id")
    .select(["shares.id", "shares.secret_name", "vaults.slug as vault_slug"])
    .where("shares.expires_at", "<=", now)
    .orderBy("shares.expires_at")
    .limit(limit)
    .execute();
  if (expired.length === 0) return [];
  await db
    .deleteFrom("shares")
    .where(
      "id",
      "in",
      expired.map((row) => row.id),
    )
    .execute();
  return expired;
}

/** The slug of a vault by id (for audit targets), or null. */
export async function findVaultSlug(db: Kysely<Database>, vaultId: string): Promise<string | null> {
  const row = await db
    .selectFrom("vaults")
    .select("slug")
    .where("id", "=", vaultId)
    .executeTakeFirst();
  return row?.slug ?? null;
}
