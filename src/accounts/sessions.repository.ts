import type { Kysely, Selectable } from "kysely";
import type { Database, SessionsTable } from "../db/schema.js";

export type SessionRow = Selectable<SessionsTable>;

export async function insertSession(db: Kysely<Database>, row: SessionRow): Promise<void> {
  await db.insertInto("sessions").values(row).execute();
}

export async function findSession(db: Kysely<Database>, id: string): Promise<SessionRow | null> {
  return (
    (await db.selectFrom("sessions").selectAll().where("id", "=", id).executeTakeFirst()) ?? null
  );
}

export async function touchSession(
  db: Kysely<Database>,
  id: string,
  lastSeenAt: string,
  idleExpiresAt: string,
): Promise<void> {
  await db
    .updateTable("sessions")
    .set({ last_seen_at: lastSeenAt, idle_expires_at: idleExpiresAt })
    .where("id", "=", id)
    .execute();
}

export async function listUserSessions(
  db: Kysely<Database>,
  userId: string,
  now: string,
): Promise<SessionRow[]> {
  return db
    .selectFrom("sessions")
    .selectAll()
    .where("user_id", "=", userId)
    .where("expires_at", ">", now)
    .where("idle_expires_at", ">", now)
    .orderBy("last_seen_at", "desc")
    .execute();
}

export async function deleteSession(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom("sessions").where("id", "=", id).execute();
}

/** Deletes one session of a user; false when the user has no such session. */
export async function deleteUserSession(
  db: Kysely<Database>,
  userId: string,
  id: string,
): Promise<boolean> {
  const result = await db
    .deleteFrom("sessions")
    .where("user_id", "=", userId)
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Deletes every session of a user except `keepId` (null: all of them). */
export async function deleteUserSessions(
  db: Kysely<Database>,
  userId: string,
  keepId: string | null,
): Promise<number> {
  let query = db.deleteFrom("sessions").where("user_id", "=", userId);
  if (keepId !== null) query = query.where("id", "!=", keepId);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Deletes every session of every user except `keepId` (null: all of them), e.g. after a
 * suspected compromise. API tokens are not sessions and are left alone.
 */
export async function deleteAllSessions(
  db: Kysely<Database>,
  keepId: string | null,
): Promise<number> {
  let query = db.deleteFrom("sessions");
  if (keepId !== null) query = query.where("id", "!=", keepId);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Records that a session proved the password or a second factor at `at` (step-up). With
 * `secondFactor`, also that it passed the second factor then.
 */
export async function markSessionProven(
  db: Kysely<Database>,
  id: string,
  at: string,
  options: { secondFactor: boolean },
): Promise<void> {
  await db
    .updateTable("sessions")
    .set(options.secondFactor ? { reauth_at: at, mfa_verified_at: at } : { reauth_at: at })
    .where("id", "=", id)
    .execute();
}
