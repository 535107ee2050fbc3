import { type Kysely, sql } from "kysely";
import type { UserRow } from "../accounts/users.repository.js";
import { dialectOf } from "../db/dialect.js";
import type { Database, SystemRole } from "../db/schema.js";

/**
 * `text` as a LIKE pattern body that matches it literally: `%`, `_` and the escape character
 * `!` itself are escaped with `!`, so a search for `a_b` does not also find `axb`. (Not the
 * backslash: its meaning inside SQL string literals differs between engines and settings.)
 */
export function escapeLikePattern(text: string): string {
  return text.replace(/[!%_]/g, (character) => `!${character}`);
}

/** One page of the user list, in `username_key` order. */
export interface UserPageQuery {
  /** Substring of the username key or e-mail key, already lower-cased; null: everyone. */
  search: string | null;
  role: SystemRole | null;
  disabled: boolean | null;
  /** Only users whose `username_key` sorts after this (the previous page's last). */
  afterKey: string | null;
  limit: number;
}

/**
 * Users matching the filter, at most `limit`. The search text is a bound parameter inside a
 * LIKE pattern with its wildcards escaped; both columns hold lower-cased keys, so the match
 * is case-insensitive on SQLite and PostgreSQL alike.
 */
export async function selectUserPage(
  db: Kysely<Database>,
  page: UserPageQuery,
): Promise<UserRow[]> {
  let query = db.selectFrom("users").selectAll().orderBy("username_key").limit(page.limit);
  if (page.search !== null) {
    const pattern = `%${escapeLikePattern(page.search)}%`;
    query = query.where((eb) =>
      eb.or([
        sql<boolean>`${eb.ref("username_key")} like ${pattern} escape '!'`,
        sql<boolean>`${eb.ref("email_key")} like ${pattern} escape '!'`,
      ]),
    );
  }
  if (page.role !== null) query = query.where("role", "=", page.role);
  if (page.disabled === true) query = query.where("disabled_at", "is not", null);
  if (page.disabled === false) query = query.where("disabled_at", "is", null);
  if (page.afterKey !== null) query = query.where("username_key", ">", page.afterKey);
  return query.execute();
}

/** The user with this username key, its row locked until the transaction ends (PostgreSQL). */
export async function findUserByUsernameKeyForUpdate(
  db: Kysely<Database>,
  key: string,
): Promise<UserRow | null> {
  const query = db.selectFrom("users").selectAll().where("username_key", "=", key);
  return (await dialectOf<Database>(db).lockForUpdate(query).executeTakeFirst()) ?? null;
}

/**
 * Ids of the enabled administrators, every one of their rows locked until the transaction
 * ends: two administrators demoting each other at once are serialised, and the second sees
 * the first's change (PostgreSQL re-checks locked rows), so the count cannot drop to zero.
 * Rows are locked in id order, and callers take this lock before any other row lock, so two
 * such transactions cannot deadlock.
 */
export async function lockEnabledAdministratorIds(db: Kysely<Database>): Promise<string[]> {
  const query = db
    .selectFrom("users")
    .select("id")
    .where("role", "=", "admin")
    .where("disabled_at", "is", null)
    .orderBy("id");
  const rows = await dialectOf<Database>(db).lockForUpdate(query).execute();
  return rows.map((row) => row.id);
}

/**
 * Every owner membership of the vaults `userId` owns (theirs and their co-owners'), locked
 * until the transaction ends, so a co-owner leaving at the same moment is serialised with
 * the caller's decision.
 */
export async function lockOwnersOfVaultsOwnedBy(
  db: Kysely<Database>,
  userId: string,
): Promise<Array<{ vault_id: string; user_id: string }>> {
  const query = db
    .selectFrom("vault_members")
    .select(["vault_id", "user_id"])
    .where("role", "=", "owner")
    .where("vault_id", "in", (eb) =>
      eb
        .selectFrom("vault_members as own")
        .select("own.vault_id")
        .where("own.user_id", "=", userId)
        .where("own.role", "=", "owner"),
    );
  return dialectOf<Database>(db).lockForUpdate(query).execute();
}

/**
 * Deletes a user. The foreign keys cascade to their sessions, API tokens, vault memberships,
 * recovery codes and reset tokens; audit events keep the id and name (they have no key).
 */
export async function deleteUserById(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom("users").where("id", "=", id).execute();
}
