import type { Kysely, Selectable } from "kysely";
import { z } from "zod";
import { precompiled } from "../db/precompiled.js";
import type { ApiTokensTable, Database } from "../db/schema.js";

/** A stored token row, with its scopes parsed. */
export type ApiTokenRow = Omit<Selectable<ApiTokensTable>, "scopes"> & {
  scopes: StoredScope[];
};

/** A scope as stored: the vault by id, so a vault deleted and re-created under its slug
 *  never inherits the old vault's tokens. */
export interface StoredScope {
  vaultId: string;
  permission: "read" | "write";
}

/**
 * The `scopes` column: a JSON array of `{vault, permission}` where `vault` is the vault's id
 * (see schema.ts). Parsed strictly: a row that does not match is corruption, not input.
 */
const storedScopes = z.array(
  z.strictObject({ vault: z.string().min(1), permission: z.enum(["read", "write"]) }),
);

function parseScopes(text: string): StoredScope[] {
  return storedScopes
    .parse(JSON.parse(text))
    .map((scope) => ({ vaultId: scope.vault, permission: scope.permission }));
}

function serializeScopes(scopes: readonly StoredScope[]): string {
  return JSON.stringify(
    scopes.map((scope) => ({ vault: scope.vaultId, permission: scope.permission })),
  );
}

function toRow(row: Selectable<ApiTokensTable>): ApiTokenRow {
  return { ...row, scopes: parseScopes(row.scopes) };
}

export async function insertApiToken(db: Kysely<Database>, token: ApiTokenRow): Promise<void> {
  await db
    .insertInto("api_tokens")
    .values({ ...token, scopes: serializeScopes(token.scopes) })
    .execute();
}

/** Every token of a user, revoked and expired ones included, newest first. */
export async function listUserApiTokens(
  db: Kysely<Database>,
  userId: string,
): Promise<ApiTokenRow[]> {
  const rows = await db
    .selectFrom("api_tokens")
    .selectAll()
    .where("user_id", "=", userId)
    .orderBy("created_at", "desc")
    .orderBy("id")
    .execute();
  return rows.map(toRow);
}

/** How many of a user's tokens are neither revoked nor expired at `now` (ISO). */
export async function countLiveUserApiTokens(
  db: Kysely<Database>,
  userId: string,
  now: string,
): Promise<number> {
  const row = await db
    .selectFrom("api_tokens")
    .select((eb) => eb.fn.countAll<number | string | bigint>().as("count"))
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** A token found by its hash, with what authentication needs of its owner. */
export interface ApiTokenWithOwner {
  token: Pick<
    ApiTokenRow,
    "id" | "user_id" | "scopes" | "expires_at" | "last_used_at" | "revoked_at"
  >;
  owner: TokenOwnerRow;
}

/**
 * The token whose hash is `tokenHash` and its owner's current name, role and status, in one
 * query; null when no token has this hash (or its owner is gone).
 */
const selectApiTokenWithOwner = precompiled((db: Kysely<Database>, tokenHash: string) =>
  db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select([
      "api_tokens.id",
      "api_tokens.user_id",
      "api_tokens.scopes",
      "api_tokens.expires_at",
      "api_tokens.last_used_at",
      "api_tokens.revoked_at",
      "users.username",
      "users.role",
      "users.disabled_at",
      "users.totp_enabled_at",
      "users.passkey_enabled_at",
    ])
    .where("api_tokens.token_hash", "=", tokenHash),
);

export async function findApiTokenWithOwnerByHash(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<ApiTokenWithOwner | null> {
  const [row] = await selectApiTokenWithOwner(db, tokenHash);
  if (row === undefined) return null;
  return {
    token: {
      id: row.id,
      user_id: row.user_id,
      scopes: parseScopes(row.scopes),
      expires_at: row.expires_at,
      last_used_at: row.last_used_at,
      revoked_at: row.revoked_at,
    },
    owner: {
      id: row.user_id,
      username: row.username,
      role: row.role,
      disabled_at: row.disabled_at,
      totp_enabled_at: row.totp_enabled_at,
      passkey_enabled_at: row.passkey_enabled_at,
    },
  };
}

/** One token of a user; null when the user has no token with this id. */
export async function findUserApiToken(
  db: Kysely<Database>,
  userId: string,
  id: string,
): Promise<ApiTokenRow | null> {
  const row = await db
    .selectFrom("api_tokens")
    .selectAll()
    .where("user_id", "=", userId)
    .where("id", "=", id)
    .executeTakeFirst();
  return row === undefined ? null : toRow(row);
}

/** Revokes one live token of a user; false when the user has no such unrevoked token. */
export async function revokeUserApiToken(
  db: Kysely<Database>,
  userId: string,
  id: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable("api_tokens")
    .set({ revoked_at: now })
    .where("user_id", "=", userId)
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Revokes every unrevoked token of a user; returns how many. */
export async function revokeUserApiTokens(
  db: Kysely<Database>,
  userId: string,
  now: string,
): Promise<number> {
  const result = await db
    .updateTable("api_tokens")
    .set({ revoked_at: now })
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function touchApiToken(
  db: Kysely<Database>,
  id: string,
  lastUsedAt: string,
): Promise<void> {
  await db
    .updateTable("api_tokens")
    .set({ last_used_at: lastUsedAt })
    .where("id", "=", id)
    .execute();
}

/**
 * Vault ids by slug, only for vaults `userId` is a member of: a slug the user may not see is
 * simply absent, exactly like one that does not exist.
 */
export async function findMemberVaultIdsBySlug(
  db: Kysely<Database>,
  userId: string,
  slugs: readonly string[],
): Promise<Map<string, string>> {
  if (slugs.length === 0) return new Map();
  const rows = await db
    .selectFrom("vaults")
    .innerJoin("vault_members", "vault_members.vault_id", "vaults.id")
    .select(["vaults.id", "vaults.slug"])
    .where("vault_members.user_id", "=", userId)
    .where("vaults.slug", "in", [...slugs])
    .execute();
  return new Map(rows.map((row) => [row.slug, row.id]));
}

/** Longest `in (…)` list sent at once (both engines cap bound parameters per statement). */
const IN_LIST_CHUNK = 500;

/** Vault slugs by id, for the vaults among `ids` that still exist. */
export async function findVaultSlugsById(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const slugs = new Map<string, string>();
  for (let start = 0; start < unique.length; start += IN_LIST_CHUNK) {
    const rows = await db
      .selectFrom("vaults")
      .select(["id", "slug"])
      .where("id", "in", unique.slice(start, start + IN_LIST_CHUNK))
      .execute();
    for (const row of rows) slugs.set(row.id, row.slug);
  }
  return slugs;
}

/**
 * The owner of a token as authentication needs them: current name, role and status, and
 * whether they have a second factor (`REQUIRE_MFA`).
 */
export interface TokenOwnerRow {
  id: string;
  username: string;
  role: "admin" | "auditor" | "member";
  disabled_at: string | null;
  totp_enabled_at: string | null;
  passkey_enabled_at: string | null;
}
