import { recordAuditEvent } from "../audit/audit.service.js";
import { verifyPassword } from "../crypto/passwords.js";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { AppError, unauthenticated } from "../lib/errors.js";
import type { AccountsContext, RequestOrigin } from "./context.js";
import { addMinutes } from "./context.js";
import { tooManyAttempts } from "./errors.js";
import { type PasskeyAssertion, verifyPasskeyAssertion } from "./passkeys.service.js";
import { verifySecondFactor } from "./second-factor.service.js";
import { markSessionProven } from "./sessions.repository.js";
import { findUserById } from "./users.repository.js";

/**
 * Whether a session's last proof of the password or a second factor (`provenAt`) is less than
 * `reauthMinutes` old at `now`. A principal without one (tokens, principals built outside a
 * request) has no recent proof; a proof dated in the future (clock skew between instances)
 * counts only up to the window's length ahead.
 */
export function hasRecentProof(principal: Principal, now: Date, reauthMinutes: number): boolean {
  if (principal.provenAt === undefined || principal.provenAt === null) return false;
  const ageMs = now.getTime() - Date.parse(principal.provenAt);
  const windowMs = reauthMinutes * 60_000;
  return Number.isFinite(ageMs) && ageMs < windowMs && ageMs > -windowMs;
}

/**
 * What a re-authentication proves: the password, or a second factor (a TOTP or recovery code,
 * or one of the user's own passkeys).
 */
export type ReauthProof = { password: string } | { totp: string } | { passkey: PasskeyAssertion };

/** 401 for a wrong password or code: one answer for both, like sign-in's. */
function wrongProof(): AppError {
  return new AppError("invalid-credentials", 401, "Not authenticated", {
    detail: "The password or code is wrong.",
  });
}

/**
 * Step-up: the signed-in user proves their password or a second factor again, and the session
 * may then reveal secrets, mint tokens and change members or credentials for `REAUTH_MINUTES`.
 * Wrong passwords count against the per-user password throttle (shared with password change
 * and two-factor removal), wrong codes against the per-user TOTP throttle (shared with
 * sign-in), so a stolen session cannot guess either; refused attempts are answered before
 * anything is checked. Every attempt is audited as `session.reauth`. Throws 401
 * (`invalid-credentials`) for a wrong proof or a user without TOTP sending a code, 429 when
 * throttled. Returns the new proof time and when it lapses (ISO).
 */
export async function reauthenticate(
  db: Db,
  ctx: AccountsContext,
  input: { userId: string; sessionId: string; proof: ReauthProof },
  origin: RequestOrigin,
): Promise<{ provenAt: string; expiresAt: string }> {
  const user = await findUserById(db, input.userId);
  if (user === null) throw unauthenticated();
  const now = ctx.now();
  const factor =
    "password" in input.proof ? "password" : "passkey" in input.proof ? "passkey" : "totp";
  const audit = async (
    outcome: "success" | "failure" | "denied",
    details: Record<string, string>,
    into: Db = db,
  ): Promise<void> => {
    await recordAuditEvent(
      into,
      {
        actorId: user.id,
        actorName: user.username,
        action: "session.reauth",
        target: user.username,
        address: origin.address,
        outcome,
        details,
      },
      now,
    );
  };

  let proven: "password" | "totp" | "recovery" | "passkey" | null = null;
  if ("passkey" in input.proof) {
    // A signature over a fresh single-use challenge by one of this user's passkeys, with user
    // verification: nothing to guess, so no throttle beyond the audit of every attempt.
    const passkey = await verifyPasskeyAssertion(db, ctx, input.proof.passkey, origin, user.id);
    if (passkey !== null) proven = "passkey";
  } else if ("password" in input.proof) {
    const allowed = await ctx.limits.passwordPerUser.peek(user.id);
    if (!allowed.allowed) {
      await audit("denied", { factor, reason: "throttled" });
      throw tooManyAttempts(allowed.retryAfterSeconds);
    }
    const { ok } = await verifyPassword(
      user.password_hash,
      input.proof.password,
      ctx.config.argon2,
    );
    if (ok) {
      proven = "password";
      await ctx.limits.passwordPerUser.reset(user.id);
    } else {
      await ctx.limits.passwordPerUser.consume(user.id);
    }
  } else {
    // Counted before the check, as at sign-in, so concurrent guesses are all counted.
    const allowed = await ctx.limits.totpPerUser.consume(user.id);
    if (!allowed.allowed) {
      await audit("denied", { factor, reason: "throttled" });
      throw tooManyAttempts(allowed.retryAfterSeconds);
    }
    if (user.totp_enabled_at !== null)
      proven = await verifySecondFactor(db, ctx, user, input.proof.totp);
    if (proven !== null) await ctx.limits.totpPerUser.reset(user.id);
  }
  if (proven === null) {
    await audit("failure", { factor });
    throw wrongProof();
  }

  const used = proven;
  const provenAt = now.toISOString();
  // The new proof time and its audit event commit together.
  await db.transaction().execute(async (trx) => {
    await markSessionProven(trx, input.sessionId, provenAt, { secondFactor: used !== "password" });
    await audit("success", { factor: used }, trx);
  });
  return { provenAt, expiresAt: addMinutes(now, ctx.config.reauthMinutes) };
}
