import { usernameKey } from "../accounts/accounts.schema.js";
import type { Actor } from "../accounts/admin-actions.service.js";
import { deleteAllSessions, deleteUserSessions } from "../accounts/sessions.repository.js";
import type { UserRow } from "../accounts/users.repository.js";
import { findUserByUsernameKey, updateUser } from "../accounts/users.repository.js";
import { recordAuditEvent } from "../audit/audit.service.js";
import { macToken, verifyMacToken } from "../crypto/tokens.js";
import type { Db, SystemRole } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import { AppError, notFound, validationError } from "../lib/errors.js";
import type { SecretBytes } from "../lib/secret-bytes.js";
import { revokeAllUserTokens } from "../tokens/index.js";
import {
  deleteUserById,
  findUserByUsernameKeyForUpdate,
  lockEnabledAdministratorIds,
  lockOwnersOfVaultsOwnedBy,
  selectUserPage,
} from "./admin.repository.js";

/** 409: the change would leave no enabled administrator to manage users. */
export function lastAdministrator(): AppError {
  return new AppError("last-administrator", 409, "Conflict", {
    detail:
      "This is the last enabled administrator: make another user an administrator first, so someone can still manage users.",
  });
}

/** 409: deleting the user would leave vaults with no owner. */
export function soleVaultOwner(vaultCount: number): AppError {
  const vaults = vaultCount === 1 ? "1 vault" : `${vaultCount} vaults`;
  return new AppError("sole-vault-owner", 409, "Conflict", {
    detail: `This user is the only owner of ${vaults}. Another member must become an owner of each, or the vaults must be deleted, before the user can be deleted; or disable the user instead.`,
  });
}

/** What `GET /admin/users` asks for, as validated by `listUsersQuery`. */
export interface UserListRequest {
  /** Substring of the username or e-mail address, matched literally and without case. */
  query?: string | undefined;
  role?: SystemRole | undefined;
  disabled?: boolean | undefined;
  /** Users per page (the schema bounds it to 1–200). */
  limit: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

export interface UserListPage {
  users: UserRow[];
  nextCursor: string | null;
}

interface UserFilter {
  search: string | null;
  role: SystemRole | null;
  disabled: boolean | null;
}

const CURSOR_PURPOSE = "admin-users-cursor";

/**
 * The MAC covers the position and the filter, so a cursor can be neither forged nor carried
 * over to another search (where it would skip users silently).
 */
function cursorSubject(afterKey: string, filter: UserFilter): string {
  return JSON.stringify([afterKey, filter.search, filter.role, filter.disabled]);
}

function encodeCursor(secretKey: SecretBytes, afterKey: string, filter: UserFilter): string {
  const position = Buffer.from(afterKey, "utf8").toString("base64url");
  return `${position}.${macToken(secretKey, CURSOR_PURPOSE, cursorSubject(afterKey, filter))}`;
}

/** The position a cursor names; a 400 for anything we did not issue for this filter. */
function decodeCursor(secretKey: SecretBytes, cursor: string, filter: UserFilter): string {
  const invalid = validationError([
    { path: "query.cursor", message: "is not a cursor issued for this query" },
  ]);
  const match = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/.exec(cursor);
  if (match === null) throw invalid;
  const afterKey = Buffer.from(match[1] ?? "", "base64url").toString("utf8");
  if (!verifyMacToken(secretKey, CURSOR_PURPOSE, cursorSubject(afterKey, filter), match[2] ?? ""))
    throw invalid;
  return afterKey;
}

/**
 * One page of users in username order, filtered by a literal, case-insensitive substring of
 * the username or e-mail address, the role and the disabled flag. `secretKey` signs the
 * opaque cursors.
 *
 * @throws {AppError} 400 `validation-failed` for a cursor that is forged, altered or was
 *   issued for another filter.
 */
export async function listUsers(
  db: Db,
  secretKey: SecretBytes,
  request: UserListRequest,
): Promise<UserListPage> {
  const filter: UserFilter = {
    // The same normalisation as the stored keys (username_key, email_key).
    search: request.query === undefined ? null : request.query.normalize("NFC").toLowerCase(),
    role: request.role ?? null,
    disabled: request.disabled ?? null,
  };
  const afterKey =
    request.cursor === undefined ? null : decodeCursor(secretKey, request.cursor, filter);
  // One more than asked for tells whether another page follows.
  const rows = await selectUserPage(db, { ...filter, afterKey, limit: request.limit + 1 });
  const users = rows.slice(0, request.limit);
  const last = users.at(-1);
  const nextCursor =
    rows.length > request.limit && last !== undefined
      ? encodeCursor(secretKey, last.username_key, filter)
      : null;
  return { users, nextCursor };
}

/**
 * Locks the enabled administrators, then the user — in this order in every transaction
 * here, so two of them never wait on each other (PostgreSQL would abort one as a deadlock).
 */
async function lockAdministratorsAndUser(
  db: Db,
  username: string,
): Promise<{ user: UserRow; administrators: string[] }> {
  const administrators = await lockEnabledAdministratorIds(db);
  const user = await findUserByUsernameKeyForUpdate(db, usernameKey(username));
  if (user === null) throw notFound("There is no such user.");
  return { user, administrators };
}

/** True when `user` is the one enabled administrator left. */
function isLastAdministrator(user: UserRow, administrators: readonly string[]): boolean {
  return administrators.length === 1 && administrators[0] === user.id;
}

function isEnabledAdministrator(role: SystemRole, disabled: boolean): boolean {
  return role === "admin" && !disabled;
}

/** What `PATCH /admin/users/{username}` may change. */
export interface UserChanges {
  role?: SystemRole | undefined;
  disabled?: boolean | undefined;
}

/**
 * Changes a user's system role and/or disabled flag, in one transaction:
 * - a new role ends all the user's sessions (a privilege change: they sign in again) and is
 *   audited `user.role`;
 * - `disabled: true` disables the account, ends every session and revokes every API token
 *   (audited `user.disable`; repeating it is harmless and revokes anything left);
 * - `disabled: false` re-enables the account (audited `user.enable`); revoked tokens stay
 *   revoked.
 * Setting what is already set changes nothing. The caller may be the user themselves.
 * A role change and a disabling together hold the audit chain's lock while revoking tokens,
 * so a user revoking a token at that moment can deadlock with it on PostgreSQL: the change
 * then runs again.
 *
 * @returns the user as it is afterwards.
 * @throws {AppError} 404 for an unknown user; 409 `last-administrator` when the change would
 *   leave no enabled administrator.
 */
export async function changeUser(
  db: Db,
  now: Date,
  username: string,
  changes: UserChanges,
  actor: Actor,
): Promise<UserRow> {
  const at = now.toISOString();
  return withTransactionRetry(db, async (trx) => {
    const { user, administrators } = await lockAdministratorsAndUser(trx, username);
    const wasDisabled = user.disabled_at !== null;
    const role = changes.role ?? user.role;
    const disabled = changes.disabled ?? wasDisabled;
    if (isLastAdministrator(user, administrators) && !isEnabledAdministrator(role, disabled))
      throw lastAdministrator();

    const audit = (action: string, details: Record<string, string | number>) =>
      recordAuditEvent(
        trx,
        {
          actorId: actor.id,
          actorName: actor.name,
          action,
          target: user.username,
          address: actor.address,
          outcome: "success",
          details,
        },
        now,
      );

    const updated: UserRow = {
      ...user,
      role,
      disabled_at: disabled ? (user.disabled_at ?? at) : null,
    };
    if (role !== user.role || disabled !== wasDisabled) {
      updated.updated_at = at;
      await updateUser(trx, user.id, {
        role: updated.role,
        disabled_at: updated.disabled_at,
        updated_at: at,
      });
    }
    if (role !== user.role) {
      const endedSessions = await deleteUserSessions(trx, user.id, null);
      await audit("user.role", { from: user.role, to: role, endedSessions });
    }
    if (changes.disabled === true) {
      const endedSessions = await deleteUserSessions(trx, user.id, null);
      const revokedTokens = await revokeAllUserTokens(trx, user.id, now);
      if (!wasDisabled || endedSessions + revokedTokens > 0)
        await audit("user.disable", { endedSessions, revokedTokens });
    }
    if (changes.disabled === false && wasDisabled) await audit("user.enable", {});
    return updated;
  });
}

/**
 * Deletes a user. Their sessions, API tokens and vault memberships go with them (foreign-key
 * cascade); audit events keep their name. Audited `user.delete`.
 *
 * Vaults the user is the only owner of are not touched: the deletion is refused (409
 * `sole-vault-owner`, with how many) until each such vault has another owner or is deleted.
 * Deleting those vaults here would destroy other members' secrets, and keeping them without
 * an owner would leave nobody able to manage their members or delete them. Vaults with
 * another owner simply lose this member.
 *
 * @throws {AppError} 404 for an unknown user; 409 `last-administrator` for the last enabled
 *   administrator; 409 `sole-vault-owner` as above.
 */
export async function deleteUser(db: Db, now: Date, username: string, actor: Actor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const { user, administrators } = await lockAdministratorsAndUser(trx, username);
    if (isLastAdministrator(user, administrators)) throw lastAdministrator();

    const owners = await lockOwnersOfVaultsOwnedBy(trx, user.id);
    const coOwned = new Set(owners.filter((o) => o.user_id !== user.id).map((o) => o.vault_id));
    const soleOwned = new Set(owners.map((o) => o.vault_id).filter((id) => !coOwned.has(id)));
    if (soleOwned.size > 0) throw soleVaultOwner(soleOwned.size);

    await deleteUserById(trx, user.id);
    await recordAuditEvent(
      trx,
      {
        actorId: actor.id,
        actorName: actor.name,
        action: "user.delete",
        target: user.username,
        address: actor.address,
        outcome: "success",
        details: { role: user.role },
      },
      now,
    );
  });
}

/**
 * Ends every session of one user — after a suspected compromise of their account, without
 * disabling it: each browser of theirs must sign in again. API tokens are not sessions and
 * keep working (revoke them, or disable the user, to stop those too). Aimed at the caller
 * themselves it ends their own session as well. Audited `user.sessions-end` with the count,
 * in the same transaction; ending none is still recorded, as the administrator's decision.
 * It takes the audit chain's lock while holding the deleted session rows, so on PostgreSQL
 * it can deadlock with a request that holds the chain and touches one of those sessions: it
 * then runs again.
 *
 * @returns how many sessions ended.
 * @throws {AppError} 404 for an unknown user.
 */
export async function endUserSessions(
  db: Db,
  now: Date,
  username: string,
  actor: Actor,
): Promise<number> {
  return withTransactionRetry(db, async (trx) => {
    // Not locked: a user deleted meanwhile has lost their sessions anyway.
    const user = await findUserByUsernameKey(trx, usernameKey(username));
    if (user === null) throw notFound("There is no such user.");
    const endedSessions = await deleteUserSessions(trx, user.id, null);
    await recordAuditEvent(
      trx,
      {
        actorId: actor.id,
        actorName: actor.name,
        action: "user.sessions-end",
        target: user.username,
        address: actor.address,
        outcome: "success",
        details: { endedSessions },
      },
      now,
    );
    return endedSessions;
  });
}

/**
 * Ends every session of every user except `keepSessionId` (the calling administrator's own,
 * so they stay signed in to see the result; null from the CLI, which has none): everyone
 * signs in again, e.g. after a leaked session store or a suspected compromise of the server.
 * API tokens keep working. Audited `sessions.end-all` with the count, in the same
 * transaction (run again after a deadlock, as above).
 *
 * @returns how many sessions ended.
 */
export async function endAllSessions(
  db: Db,
  now: Date,
  actor: Actor,
  keepSessionId: string | null,
): Promise<number> {
  return withTransactionRetry(db, async (trx) => {
    const endedSessions = await deleteAllSessions(trx, keepSessionId);
    await recordAuditEvent(
      trx,
      {
        actorId: actor.id,
        actorName: actor.name,
        action: "sessions.end-all",
        target: null,
        address: actor.address,
        outcome: "success",
        details: { endedSessions },
      },
      now,
    );
    return endedSessions;
  });
}
