/**
 * Passkeys (WebAuthn) with @simplewebauthn/server: registering several named credentials per
 * user, signing in with one alone (a discoverable credential, user verification required),
 * and using one as the second factor after the password.
 *
 * The relying party is `PUBLIC_URL`: its host name is the RP ID and its origin the only origin
 * accepted. Challenges live in the database (shared by every instance), are taken out in the
 * statement that reads them (single use) and expire after five minutes. The signature counter
 * must move forward when an authenticator keeps one; a counter that does not is refused as a
 * possible clone, and the update that records a use is conditional on the counter it checked.
 */
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { recordAuditEvent } from "../audit/audit.service.js";
import type { Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import { addressKey } from "../lib/address.js";
import { AppError, conflict, notFound } from "../lib/errors.js";
import { randomId } from "../lib/random.js";
import type { AccountsConfig, AccountsContext, RequestOrigin } from "./context.js";
import { addMinutes } from "./context.js";
import { invalidCredentials, tooManyAttempts } from "./errors.js";
import {
  countUserPasskeys,
  deleteExpiredChallenges,
  deleteUserPasskey,
  findPasskey,
  insertChallenge,
  insertPasskey,
  listUserPasskeys,
  type PasskeyRow,
  recordPasskeyUse,
  takeChallenge,
} from "./passkeys.repository.js";
import type { SessionRow } from "./sessions.repository.js";
import { createSession } from "./sessions.service.js";
import type { UserRow } from "./users.repository.js";
import { findUserById, updateUser } from "./users.repository.js";

/** How long a challenge may be answered. */
export const CHALLENGE_MINUTES = 5;
/** Passkeys per user: enough for every device, few enough to list. */
export const MAX_PASSKEYS = 20;

/** The relying party: `PUBLIC_URL`'s host name and origin. */
export function relyingParty(config: Pick<AccountsConfig, "publicUrl">): {
  id: string;
  origin: string;
  name: string;
} {
  const url = new URL(config.publicUrl);
  return { id: url.hostname, origin: url.origin, name: "Strongroom" };
}

/** A registration or sign-in answer that does not verify: what is wrong stays in the log. */
function passkeyRejected(detail: string): AppError {
  return new AppError("passkey-rejected", 400, "Passkey not accepted", { detail });
}

/** A challenge to send to the browser, and the id to answer it with. */
export interface PasskeyChallenge<T> {
  challengeId: string;
  options: T;
}

async function storeChallenge(
  db: Db,
  ctx: AccountsContext,
  challenge: string,
  purpose: "register" | "authenticate",
  userId: string | null,
): Promise<string> {
  const now = ctx.now();
  await deleteExpiredChallenges(db, now.toISOString());
  const id = randomId();
  await insertChallenge(db, {
    id,
    challenge,
    purpose,
    user_id: userId,
    expires_at: addMinutes(now, CHALLENGE_MINUTES),
  });
  return id;
}

/** Takes a challenge for use: null when unknown, used, expired or someone else's. */
async function useChallenge(
  db: Db,
  ctx: AccountsContext,
  id: string,
  purpose: "register" | "authenticate",
  userId: string | null,
): Promise<string | null> {
  const row = await takeChallenge(db, id, purpose);
  if (row === null) return null;
  if (Date.parse(row.expires_at) <= ctx.now().getTime()) return null;
  if (purpose === "register" && row.user_id !== userId) return null;
  return row.challenge;
}

const transportsOf = (row: PasskeyRow): string[] => {
  try {
    const parsed: unknown = JSON.parse(row.transports);
    return Array.isArray(parsed) ? parsed.filter((t) => typeof t === "string") : [];
  } catch {
    return [];
  }
};

export function listPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return listUserPasskeys(db, userId);
}

/** Starts adding a passkey for `user`: options for `navigator.credentials.create`. */
export async function startPasskeyRegistration(
  db: Db,
  ctx: AccountsContext,
  user: UserRow,
): Promise<PasskeyChallenge<PublicKeyCredentialCreationOptionsJSON>> {
  const rp = relyingParty(ctx.config);
  const existing = await listUserPasskeys(db, user.id);
  if (existing.length >= MAX_PASSKEYS)
    throw conflict(`You already have ${MAX_PASSKEYS} passkeys; remove one first.`);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.username,
    userID: new TextEncoder().encode(user.id),
    attestationType: "none",
    // The same authenticator cannot be registered twice.
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: transportsOf(p) })),
    // Discoverable, so it can sign in alone; verified (PIN or biometric), so it is two
    // factors in one and may stand in for the password.
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
    timeout: CHALLENGE_MINUTES * 60_000,
  });
  const challengeId = await storeChallenge(db, ctx, options.challenge, "register", user.id);
  return { challengeId, options };
}

/** Finishes adding a passkey: verifies the authenticator's answer and stores the key. */
export async function finishPasskeyRegistration(
  db: Db,
  ctx: AccountsContext,
  user: UserRow,
  input: { challengeId: string; name: string; response: RegistrationResponseJSON },
  origin: RequestOrigin,
): Promise<PasskeyRow> {
  const rp = relyingParty(ctx.config);
  const challenge = await useChallenge(db, ctx, input.challengeId, "register", user.id);
  if (challenge === null)
    throw passkeyRejected("The challenge is unknown, used or expired: start again.");
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
  } catch (error) {
    ctx.logger.info({ err: error, userId: user.id }, "passkey registration refused");
    throw passkeyRejected("The authenticator's answer did not verify.");
  }
  if (!verified.verified) throw passkeyRejected("The authenticator's answer did not verify.");
  const { credential } = verified.registrationInfo;
  if ((await findPasskey(db, credential.id)) !== null)
    throw conflict("This passkey is already registered.");
  if ((await countUserPasskeys(db, user.id)) >= MAX_PASSKEYS)
    throw conflict(`You already have ${MAX_PASSKEYS} passkeys; remove one first.`);
  const now = ctx.now().toISOString();
  const row: PasskeyRow = {
    id: credential.id,
    user_id: user.id,
    name: input.name,
    public_key: Buffer.from(credential.publicKey),
    counter: credential.counter,
    transports: JSON.stringify(credential.transports ?? []),
    created_at: now,
    last_used_at: null,
  };
  await withTransactionRetry(db, async (trx) => {
    await insertPasskey(trx, { ...row, counter: credential.counter });
    const fresh = await findUserById(trx, user.id);
    if (fresh !== null && fresh.passkey_enabled_at === null)
      await updateUser(trx, user.id, { passkey_enabled_at: now, updated_at: now });
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "passkey.add",
        target: user.username,
        address: origin.address,
        outcome: "success",
        details: { passkey: input.name },
      },
      ctx.now(),
    );
  });
  return row;
}

/** Removes one of the user's passkeys (404 for anyone else's). */
export async function removePasskey(
  db: Db,
  ctx: AccountsContext,
  user: UserRow,
  id: string,
  origin: RequestOrigin,
): Promise<void> {
  await withTransactionRetry(db, async (trx) => {
    const removed = await deleteUserPasskey(trx, user.id, id);
    if (removed === null) throw notFound("There is no such passkey.");
    if ((await countUserPasskeys(trx, user.id)) === 0) {
      const now = ctx.now().toISOString();
      await updateUser(trx, user.id, { passkey_enabled_at: null, updated_at: now });
    }
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "passkey.remove",
        target: user.username,
        address: origin.address,
        outcome: "success",
        details: { passkey: removed.name },
      },
      ctx.now(),
    );
  });
}

/** Options for `navigator.credentials.get`: any of this site's discoverable passkeys. */
export async function startPasskeyAssertion(
  db: Db,
  ctx: AccountsContext,
  origin: RequestOrigin,
): Promise<PasskeyChallenge<PublicKeyCredentialRequestOptionsJSON>> {
  // Anyone may ask, and each challenge is a row for five minutes: bounded per address.
  const allowed = await ctx.limits.passkeyChallengesPerAddress.consume(addressKey(origin.address));
  if (!allowed.allowed) throw tooManyAttempts(allowed.retryAfterSeconds);
  const rp = relyingParty(ctx.config);
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    userVerification: "required",
    allowCredentials: [],
    timeout: CHALLENGE_MINUTES * 60_000,
  });
  const challengeId = await storeChallenge(db, ctx, options.challenge, "authenticate", null);
  return { challengeId, options };
}

/** A passkey assertion as the API receives it. */
export interface PasskeyAssertion {
  challengeId: string;
  response: AuthenticationResponseJSON;
}

/**
 * Verifies an assertion and records the use: the passkey and its owner's id, or null when it
 * does not verify (unknown credential, used or expired challenge, wrong origin or RP, no user
 * verification, a counter that went backwards, or — with `expectedUserId` — someone else's).
 */
export async function verifyPasskeyAssertion(
  db: Db,
  ctx: AccountsContext,
  assertion: PasskeyAssertion,
  origin: RequestOrigin,
  expectedUserId?: string,
): Promise<PasskeyRow | null> {
  const rp = relyingParty(ctx.config);
  const challenge = await useChallenge(db, ctx, assertion.challengeId, "authenticate", null);
  if (challenge === null) return null;
  const passkey = await findPasskey(db, assertion.response.id);
  if (passkey === null) return null;
  if (expectedUserId !== undefined && passkey.user_id !== expectedUserId) return null;
  // A discoverable credential names its user: it must be the passkey's owner.
  const userHandle = assertion.response.response.userHandle;
  if (
    userHandle !== undefined &&
    Buffer.from(userHandle, "base64url").toString("utf8") !== passkey.user_id
  )
    return null;
  const storedCounter = Number(passkey.counter);
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verified = await verifyAuthenticationResponse({
      response: assertion.response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: passkey.id,
        publicKey: new Uint8Array(passkey.public_key),
        counter: storedCounter,
        transports: transportsOf(passkey) as never,
      },
      requireUserVerification: true,
    });
  } catch (error) {
    const clone = error instanceof Error && /counter/i.test(error.message);
    // With the request's address, URL and id, like every security event.
    origin.securityEvent(clone ? "security.passkey_counter" : "security.passkey_refused", {
      authenticatorId: passkey.id,
      userId: passkey.user_id,
    });
    return null;
  }
  if (!verified.verified) return null;
  const recorded = await recordPasskeyUse(
    db,
    passkey.id,
    storedCounter,
    verified.authenticationInfo.newCounter,
    ctx.now().toISOString(),
  );
  return recorded ? passkey : null;
}

/**
 * Signs in with a passkey alone. Every failure is the same 401 as a wrong password. Failed
 * attempts are counted per address; the check itself is cheap (one signature), so the limit
 * is about automation, not guessing, which a signature does not allow.
 */
export async function signInWithPasskey(
  db: Db,
  ctx: AccountsContext,
  assertion: PasskeyAssertion,
  origin: RequestOrigin,
): Promise<{ user: UserRow; token: string; session: SessionRow }> {
  const address = addressKey(origin.address);
  const allowance = await ctx.limits.passkeyPerAddress.peek(address);
  if (!allowance.allowed) throw tooManyAttempts(allowance.retryAfterSeconds);
  const passkey = await verifyPasskeyAssertion(db, ctx, assertion, origin);
  const user = passkey === null ? null : await findUserById(db, passkey.user_id);
  const now = ctx.now();
  if (passkey === null || user === null || user.disabled_at !== null) {
    await ctx.limits.passkeyPerAddress.consume(address);
    await recordAuditEvent(
      db,
      {
        actorId: user?.id ?? null,
        actorName: user?.username ?? "(passkey)",
        action: "login.failure",
        target: user?.username ?? null,
        address: origin.address,
        outcome: "failure",
        details: { method: "passkey", ...(user?.disabled_at ? { reason: "disabled" } : {}) },
      },
      now,
    );
    ctx.countAuditEvent("login.failure");
    throw invalidCredentials();
  }
  const signedIn = await withTransactionRetry(db, async (trx) => {
    const fresh = (await findUserById(trx, user.id)) ?? user;
    await updateUser(trx, user.id, {
      last_login_at: now.toISOString(),
      last_login_address: origin.address,
      failed_logins_before_last_login: fresh.failed_login_count,
      failed_login_count: 0,
      updated_at: now.toISOString(),
    });
    // A verified passkey is possession plus a PIN or biometric: a second factor in itself.
    const created = await createSession(trx, ctx.config, {
      userId: user.id,
      origin,
      now,
      mfaVerified: true,
    });
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "login.success",
        target: user.username,
        address: origin.address,
        outcome: "success",
        details: { method: "passkey", passkey: passkey.name },
      },
      now,
    );
    return { ...created, user: (await findUserById(trx, user.id)) ?? user };
  });
  ctx.countAuditEvent("login.success");
  return signedIn;
}
