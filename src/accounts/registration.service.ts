import { recordAuditEvent } from "../audit/audit.service.js";
import { hashPassword } from "../crypto/passwords.js";
import { generateToken, hashToken } from "../crypto/tokens.js";
import { dialectOf } from "../db/dialect.js";
import type { Database, Db } from "../db/schema.js";
import { addressKey } from "../lib/address.js";
import { type AppError, conflict } from "../lib/errors.js";
import { randomId } from "../lib/random.js";
import { emailKey, usernameKey } from "./accounts.schema.js";
import type { AccountsContext, RequestOrigin } from "./context.js";
import { addMinutes } from "./context.js";
import { invalidLink, mailUnavailable, registrationClosed, tooManyAttempts } from "./errors.js";
import { mailedLink } from "./mailed-link.js";
import { assertAcceptablePassword } from "./passwords.service.js";
import type { UserRow } from "./users.repository.js";
import {
  findTakenUserKeys,
  findUserByEmailKey,
  findUserByUsernameKey,
  insertPendingRegistration,
  insertUser,
  takePendingRegistration,
} from "./users.repository.js";

/** How long a sign-up link stays valid. */
export const REGISTRATION_LINK_MINUTES = 24 * 60;

export interface Registration {
  username: string;
  email: string;
  password: string;
}

/** What a sign-up answers: the same shape whether or not the e-mail already had an account. */
export interface PendingUser {
  id: string;
  username: string;
  email: string;
  role: "member";
  disabled: false;
  mfaEnabled: false;
  passkeyEnabled: false;
  createdAt: string;
}

function usernameTaken(): AppError {
  return conflict("That username is taken.");
}

/**
 * Self-service sign-up (REGISTRATION=open). The account is created only when the link mailed
 * to the address is followed, so signing up with an address that already has an account
 * answers and costs exactly the same as any other sign-up; the owner of that address gets a
 * notice instead of a link. Usernames are not secret (they are shown to vault members), so a
 * taken username is a plain 409.
 */
export async function registerUser(
  db: Db,
  ctx: AccountsContext,
  input: Registration,
  origin: RequestOrigin,
): Promise<PendingUser> {
  if (ctx.config.registration !== "open") throw registrationClosed();
  if (ctx.config.env === "production" && ctx.config.smtp === null)
    throw mailUnavailable("registration");
  const throttled = await ctx.limits.registerPerAddress.consume(addressKey(origin.address));
  if (!throttled.allowed) {
    await recordAuditEvent(
      db,
      {
        actorId: null,
        actorName: input.username,
        action: "account.register",
        target: input.username,
        address: origin.address,
        outcome: "denied",
        details: { reason: "throttled" },
      },
      ctx.now(),
    );
    throw tooManyAttempts(throttled.retryAfterSeconds);
  }

  assertAcceptablePassword(
    ctx.config,
    input.password,
    { username: input.username, email: input.email },
    "body.password",
  );
  if ((await findUserByUsernameKey(db, usernameKey(input.username))) !== null)
    throw usernameTaken();

  const now = ctx.now();
  const passwordHash = await hashPassword(input.password, ctx.config.argon2);
  const existing = await findUserByEmailKey(db, emailKey(input.email));
  const pending: PendingUser = {
    id: randomId(),
    username: input.username,
    email: input.email,
    role: "member",
    disabled: false,
    mfaEnabled: false,
    passkeyEnabled: false,
    createdAt: now.toISOString(),
  };
  const token = generateToken();
  if (existing === null) {
    await insertPendingRegistration(db, {
      token_hash: hashToken(token),
      user_id: pending.id,
      username: input.username,
      username_key: usernameKey(input.username),
      email: input.email,
      email_key: emailKey(input.email),
      password_hash: passwordHash,
      created_at: pending.createdAt,
      expires_at: addMinutes(now, REGISTRATION_LINK_MINUTES),
    });
  }
  await recordAuditEvent(
    db,
    {
      actorId: null,
      actorName: input.username,
      action: "account.register",
      target: input.username,
      address: origin.address,
      outcome: existing === null ? "success" : "denied",
      ...(existing === null ? {} : { details: { reason: "email-in-use" } }),
    },
    now,
  );

  const message =
    existing === null
      ? {
          to: input.email,
          subject: "Confirm your Strongroom account",
          text: `Someone (hopefully you) signed up as ${input.username}.\n\nConfirm within 24 hours:\n${mailedLink(ctx.config.publicUrl, "/register/confirm", token)}\n\nIf the page asks for a code, it is: ${token}\n\nIf it was not you, ignore this message.`,
        }
      : {
          to: existing.email,
          subject: "Sign-up attempt with your address",
          text: `Someone tried to create a Strongroom account with this e-mail address, which already has one (${existing.username}).\n\nIf it was you, sign in or reset your password at ${ctx.config.publicUrl}/login. Otherwise, no action is needed.`,
        };
  // Sent after answering, so the response time does not depend on which message is sent.
  setImmediate(() => {
    ctx.mailer
      .send(message)
      .catch((error: unknown) => ctx.logger.error({ err: error }, "sign-up mail failed"));
  });
  return pending;
}

/**
 * Follows a sign-up link: creates the account from the pending registration. A link that is
 * unknown, used or expired gets one answer; a username or e-mail taken meanwhile is a 409.
 */
export async function confirmRegistration(
  db: Db,
  ctx: AccountsContext,
  token: string,
  origin: RequestOrigin,
): Promise<UserRow> {
  const now = ctx.now();
  return db.transaction().execute(async (trx) => {
    const pending = await takePendingRegistration(trx, hashToken(token));
    if (pending === null || pending.expires_at <= now.toISOString()) throw invalidLink();
    const user = newUserRow({
      id: pending.user_id,
      username: pending.username,
      email: pending.email,
      passwordHash: pending.password_hash,
      role: "member",
      now: now.toISOString(),
    });
    try {
      await insertUser(trx, user);
    } catch (error) {
      if (dialectOf<Database>(trx).isUniqueViolation(error))
        throw conflict("That username or e-mail address was registered meanwhile.");
      throw error;
    }
    await recordAuditEvent(
      trx,
      {
        actorId: user.id,
        actorName: user.username,
        action: "account.confirm",
        target: user.username,
        address: origin.address,
        outcome: "success",
      },
      now,
    );
    return user;
  });
}

/**
 * Creates an active account directly (CLI bootstrap, administrators). The password policy
 * applies; a duplicate username or e-mail is a 409.
 */
export async function createUser(
  db: Db,
  ctx: Pick<AccountsContext, "config" | "now">,
  input: Registration & { role: UserRow["role"] },
  actor: { id: string | null; name: string; address: string | null },
): Promise<UserRow> {
  assertAcceptablePassword(
    ctx.config,
    input.password,
    { username: input.username, email: input.email },
    "password",
  );
  const now = ctx.now().toISOString();
  const user = newUserRow({
    id: randomId(),
    username: input.username,
    email: input.email,
    passwordHash: await hashPassword(input.password, ctx.config.argon2),
    role: input.role,
    now,
  });
  try {
    await db.transaction().execute(async (trx) => {
      await insertUser(trx, user);
      await recordAuditEvent(
        trx,
        {
          actorId: actor.id,
          actorName: actor.name,
          action: "user.create",
          target: user.username,
          address: actor.address,
          outcome: "success",
          details: { role: user.role },
        },
        ctx.now(),
      );
    });
  } catch (error) {
    if (dialectOf<Database>(db).isUniqueViolation(error))
      throw conflict("A user with that username or e-mail address already exists.");
    throw error;
  }
  return user;
}

/** An account from another application, with the password hash that application stored. */
export interface ImportedAccount {
  username: string;
  email: string;
  /** bcrypt, Werkzeug or Argon2, as checked by the caller with isVerifiablePasswordHash. */
  passwordHash: string;
  role: UserRow["role"];
}

/** Which of these accounts' usernames and e-mail addresses existing users already have. */
export async function findTakenAccounts(
  db: Db,
  accounts: readonly Pick<ImportedAccount, "username" | "email">[],
): Promise<{ usernameKeys: Set<string>; emailKeys: Set<string> }> {
  return findTakenUserKeys(
    db,
    accounts.map((account) => usernameKey(account.username)),
    accounts.map((account) => emailKey(account.email)),
  );
}

/**
 * Creates imported accounts in ONE transaction: all of them or, on any error, none. Each
 * keeps the hash it came with — the password policy cannot be checked without the password
 * — and verifyPassword replaces it with Argon2id at the user's first sign-in. Each gets a
 * `user.create` event and the import one `user.import` event with `format` and the count.
 * `onProgress(done, total)` is called after each insert (not yet committed).
 * @throws AppError (409) when a username or e-mail address was taken meanwhile.
 */
export async function importAccounts(
  db: Db,
  accounts: readonly ImportedAccount[],
  actor: { id: string | null; name: string; address: string | null },
  options: { now: Date; format: string; onProgress?: (done: number, total: number) => void },
): Promise<number> {
  const now = options.now.toISOString();
  const record = (trx: Db, action: string, target: string | null, details: AuditDetails) =>
    recordAuditEvent(
      trx,
      {
        actorId: actor.id,
        actorName: actor.name,
        action,
        target,
        address: actor.address,
        outcome: "success",
        details,
      },
      options.now,
    );
  try {
    await db.transaction().execute(async (trx) => {
      for (const [index, account] of accounts.entries()) {
        const user = newUserRow({ id: randomId(), ...account, now });
        await insertUser(trx, user);
        await record(trx, "user.create", user.username, { role: user.role, source: "import" });
        options.onProgress?.(index + 1, accounts.length);
      }
      await record(trx, "user.import", null, { format: options.format, created: accounts.length });
    });
  } catch (error) {
    if (dialectOf<Database>(db).isUniqueViolation(error))
      throw conflict("A username or e-mail address was taken meanwhile; nothing was imported.");
    throw error;
  }
  return accounts.length;
}

type AuditDetails = Record<string, string | number>;

/** A fresh, active account row: no second factor, no sign-in history. */
function newUserRow(input: {
  id: string;
  username: string;
  email: string;
  passwordHash: string;
  role: UserRow["role"];
  now: string;
}): UserRow {
  return {
    id: input.id,
    username: input.username,
    username_key: usernameKey(input.username),
    email: input.email,
    email_key: emailKey(input.email),
    password_hash: input.passwordHash,
    role: input.role,
    disabled_at: null,
    totp_secret: null,
    totp_enabled_at: null,
    passkey_enabled_at: null,
    totp_last_step: null,
    failed_login_count: 0,
    failed_logins_before_last_login: 0,
    locked_until: null,
    last_login_at: null,
    last_login_address: null,
    created_at: input.now,
    updated_at: input.now,
  };
}
