import { recordAuditEvent } from "../audit/audit.service.js";
import { hashPassword, verifyPassword } from "../crypto/passwords.js";
import { generateToken, hashToken } from "../crypto/tokens.js";
import type { Db } from "../db/schema.js";
import { addressKey } from "../lib/address.js";
import { AppError, validationError } from "../lib/errors.js";
import { emailKey } from "./accounts.schema.js";
import type { AccountsConfig, AccountsContext, RequestOrigin } from "./context.js";
import { addMinutes } from "./context.js";
import { invalidCredentials, invalidLink, mailUnavailable, tooManyAttempts } from "./errors.js";
import { mailedLink } from "./mailed-link.js";
import { checkPassword } from "./password-policy.js";
import type { SessionRow } from "./sessions.repository.js";
import { deleteUserSessions } from "./sessions.repository.js";
import { createSession } from "./sessions.service.js";
import type { UserRow } from "./users.repository.js";
import {
  findResetToken,
  findUserByEmailKey,
  findUserById,
  insertResetToken,
  spendResetToken,
  updateUser,
  useAllResetTokens,
} from "./users.repository.js";

/**
 * Refuses a new password that breaks the policy (length, common or breached, contains the
 * username or e-mail) with a 400 naming `field`. Messages never echo the password.
 */
export function assertAcceptablePassword(
  config: Pick<AccountsConfig, "passwordMinLength">,
  password: string,
  context: { username?: string; email?: string },
  field: string,
): void {
  const problems = checkPassword(password, { minLength: config.passwordMinLength }, context);
  if (problems.length > 0)
    throw validationError(problems.map((message) => ({ path: field, message })));
}

/**
 * Changes the signed-in user's password. The current password is required (throttled per
 * user); the session is replaced by a new one and every other session ends.
 */
export async function changePassword(
  db: Db,
  ctx: AccountsContext,
  input: { userId: string; session: SessionRow; currentPassword: string; newPassword: string },
  origin: RequestOrigin,
): Promise<{ token: string; session: SessionRow }> {
  const now = ctx.now();
  const user = await findUserById(db, input.userId);
  if (user === null) throw invalidCredentials();
  await assertCurrentPassword(db, ctx, user, input.currentPassword, origin);
  assertAcceptablePassword(
    ctx.config,
    input.newPassword,
    { username: user.username, email: user.email },
    "body.newPassword",
  );
  const passwordHash = await hashPassword(input.newPassword, ctx.config.argon2);
  return db.transaction().execute(async (trx) => {
    await updateUser(trx, user.id, { password_hash: passwordHash, updated_at: now.toISOString() });
    await deleteUserSessions(trx, user.id, null);
    await useAllResetTokens(trx, user.id, now.toISOString());
    const rotated = await createSession(trx, ctx.config, {
      userId: user.id,
      origin,
      now,
      mfaVerified: input.session.mfa_verified_at !== null,
    });
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "password.change",
        target: user.username,
        address: origin.address,
        outcome: "success",
      },
      now,
    );
    return rotated;
  });
}

/**
 * Checks the signed-in user's current password before a sensitive change; a wrong one is a
 * 401 and counts against a per-user throttle (so a stolen session cannot guess it).
 */
export async function assertCurrentPassword(
  db: Db,
  ctx: AccountsContext,
  user: UserRow,
  password: string,
  origin: RequestOrigin,
): Promise<void> {
  const allowed = await ctx.limits.passwordPerUser.peek(user.id);
  if (!allowed.allowed) throw tooManyAttempts(allowed.retryAfterSeconds);
  const { ok } = await verifyPassword(user.password_hash, password, ctx.config.argon2);
  if (!ok) {
    await ctx.limits.passwordPerUser.consume(user.id);
    await recordAuditEvent(
      db,
      {
        actorId: user.id,
        actorName: user.username,
        action: "password.verify",
        target: user.username,
        address: origin.address,
        outcome: "failure",
      },
      ctx.now(),
    );
    throw new AppError("invalid-credentials", 401, "Not authenticated", {
      detail: "The current password is wrong.",
    });
  }
  await ctx.limits.passwordPerUser.reset(user.id);
}

/** How long a password-reset link stays valid. */
export const RESET_LINK_MINUTES = 30;

/**
 * Starts a password reset. Always answers the same way (202), whether or not the address has
 * an account; the mail is sent after answering so timing does not tell either. Production
 * without SMTP refuses with a 503 before anything else.
 */
export async function requestPasswordReset(
  db: Db,
  ctx: AccountsContext,
  email: string,
  origin: RequestOrigin,
): Promise<void> {
  if (ctx.config.env === "production" && ctx.config.smtp === null)
    throw mailUnavailable("password reset");
  const key = emailKey(email);
  const now = ctx.now();
  // Per address first: an address over its limit must not also use up the target's
  // per-e-mail allowance, or anyone could silently block resets for anyone.
  const byAddress = await ctx.limits.resetPerAddress.consume(addressKey(origin.address));
  const auditRefusal = (details?: Record<string, string>): Promise<void> =>
    recordAuditEvent(
      db,
      {
        actorId: null,
        actorName: null,
        action: "password.reset-request",
        target: null,
        address: origin.address,
        outcome: "denied",
        ...(details ? { details } : {}),
      },
      now,
    );
  if (!byAddress.allowed) {
    await auditRefusal({ reason: "throttled" });
    throw tooManyAttempts(byAddress.retryAfterSeconds);
  }
  const user = await findUserByEmailKey(db, key);
  // Charged only for real accounts about to get mail. Over the per-e-mail limit: answer as
  // usual (202) but send nothing, so the limit reveals nothing and cannot flood the owner.
  const byEmail =
    user === null || user.disabled_at !== null ? null : await ctx.limits.resetPerEmail.consume(key);
  if (user === null || user.disabled_at !== null || byEmail === null || !byEmail.allowed) {
    await auditRefusal();
    return;
  }
  const token = generateToken();
  await insertResetToken(db, {
    token_hash: hashToken(token),
    user_id: user.id,
    created_at: now.toISOString(),
    expires_at: addMinutes(now, RESET_LINK_MINUTES),
  });
  await recordAuditEvent(
    db,
    {
      actorId: user.id,
      actorName: user.username,
      action: "password.reset-request",
      target: user.username,
      address: origin.address,
      outcome: "success",
    },
    now,
  );
  const message = {
    to: user.email,
    subject: "Reset your Strongroom password",
    text: `A password reset was requested for ${user.username}.\n\nChoose a new password within ${RESET_LINK_MINUTES} minutes:\n${mailedLink(ctx.config.publicUrl, "/reset-password", token)}\n\nIf the page asks for a code, it is: ${token}\n\nIf you did not ask for this, ignore this message; your password is unchanged.`,
  };
  setImmediate(() => {
    ctx.mailer
      .send(message)
      .catch((error: unknown) => ctx.logger.error({ err: error }, "reset mail failed"));
  });
}

/**
 * Completes a reset: the link must be known, unused and unexpired (one answer for all
 * failures); the new password must pass the policy. Every session of the user ends, and
 * every other outstanding link is spent.
 */
export async function confirmPasswordReset(
  db: Db,
  ctx: AccountsContext,
  token: string,
  password: string,
  origin: RequestOrigin,
): Promise<void> {
  const now = ctx.now();
  const row = await findResetToken(db, hashToken(token));
  if (row === null || row.used_at !== null || row.expires_at <= now.toISOString())
    throw invalidLink();
  const user = await findUserById(db, row.user_id);
  if (user === null || user.disabled_at !== null) throw invalidLink();
  assertAcceptablePassword(
    ctx.config,
    password,
    { username: user.username, email: user.email },
    "body.password",
  );
  const passwordHash = await hashPassword(password, ctx.config.argon2);
  await db.transaction().execute(async (trx) => {
    // Spend the link first, conditionally: of two concurrent uses only one updates a row.
    if (!(await spendResetToken(trx, row.token_hash, now.toISOString()))) throw invalidLink();
    await useAllResetTokens(trx, user.id, now.toISOString());
    await updateUser(trx, user.id, { password_hash: passwordHash, updated_at: now.toISOString() });
    await deleteUserSessions(trx, user.id, null);
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "password.reset",
        target: user.username,
        address: origin.address,
        outcome: "success",
      },
      now,
    );
  });
}
