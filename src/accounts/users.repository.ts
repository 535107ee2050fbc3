import type { Kysely, Selectable } from "kysely";
import type { Database, UsersTable } from "../db/schema.js";

export type UserRow = Selectable<UsersTable>;

/** The user whose username or e-mail key matches `key` (login accepts either). */
export async function findUserByLoginKey(
  db: Kysely<Database>,
  key: string,
): Promise<UserRow | null> {
  const row = await db
    .selectFrom("users")
    .selectAll()
    .where((eb) => eb.or([eb("username_key", "=", key), eb("email_key", "=", key)]))
    .executeTakeFirst();
  return row ?? null;
}

export async function findUserById(db: Kysely<Database>, id: string): Promise<UserRow | null> {
  return (await db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst()) ?? null;
}

export async function findUserByUsernameKey(
  db: Kysely<Database>,
  key: string,
): Promise<UserRow | null> {
  return (
    (await db.selectFrom("users").selectAll().where("username_key", "=", key).executeTakeFirst()) ??
    null
  );
}

export async function findUserByEmailKey(
  db: Kysely<Database>,
  key: string,
): Promise<UserRow | null> {
  return (
    (await db.selectFrom("users").selectAll().where("email_key", "=", key).executeTakeFirst()) ??
    null
  );
}

export interface NewUser {
  id: string;
  username: string;
  username_key: string;
  email: string;
  email_key: string;
  password_hash: string;
  role: UserRow["role"];
  created_at: string;
  updated_at: string;
}

/** Inserts a user; a duplicate username or e-mail surfaces as the driver's unique violation. */
export async function insertUser(db: Kysely<Database>, user: NewUser): Promise<void> {
  await db.insertInto("users").values(user).execute();
}

/**
 * Which of `usernameKeys` and `emailKeys` existing users already have. Queried in chunks, so
 * any number of keys stays within the engines' limits on bound parameters.
 */
export async function findTakenUserKeys(
  db: Kysely<Database>,
  usernameKeys: readonly string[],
  emailKeys: readonly string[],
): Promise<{ usernameKeys: Set<string>; emailKeys: Set<string> }> {
  const taken = { usernameKeys: new Set<string>(), emailKeys: new Set<string>() };
  const chunk = 500;
  for (let i = 0; i < usernameKeys.length; i += chunk) {
    const rows = await db
      .selectFrom("users")
      .select("username_key")
      .where("username_key", "in", usernameKeys.slice(i, i + chunk))
      .execute();
    for (const row of rows) taken.usernameKeys.add(row.username_key);
  }
  for (let i = 0; i < emailKeys.length; i += chunk) {
    const rows = await db
      .selectFrom("users")
      .select("email_key")
      .where("email_key", "in", emailKeys.slice(i, i + chunk))
      .execute();
    for (const row of rows) taken.emailKeys.add(row.email_key);
  }
  return taken;
}

/** Updates the listed columns of one user. */
export async function updateUser(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Omit<UserRow, "id" | "created_at">> & { updated_at: string },
): Promise<void> {
  await db.updateTable("users").set(changes).where("id", "=", id).execute();
}

/** Counts a failed sign-in against an existing account (shown to the user later). */
export async function incrementFailedLogins(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable("users")
    .set((eb) => ({ failed_login_count: eb("failed_login_count", "+", 1) }))
    .where("id", "=", id)
    .execute();
}

/** How many users hold `role` and are not disabled. */
export async function countActiveUsersWithRole(
  db: Kysely<Database>,
  role: UserRow["role"],
): Promise<number> {
  const row = await db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("role", "=", role)
    .where("disabled_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function replaceRecoveryCodes(
  db: Kysely<Database>,
  userId: string,
  rows: Array<{ id: string; code_hash: string; created_at: string }>,
): Promise<void> {
  await db.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
  if (rows.length > 0) {
    await db
      .insertInto("recovery_codes")
      .values(rows.map((row) => ({ ...row, user_id: userId })))
      .execute();
  }
}

/** Marks an unused recovery code used; true when it was there to use (a second use finds none). */
export async function consumeRecoveryCode(
  db: Kysely<Database>,
  userId: string,
  codeHash: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable("recovery_codes")
    .set({ used_at: now })
    .where("user_id", "=", userId)
    .where("code_hash", "=", codeHash)
    .where("used_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deleteRecoveryCodes(db: Kysely<Database>, userId: string): Promise<void> {
  await db.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
}

/** Pending self-service registrations. */
export async function insertPendingRegistration(
  db: Kysely<Database>,
  row: Database["pending_registrations"],
): Promise<void> {
  await db.insertInto("pending_registrations").values(row).execute();
}

export async function takePendingRegistration(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<Database["pending_registrations"] | null> {
  const row = await db
    .selectFrom("pending_registrations")
    .selectAll()
    .where("token_hash", "=", tokenHash)
    .executeTakeFirst();
  if (row === undefined) return null;
  await db.deleteFrom("pending_registrations").where("token_hash", "=", tokenHash).execute();
  return row;
}

/** Password-reset tokens. */
export async function insertResetToken(
  db: Kysely<Database>,
  row: { token_hash: string; user_id: string; created_at: string; expires_at: string },
): Promise<void> {
  await db.insertInto("password_reset_tokens").values(row).execute();
}

export async function findResetToken(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<Database["password_reset_tokens"] | null> {
  return (
    (await db
      .selectFrom("password_reset_tokens")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst()) ?? null
  );
}

/** Marks every outstanding reset token of a user used: one reset ends all links. */
export async function useAllResetTokens(
  db: Kysely<Database>,
  userId: string,
  now: string,
): Promise<void> {
  await db
    .updateTable("password_reset_tokens")
    .set({ used_at: now })
    .where("user_id", "=", userId)
    .where("used_at", "is", null)
    .execute();
}

/**
 * Records the TOTP time step just used, only if it is later than the last one: of two uses
 * of the same code (a replay, or a race) only one updates the row. True when it did.
 */
export async function recordTotpStep(
  db: Kysely<Database>,
  userId: string,
  step: number,
): Promise<boolean> {
  const result = await db
    .updateTable("users")
    .set({ totp_last_step: step })
    .where("id", "=", userId)
    .where((eb) => eb.or([eb("totp_last_step", "is", null), eb("totp_last_step", "<", step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Marks one reset link used, only if it was unused: of two concurrent uses one wins. */
export async function spendResetToken(
  db: Kysely<Database>,
  tokenHash: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable("password_reset_tokens")
    .set({ used_at: now })
    .where("token_hash", "=", tokenHash)
    .where("used_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
