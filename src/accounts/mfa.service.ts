import { recordAuditEvent } from "../audit/audit.service.js";
import type { Db } from "../db/schema.js";
import { conflict } from "../lib/errors.js";
import { randomId } from "../lib/random.js";
import type { AccountsContext, RequestOrigin } from "./context.js";
import { mfaRequired, tooManyAttempts } from "./errors.js";
import { assertCurrentPassword } from "./passwords.service.js";
import { generateRecoveryCodes, hashRecoveryCode } from "./recovery-codes.js";
import type { SessionRow } from "./sessions.repository.js";
import { rotateSession } from "./sessions.service.js";
import { createTotpEnrolment, verifyTotp } from "./totp.js";
import { openTotpSecret, sealTotpSecret } from "./totp-secrets.js";
import type { UserRow } from "./users.repository.js";
import {
  deleteRecoveryCodes,
  findUserById,
  replaceRecoveryCodes,
  updateUser,
} from "./users.repository.js";

/** The issuer shown in authenticator apps. */
export const TOTP_ISSUER = "Strongroom";

async function requireUser(db: Db, userId: string): Promise<UserRow> {
  const user = await findUserById(db, userId);
  if (user === null) throw conflict("The account no longer exists.");
  return user;
}

/**
 * Starts TOTP enrolment: a new secret, stored encrypted under the master key but not yet in
 * force, shown once (as text, an otpauth:// URL and a QR code). Refused while TOTP is on.
 */
export async function startTotpEnrolment(
  db: Db,
  ctx: AccountsContext,
  userId: string,
): Promise<{ secret: string; otpauthUrl: string; qrCode: string }> {
  const user = await requireUser(db, userId);
  if (user.totp_enabled_at !== null)
    throw conflict("Two-factor authentication is already on; remove it first.");
  const enrolment = createTotpEnrolment(user.username, TOTP_ISSUER);
  await updateUser(db, user.id, {
    totp_secret: sealTotpSecret(ctx.config.masterKeys, user.id, enrolment.secret),
    totp_last_step: null,
    updated_at: ctx.now().toISOString(),
  });
  return {
    secret: enrolment.secret,
    otpauthUrl: enrolment.otpauthUrl,
    qrCode: enrolment.qrSvgDataUrl,
  };
}

/**
 * Confirms enrolment with a code from the app: turns TOTP on, issues ten recovery codes
 * (only their hashes are kept; they are shown this once), and replaces the session.
 */
export async function confirmTotpEnrolment(
  db: Db,
  ctx: AccountsContext,
  input: { userId: string; session: SessionRow; code: string },
  origin: RequestOrigin,
): Promise<{ recoveryCodes: string[]; token: string; session: SessionRow }> {
  const user = await requireUser(db, input.userId);
  if (user.totp_enabled_at !== null) throw conflict("Two-factor authentication is already on.");
  if (user.totp_secret === null) throw conflict("Start enrolment first.");
  const allowed = await ctx.limits.totpPerUser.consume(user.id);
  if (!allowed.allowed) throw tooManyAttempts(allowed.retryAfterSeconds);
  const now = ctx.now();
  const secret = openTotpSecret(ctx.config.masterKeys, user.id, user.totp_secret);
  const result = verifyTotp(secret, input.code.replace(/\s+/g, ""), {
    lastUsedStep: user.totp_last_step,
    now: now.getTime(),
    driftSteps: ctx.config.totpDriftSteps,
  });
  if (!result.ok) {
    await recordAuditEvent(
      db,
      {
        actorId: user.id,
        actorName: user.username,
        action: "mfa.enable",
        target: user.username,
        address: origin.address,
        outcome: "failure",
      },
      now,
    );
    throw mfaRequired();
  }
  await ctx.limits.totpPerUser.reset(user.id);
  const recoveryCodes = generateRecoveryCodes(10);
  return db.transaction().execute(async (trx) => {
    await updateUser(trx, user.id, {
      totp_enabled_at: now.toISOString(),
      totp_last_step: result.step,
      updated_at: now.toISOString(),
    });
    await replaceRecoveryCodes(
      trx,
      user.id,
      recoveryCodes.map((code) => ({
        id: randomId(),
        code_hash: hashRecoveryCode(code),
        created_at: now.toISOString(),
      })),
    );
    const rotated = await rotateSession(trx, ctx.config, input.session, {
      origin,
      now,
      mfaVerified: true,
    });
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "mfa.enable",
        target: user.username,
        address: origin.address,
        outcome: "success",
      },
      now,
    );
    return { recoveryCodes, ...rotated };
  });
}

/** Turns TOTP off after checking the password; the secret and recovery codes are deleted. */
export async function disableTotp(
  db: Db,
  ctx: AccountsContext,
  input: { userId: string; password: string },
  origin: RequestOrigin,
): Promise<void> {
  const user = await requireUser(db, input.userId);
  await assertCurrentPassword(db, ctx, user, input.password, origin);
  await removeTotp(db, ctx, user, { id: user.id, name: user.username, address: origin.address });
}

/** Removes a user's second factor (their own request, or `strongroom users reset-mfa`). */
export async function removeTotp(
  db: Db,
  ctx: Pick<AccountsContext, "now">,
  user: UserRow,
  actor: { id: string | null; name: string; address: string | null },
): Promise<void> {
  const now = ctx.now();
  await db.transaction().execute(async (trx) => {
    await updateUser(trx, user.id, {
      totp_secret: null,
      totp_enabled_at: null,
      totp_last_step: null,
      updated_at: now.toISOString(),
    });
    await deleteRecoveryCodes(trx, user.id);
    await recordAuditEvent(
      trx,
      {
        actorId: actor.id,
        actorName: actor.name,
        action: "mfa.disable",
        target: user.username,
        address: actor.address,
        outcome: "success",
      },
      now,
    );
  });
}
