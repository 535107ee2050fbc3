import { recordAuditEvent } from "../audit/audit.service.js";
import type { MfaRequirement } from "../config/config.js";
import { generateToken, hashToken } from "../crypto/tokens.js";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import type { FieldError } from "../lib/errors.js";
import { conflict, notFound, validationError } from "../lib/errors.js";
import { randomId } from "../lib/random.js";
import { mustEnrolSecondFactor } from "../policy/mfa-requirement.js";
import { presentApiToken } from "./presenters.js";
import type { ApiTokenRow, StoredScope } from "./tokens.repository.js";
import {
  countLiveUserApiTokens,
  findApiTokenWithOwnerByHash,
  findMemberVaultIdsBySlug,
  findUserApiToken,
  findVaultSlugsById,
  insertApiToken,
  listUserApiTokens,
  revokeUserApiToken,
  revokeUserApiTokens,
  touchApiToken,
} from "./tokens.repository.js";
import type { CreateTokenBody, TokenResponse } from "./tokens.schema.js";

/** Every API token starts with this, so it is recognisable in logs and secret scanners. */
export const API_TOKEN_PREFIX = "sr_";
/**
 * The exact shape of a token we issue: the prefix and 256 random bits in base64url (43
 * characters). Anything else is refused before touching the database.
 */
export const API_TOKEN_PATTERN = /^sr_[A-Za-z0-9_-]{43}$/;
/** `last_used_at` is written at most this often per token, not on every request. */
export const TOKEN_TOUCH_INTERVAL_MS = 60_000;
/** Most live (unrevoked, unexpired) tokens one user may hold at a time. */
export const MAX_LIVE_TOKENS_PER_USER = 100;

const DAY_MS = 86_400_000;

/** Runs `work` in the caller's transaction when given one, else in a new one. */
async function inTransaction<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

export interface CreateApiTokenInput extends CreateTokenBody {
  userId: string;
  username: string;
  now: Date;
  /** The client's address, for the audit log. */
  address: string | null;
}

/**
 * Issues an API token: `sr_` + 256 random bits, of which only the SHA-256 is stored. Each
 * scope must name a vault the user is a member of; an unknown vault and one the user cannot
 * see get the same 400, so the answer reveals nothing about other vaults. What the token may
 * do is decided at each use from its scopes and the owner's role then (policy.ts).
 * Returns the token text — shown to the caller this once — and the token as listed.
 * Throws 400 (a scope names no visible vault), 409 (too many live tokens).
 */
export async function createApiToken(
  db: Db,
  input: CreateApiTokenInput,
): Promise<{ token: string; apiToken: TokenResponse }> {
  const nowIso = input.now.toISOString();
  const vaultIds = await findMemberVaultIdsBySlug(
    db,
    input.userId,
    input.scopes.map((scope) => scope.vault),
  );
  const errors: FieldError[] = [];
  const scopes: StoredScope[] = [];
  input.scopes.forEach((scope, index) => {
    const vaultId = vaultIds.get(scope.vault);
    if (vaultId === undefined)
      errors.push({ path: `body.scopes.${index}.vault`, message: "no such vault" });
    else scopes.push({ vaultId, permission: scope.permission });
  });
  if (errors.length > 0) throw validationError(errors);

  const token = `${API_TOKEN_PREFIX}${generateToken()}`;
  const row: ApiTokenRow = {
    id: randomId(),
    user_id: input.userId,
    name: input.name,
    token_hash: hashToken(token),
    scopes,
    expires_at: new Date(input.now.getTime() + input.expiresInDays * DAY_MS).toISOString(),
    last_used_at: null,
    created_at: nowIso,
    revoked_at: null,
  };
  await inTransaction(db, async (trx) => {
    if ((await countLiveUserApiTokens(trx, input.userId, nowIso)) >= MAX_LIVE_TOKENS_PER_USER)
      throw conflict(
        `You have ${MAX_LIVE_TOKENS_PER_USER} live API tokens; revoke one before creating another.`,
      );
    await insertApiToken(trx, row);
    await recordAuditEvent(
      trx,
      {
        actorId: input.userId,
        actorName: input.username,
        action: "token.create",
        target: `token:${row.id}`,
        address: input.address,
        outcome: "success",
        // Never the token text or its hash: only what identifies and bounds the token.
        details: {
          name: row.name,
          scopes: input.scopes.map((scope) => `${scope.vault}:${scope.permission}`).join(","),
          expiresAt: row.expires_at,
        },
      },
      input.now,
    );
  });
  const slugs = new Map([...vaultIds].map(([slug, id]) => [id, slug]));
  return { token, apiToken: presentApiToken(row, slugs) };
}

/** Every token of a user (revoked and expired ones too, flagged), newest first. */
export async function listApiTokens(db: Db, userId: string): Promise<TokenResponse[]> {
  const rows = await listUserApiTokens(db, userId);
  const slugs = await findVaultSlugsById(
    db,
    rows.flatMap((row) => row.scopes.map((scope) => scope.vaultId)),
  );
  return rows.map((row) => presentApiToken(row, slugs));
}

/**
 * Revokes one of the caller's tokens, at once. Revoking an already revoked token is a no-op.
 * Throws 404 when the caller has no token with this id (another user's token included).
 */
export async function revokeApiToken(
  db: Db,
  input: { userId: string; username: string; tokenId: string; now: Date; address: string | null },
): Promise<void> {
  await inTransaction(db, async (trx) => {
    const revoked = await revokeUserApiToken(
      trx,
      input.userId,
      input.tokenId,
      input.now.toISOString(),
    );
    if (!revoked) {
      if ((await findUserApiToken(trx, input.userId, input.tokenId)) === null)
        throw notFound("There is no such API token.");
      return;
    }
    await recordAuditEvent(
      trx,
      {
        actorId: input.userId,
        actorName: input.username,
        action: "token.revoke",
        target: `token:${input.tokenId}`,
        address: input.address,
        outcome: "success",
      },
      input.now,
    );
  });
}

/**
 * Revokes every token of a user (disabling an account, SPEC §4 /admin/users); returns how
 * many. Records no audit event: the caller records the action that caused it.
 */
export async function revokeAllUserTokens(db: Db, userId: string, now: Date): Promise<number> {
  return revokeUserApiTokens(db, userId, now.toISOString());
}

/** Why a bearer token was refused, for the security log (never for the client). */
export type BearerRefusalReason =
  | "malformed"
  | "unknown"
  | "revoked"
  | "expired"
  | "owner-disabled";

/**
 * A refused bearer token: the reason and, when the token was found, its row id and owner —
 * both non-secret — so the log can say whose token it was. Never any part of the token.
 */
export interface BearerRefusal {
  reason: BearerRefusalReason;
  tokenId: string | null;
  userId: string | null;
}

/**
 * The caller a bearer token speaks for, or why it is refused: the text is not a token we
 * issued (`malformed`), or the token is `unknown`, `revoked`, `expired`, or its owner is
 * disabled (`owner-disabled`; a deleted owner's tokens are gone, so `unknown`). The role is
 * the owner's current one, so a demotion applies at once; `last_used_at` is written at most
 * once per {@link TOKEN_TOUCH_INTERVAL_MS}. Under `REQUIRE_MFA`, an owner who has yet to enrol a
 * second factor gets a principal marked `mfaEnrolmentRequired`, which the API refuses (403).
 */
export async function resolveBearerToken(
  db: Db,
  text: string,
  now: Date,
  requireMfa: MfaRequirement,
): Promise<{ principal: Principal } | { principal: null; refusal: BearerRefusal }> {
  const refuse = (
    reason: BearerRefusalReason,
    found?: { tokenId: string; userId: string },
  ): { principal: null; refusal: BearerRefusal } => ({
    principal: null,
    refusal: { reason, tokenId: found?.tokenId ?? null, userId: found?.userId ?? null },
  });
  // Shape first: a malformed or oversized value never reaches the database.
  if (!API_TOKEN_PATTERN.test(text)) return refuse("malformed");
  const found = await findApiTokenWithOwnerByHash(db, hashToken(text));
  if (found === null) return refuse("unknown");
  const { token, owner } = found;
  const whose = { tokenId: token.id, userId: owner.id };
  if (token.revoked_at !== null) return refuse("revoked", whose);
  const nowIso = now.toISOString();
  if (token.expires_at <= nowIso) return refuse("expired", whose);
  if (owner.disabled_at !== null) return refuse("owner-disabled", whose);
  if (
    token.last_used_at === null ||
    now.getTime() - Date.parse(token.last_used_at) >= TOKEN_TOUCH_INTERVAL_MS
  ) {
    await touchApiToken(db, token.id, nowIso);
  }
  return {
    principal: {
      kind: "token",
      userId: owner.id,
      username: owner.username,
      role: owner.role,
      sessionId: null,
      tokenId: token.id,
      scopes: token.scopes.map((scope) => ({
        vaultId: scope.vaultId,
        permission: scope.permission,
      })),
      // Tokens never prove anything afresh: they are exempt from step-up, not fresh.
      provenAt: null,
      mfaEnrolmentRequired: mustEnrolSecondFactor(requireMfa, owner),
    },
  };
}
