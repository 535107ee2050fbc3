import type { Kysely, Selectable } from "kysely";
import type { Database, PasskeysTable, WebauthnChallengesTable } from "../db/schema.js";

export type PasskeyRow = Selectable<PasskeysTable>;
export type ChallengeRow = Selectable<WebauthnChallengesTable>;

export async function insertPasskey(
  db: Kysely<Database>,
  row: Omit<PasskeyRow, "counter"> & { counter: number },
): Promise<void> {
  await db.insertInto("passkeys").values(row).execute();
}

export async function listUserPasskeys(
  db: Kysely<Database>,
  userId: string,
): Promise<PasskeyRow[]> {
  return db
    .selectFrom("passkeys")
    .selectAll()
    .where("user_id", "=", userId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

export async function countUserPasskeys(db: Kysely<Database>, userId: string): Promise<number> {
  const row = await db
    .selectFrom("passkeys")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("user_id", "=", userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findPasskey(db: Kysely<Database>, id: string): Promise<PasskeyRow | null> {
  return (
    (await db.selectFrom("passkeys").selectAll().where("id", "=", id).executeTakeFirst()) ?? null
  );
}

/**
 * Records a verified use. The counter only moves forward: the update is conditional on the
 * stored value being the one the verification compared against, so two concurrent uses of a
 * cloned authenticator cannot both pass. Returns false when another use won.
 */
export async function recordPasskeyUse(
  db: Kysely<Database>,
  id: string,
  expectedCounter: number,
  newCounter: number,
  usedAt: string,
): Promise<boolean> {
  const result = await db
    .updateTable("passkeys")
    .set({ counter: newCounter, last_used_at: usedAt })
    .where("id", "=", id)
    .where("counter", "=", expectedCounter)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function deleteUserPasskey(
  db: Kysely<Database>,
  userId: string,
  id: string,
): Promise<PasskeyRow | null> {
  const row = await db
    .deleteFrom("passkeys")
    .where("user_id", "=", userId)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

export async function insertChallenge(db: Kysely<Database>, row: ChallengeRow): Promise<void> {
  await db.insertInto("webauthn_challenges").values(row).execute();
}

/**
 * Takes a challenge out of the store: deleted in the same statement that reads it, so it can
 * be used once however many requests race for it. Null when unknown (or already used).
 */
export async function takeChallenge(
  db: Kysely<Database>,
  id: string,
  purpose: ChallengeRow["purpose"],
): Promise<ChallengeRow | null> {
  const row = await db
    .deleteFrom("webauthn_challenges")
    .where("id", "=", id)
    .where("purpose", "=", purpose)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** Drops challenges past their expiry (run whenever a new one is issued). */
export async function deleteExpiredChallenges(db: Kysely<Database>, now: string): Promise<void> {
  await db.deleteFrom("webauthn_challenges").where("expires_at", "<", now).execute();
}
