import { recordAuditEvent } from "../audit/audit.service.js";
import type { Db } from "../db/schema.js";
import { notFound } from "../lib/errors.js";
import { usernameKey } from "./accounts.schema.js";
import { removeTotp } from "./mfa.service.js";
import { deleteUserSessions } from "./sessions.repository.js";
import type { UserRow } from "./users.repository.js";
import { countActiveUsersWithRole, findUserByUsernameKey, updateUser } from "./users.repository.js";

/** Who performs an administrative action (a person, or `cli` for the operator's shell). */
export interface Actor {
  id: string | null;
  name: string;
  address: string | null;
}

async function requireUserByName(db: Db, username: string): Promise<UserRow> {
  const user = await findUserByUsernameKey(db, usernameKey(username));
  if (user === null) throw notFound("There is no such user.");
  return user;
}

/**
 * Disables an account: it can no longer sign in, and every session ends now (API tokens,
 * once they exist, are refused for a disabled owner too). Idempotent.
 */
export async function disableUser(
  db: Db,
  now: Date,
  username: string,
  actor: Actor,
): Promise<UserRow> {
  const user = await requireUserByName(db, username);
  await db.transaction().execute(async (trx) => {
    await updateUser(trx, user.id, {
      disabled_at: user.disabled_at ?? now.toISOString(),
      updated_at: now.toISOString(),
    });
    await deleteUserSessions(trx, user.id, null);
    await recordAuditEvent(
      trx,
      {
        actorId: actor.id,
        actorName: actor.name,
        action: "user.disable",
        target: user.username,
        address: actor.address,
        outcome: "success",
      },
      now,
    );
  });
  return user;
}

/** Removes a user's second factor (lost authenticator and recovery codes). */
export async function resetUserMfa(
  db: Db,
  now: Date,
  username: string,
  actor: Actor,
): Promise<UserRow> {
  const user = await requireUserByName(db, username);
  await removeTotp(db, { now: () => now }, user, actor);
  return user;
}

/** How many enabled administrators exist (doctor warns at zero). */
export async function countAdministrators(db: Db): Promise<number> {
  return countActiveUsersWithRole(db, "admin");
}
