import { recordAuditEvent } from "../audit/audit.service.js";
import { burnVerification, hashPassword, verifyPassword } from "../crypto/passwords.js";
import type { Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import { addressKey } from "../lib/address.js";
import { hasSecondFactor } from "../policy/mfa-requirement.js";
import { emailKey, USERNAME_PATTERN } from "./accounts.schema.js";
import type { AccountsContext, RequestOrigin } from "./context.js";
import { invalidCredentials, mfaRequired, tooManyAttempts } from "./errors.js";
import type { LoginKeys } from "./login-throttle.js";
import { type PasskeyAssertion, verifyPasskeyAssertion } from "./passkeys.service.js";
import { verifySecondFactor } from "./second-factor.service.js";
import type { SessionRow } from "./sessions.repository.js";
import { createSession } from "./sessions.service.js";
import type { UserRow } from "./users.repository.js";
import {
  findUserById,
  findUserByLoginKey,
  incrementFailedLogins,
  updateUser,
} from "./users.repository.js";

export interface LoginInput {
  /** Username or e-mail address. */
  username: string;
  password: string;
  totp?: string | undefined;
  /** A passkey assertion as the second factor, instead of `totp`. */
  passkey?: PasskeyAssertion | undefined;
}

/** What a name given at sign-in looks like when it could be an e-mail address. */
const EMAIL_SHAPE = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;

/**
 * The name an unknown account's failed sign-in is audited under: as typed when it has the
 * shape of a username or an e-mail address, otherwise a placeholder — a password typed into
 * the username field must not land in the audit log, which administrators and auditors read.
 */
export function attemptedName(typed: string): string {
  if (USERNAME_PATTERN.test(typed) || (typed.length <= 254 && EMAIL_SHAPE.test(typed)))
    return typed;
  return "(not a username or e-mail address)";
}

/**
 * Signs a user in and starts a session. Every wrong credential — unknown user, wrong
 * password, disabled account — gets the same 401 after the same work (a dummy Argon2id
 * verification stands in for a missing user). Throttled attempts are refused before the
 * password is checked. Throws `mfa-required` when a second factor is needed or was wrong.
 */
export async function login(
  db: Db,
  ctx: AccountsContext,
  input: LoginInput,
  origin: RequestOrigin,
): Promise<{ user: UserRow; token: string; session: SessionRow }> {
  const now = ctx.now();
  const loginName = emailKey(input.username);
  const found = await findUserByLoginKey(db, loginName);
  const keys: LoginKeys = {
    account: found?.id ?? `unknown:${loginName}`,
    loginName,
    address: addressKey(origin.address),
  };
  const audit = async (
    action: string,
    outcome: "success" | "failure" | "denied",
    details?: Record<string, string>,
    into: Db = db,
  ): Promise<void> => {
    await recordAuditEvent(
      into,
      {
        actorId: found?.id ?? null,
        actorName: found?.username ?? attemptedName(input.username),
        action,
        target: found?.username ?? null,
        address: origin.address,
        outcome,
        ...(details ? { details } : {}),
      },
      now,
    );
    // Metrics count only committed events: one appended outside a transaction is committed
    // by now; one appended in a transaction is counted by whoever commits it.
    if (!into.isTransaction) ctx.countAuditEvent(action);
  };

  // Counted before any password work, so concurrent guesses are all counted; refused
  // attempts are answered before the password is looked at.
  const attempt = await ctx.limits.login.attempt(keys);
  if (attempt.retryAfterSeconds !== null) {
    await audit("login.throttled", "denied");
    throw tooManyAttempts(attempt.retryAfterSeconds);
  }
  // Likewise for a user whose second-factor guesses are exhausted: refuse before the
  // password check, so the answer does not depend on whether the password was right.
  if (found?.totp_enabled_at) {
    const totp = await ctx.limits.totpPerUser.peek(found.id);
    if (!totp.allowed) {
      await audit("login.throttled", "denied", { factor: "totp" });
      throw tooManyAttempts(totp.retryAfterSeconds);
    }
  }

  let passwordOk = false;
  let needsRehash = false;
  if (found === null) {
    await burnVerification(input.password, ctx.config.argon2);
  } else {
    ({ ok: passwordOk, needsRehash } = await verifyPassword(
      found.password_hash,
      input.password,
      ctx.config.argon2,
    ));
  }
  if (found === null || !passwordOk || found.disabled_at !== null) {
    if (found !== null) await incrementFailedLogins(db, found.id);
    await audit(
      "login.failure",
      "failure",
      found?.disabled_at ? { reason: "disabled" } : undefined,
    );
    if (attempt.lastAllowed) await audit("login.lockout", "denied");
    throw invalidCredentials();
  }

  let secondFactor: "totp" | "recovery" | "passkey" | null = null;
  if (input.passkey !== undefined && hasSecondFactor(found)) {
    // A passkey of this very user, verified (with its PIN or biometric) for this sign-in.
    const passkey = await verifyPasskeyAssertion(db, ctx, input.passkey, origin, found.id);
    if (passkey === null) {
      await incrementFailedLogins(db, found.id);
      await audit("login.mfa-failure", "failure", { factor: "passkey" });
      throw mfaRequired();
    }
    secondFactor = "passkey";
  } else if (hasSecondFactor(found)) {
    // Passkeys only: a code cannot stand in for one.
    if (found.totp_enabled_at === null) throw mfaRequired();
    if (input.totp === undefined || input.totp === "") throw mfaRequired();
    const allowed = await ctx.limits.totpPerUser.consume(found.id);
    if (!allowed.allowed) {
      await audit("login.throttled", "denied", { factor: "totp" });
      throw tooManyAttempts(allowed.retryAfterSeconds);
    }
    secondFactor = await verifySecondFactor(db, ctx, found, input.totp);
    if (secondFactor === null) {
      await incrementFailedLogins(db, found.id);
      await audit("login.mfa-failure", "failure");
      if (allowed.remaining === 0 || attempt.lastAllowed)
        await audit("login.lockout", "denied", { factor: "totp" });
      throw mfaRequired();
    }
    await ctx.limits.totpPerUser.reset(found.id);
  }

  await ctx.limits.login.succeed(keys);
  // Transparent upgrade: legacy (bcrypt, Werkzeug) or outdated Argon2 parameters. Hashed
  // before the transaction, which must not hold the write lock while Argon2 runs.
  const upgradedHash = needsRehash ? await hashPassword(input.password, ctx.config.argon2) : null;
  // The sign-in's record on the user, its session and its `login.success` event commit
  // together: one durable write per sign-in, and never a session without its audit event.
  // Read then written, so run again on a deadlock or a stale SQLite snapshot (another process
  // wrote in between); a rerun makes a new session token, and only the committed one is used.
  const signedIn = await withTransactionRetry(db, async (trx) => {
    const fresh = (await findUserById(trx, found.id)) ?? found;
    await updateUser(trx, found.id, {
      last_login_at: now.toISOString(),
      last_login_address: origin.address,
      failed_logins_before_last_login: fresh.failed_login_count,
      failed_login_count: 0,
      updated_at: now.toISOString(),
      ...(upgradedHash !== null ? { password_hash: upgradedHash } : {}),
    });
    const created = await createSession(trx, ctx.config, {
      userId: found.id,
      origin,
      now,
      mfaVerified: secondFactor !== null,
    });
    const details = secondFactor !== null ? { secondFactor } : undefined;
    await audit("login.success", "success", details, trx);
    return { ...created, user: (await findUserById(trx, found.id)) ?? found };
  });
  ctx.countAuditEvent("login.success");
  if (needsRehash) ctx.logger.info({ userId: found.id }, "password hash upgraded");
  return signedIn;
}
