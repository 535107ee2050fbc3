import { recordAuditEvent } from "../audit/audit.service.js";
import { dialectOf } from "../db/dialect.js";
import type { Database, Db } from "../db/schema.js";
import { conflict, unauthenticated } from "../lib/errors.js";
import { emailKey } from "./accounts.schema.js";
import type { AccountsContext, RequestOrigin } from "./context.js";
import { tooManyAttempts } from "./errors.js";
import { deleteUserSession, deleteUserSessions } from "./sessions.repository.js";
import { findUserById, updateUser } from "./users.repository.js";

/** The signed-in user acting on their own account. */
export interface AccountOwner {
  userId: string;
  username: string;
}

/**
 * Changes the signed-in user's e-mail address (already validated with `emailSchema`), as
 * `PATCH /api/v1/me` does: throttled per user, since each attempt can tell whether an address
 * is taken; audited; and the old address is told, so a hijacked session changing it does not
 * go unnoticed. Throws 401 (the user is gone), 429 (throttled,
 * with `Retry-After`), 409 (the address belongs to another account).
 */
export async function changeEmail(
  db: Db,
  ctx: AccountsContext,
  input: { userId: string; email: string },
  origin: RequestOrigin,
): Promise<void> {
  const user = await findUserById(db, input.userId);
  if (user === null) throw unauthenticated();
  const now = ctx.now();
  const allowed = await ctx.limits.emailChangePerUser.consume(user.id);
  if (!allowed.allowed) throw tooManyAttempts(allowed.retryAfterSeconds);
  try {
    await updateUser(db, user.id, {
      email: input.email,
      email_key: emailKey(input.email),
      updated_at: now.toISOString(),
    });
  } catch (error) {
    if (dialectOf<Database>(db).isUniqueViolation(error))
      throw conflict("That e-mail address cannot be used.");
    throw error;
  }
  await recordAuditEvent(
    db,
    {
      actorId: user.id,
      actorName: user.username,
      action: "account.email-change",
      target: user.username,
      address: origin.address,
      outcome: "success",
    },
    now,
  );
  const notice = {
    to: user.email,
    subject: "Your Strongroom e-mail address was changed",
    text: `The e-mail address of ${user.username} was changed to ${input.email}.\n\nIf you did not do this, reset your password and contact an administrator.`,
  };
  // After answering: the mail server's speed must not delay (or fail) the change.
  setImmediate(() => {
    ctx.mailer
      .send(notice)
      .catch((error: unknown) => ctx.logger.error({ err: error }, "e-mail change notice failed"));
  });
}

/**
 * Ends one of the owner's sessions. Another user's session id is simply not found: returns
 * false and changes nothing. Audited as `session.revoke` when a session ended.
 */
export async function revokeOwnSession(
  db: Db,
  ctx: Pick<AccountsContext, "now">,
  owner: AccountOwner,
  sessionId: string,
  origin: RequestOrigin,
): Promise<boolean> {
  if (!(await deleteUserSession(db, owner.userId, sessionId))) return false;
  await recordAuditEvent(
    db,
    {
      actorId: owner.userId,
      actorName: owner.username,
      action: "session.revoke",
      target: owner.username,
      address: origin.address,
      outcome: "success",
    },
    ctx.now(),
  );
  return true;
}

/** Ends every session of the owner but `keepSessionId` (this device); returns how many. */
export async function revokeOtherSessions(
  db: Db,
  ctx: Pick<AccountsContext, "now">,
  owner: AccountOwner & { keepSessionId: string },
  origin: RequestOrigin,
): Promise<number> {
  const count = await deleteUserSessions(db, owner.userId, owner.keepSessionId);
  await recordAuditEvent(
    db,
    {
      actorId: owner.userId,
      actorName: owner.username,
      action: "session.revoke-others",
      target: owner.username,
      address: origin.address,
      outcome: "success",
      details: { count },
    },
    ctx.now(),
  );
  return count;
}
