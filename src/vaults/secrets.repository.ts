import { type Kysely, type Selectable, sql } from "kysely";
import { dialectOf } from "../db/dialect.js";
import { precompiled } from "../db/precompiled.js";
import type {
  Database,
  SecretsTable,
  SecretVersionsTable,
  VaultRole,
  VaultsTable,
} from "../db/schema.js";

export type SecretRow = Selectable<SecretsTable>;
export type SecretVersionRow = Selectable<SecretVersionsTable>;
type VaultRow = Selectable<VaultsTable>;

export async function findSecret(
  db: Kysely<Database>,
  vaultId: string,
  name: string,
): Promise<SecretRow | null> {
  return (
    (await db
      .selectFrom("secrets")
      .selectAll()
      .where("vault_id", "=", vaultId)
      .where("name", "=", name)
      .executeTakeFirst()) ?? null
  );
}

/** The secret row, locked until the transaction ends (PostgreSQL), so versions are numbered one at a time. */
export async function findSecretForUpdate(
  db: Kysely<Database>,
  vaultId: string,
  name: string,
): Promise<SecretRow | null> {
  const query = db
    .selectFrom("secrets")
    .selectAll()
    .where("vault_id", "=", vaultId)
    .where("name", "=", name);
  return (await dialectOf(db).lockForUpdate(query).executeTakeFirst()) ?? null;
}

/**
 * Secrets of a vault in name order after `afterName`, at most `limit`, optionally only
 * names containing `search` (case-insensitive; LIKE wildcards in it match literally) and
 * only those expiring at or before `expiringBefore` (ISO-8601 UTC; expired ones included).
 */
export async function listSecretsPage(
  db: Kysely<Database>,
  vaultId: string,
  afterName: string | null,
  limit: number,
  search: string | null = null,
  expiringBefore: string | null = null,
): Promise<SecretRow[]> {
  let query = db
    .selectFrom("secrets")
    .selectAll()
    .where("vault_id", "=", vaultId)
    .orderBy("name")
    .limit(limit);
  if (afterName !== null) query = query.where("name", ">", afterName);
  if (search !== null && search !== "") {
    const pattern = `%${search.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
    query = query.where(sql<boolean>`lower(name) like ${pattern} escape '!'`);
  }
  // ISO-8601 UTC text compares in time order on SQLite as timestamptz does on PostgreSQL.
  if (expiringBefore !== null) query = query.where("expires_at", "<=", expiringBefore);
  return query.execute();
}

export async function insertSecret(db: Kysely<Database>, row: SecretRow): Promise<void> {
  await db.insertInto("secrets").values(row).execute();
}

/**
 * Moves a secret to `version`, of type `type`; `expiresAt` undefined leaves its expiry as
 * it is.
 */
export async function setCurrentVersion(
  db: Kysely<Database>,
  secretId: string,
  version: number,
  now: string,
  expiresAt: string | null | undefined,
  type: string,
): Promise<void> {
  await db
    .updateTable("secrets")
    .set({
      current_version: version,
      updated_at: now,
      type,
      ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
    })
    .where("id", "=", secretId)
    .execute();
}

/** Sets when a secret expires (null: never), without a new version. */
export async function setSecretExpiry(
  db: Kysely<Database>,
  secretId: string,
  expiresAt: string | null,
): Promise<void> {
  await db
    .updateTable("secrets")
    .set({ expires_at: expiresAt })
    .where("id", "=", secretId)
    .execute();
}

export async function insertVersion(db: Kysely<Database>, row: SecretVersionRow): Promise<void> {
  await db.insertInto("secret_versions").values(row).execute();
}

/** A version's columns, prefixed `v_` so that they can sit beside a secret's in one row. */
const VERSION_COLUMNS = [
  "secret_versions.id as v_id",
  "secret_versions.secret_id as v_secret_id",
  "secret_versions.version as v_version",
  "secret_versions.key_id as v_key_id",
  "secret_versions.wrapped_key as v_wrapped_key",
  "secret_versions.nonce as v_nonce",
  "secret_versions.ciphertext as v_ciphertext",
  "secret_versions.note_ciphertext as v_note_ciphertext",
  "secret_versions.created_by as v_created_by",
  "secret_versions.created_at as v_created_at",
] as const;

/** A secret's columns, prefixed `s_` so that they can sit beside a vault's in one row. */
const SECRET_COLUMNS = [
  "secrets.id as s_id",
  "secrets.vault_id as s_vault_id",
  "secrets.name as s_name",
  "secrets.type as s_type",
  "secrets.current_version as s_current_version",
  "secrets.expires_at as s_expires_at",
  "secrets.created_by as s_created_by",
  "secrets.created_at as s_created_at",
  "secrets.updated_at as s_updated_at",
] as const;

/** The `v_*` columns of a left join with `secret_versions` (all null when none matched). */
interface JoinedVersion {
  v_id: string | null;
  v_secret_id: string | null;
  v_version: number | null;
  v_key_id: string | null;
  v_wrapped_key: Buffer | null;
  v_nonce: Buffer | null;
  v_ciphertext: Buffer | null;
  v_note_ciphertext: Buffer | null;
  v_created_by: string | null;
  v_created_at: string | null;
}

/** The `s_*` columns of a left join with `secrets` (all null when none matched). */
interface JoinedSecret {
  s_id: string | null;
  s_vault_id: string | null;
  s_name: string | null;
  s_type: string | null;
  s_current_version: number | null;
  s_expires_at: string | null;
  s_created_by: string | null;
  s_created_at: string | null;
  s_updated_at: string | null;
}

function versionOf(row: JoinedVersion): SecretVersionRow | null {
  if (
    row.v_id === null ||
    row.v_secret_id === null ||
    row.v_version === null ||
    row.v_key_id === null ||
    row.v_wrapped_key === null ||
    row.v_nonce === null ||
    row.v_ciphertext === null ||
    row.v_created_at === null
  )
    return null;
  return {
    id: row.v_id,
    secret_id: row.v_secret_id,
    version: row.v_version,
    key_id: row.v_key_id,
    wrapped_key: row.v_wrapped_key,
    nonce: row.v_nonce,
    ciphertext: row.v_ciphertext,
    note_ciphertext: row.v_note_ciphertext,
    created_by: row.v_created_by,
    created_at: row.v_created_at,
  };
}

function secretOf(row: JoinedSecret): SecretRow | null {
  if (
    row.s_id === null ||
    row.s_vault_id === null ||
    row.s_name === null ||
    row.s_type === null ||
    row.s_current_version === null ||
    row.s_created_at === null ||
    row.s_updated_at === null
  )
    return null;
  return {
    id: row.s_id,
    vault_id: row.s_vault_id,
    name: row.s_name,
    type: row.s_type,
    current_version: row.s_current_version,
    expires_at: row.s_expires_at,
    created_by: row.s_created_by,
    created_at: row.s_created_at,
    updated_at: row.s_updated_at,
  };
}

const selectSecretWithCurrentVersion = precompiled(
  (db: Kysely<Database>, vaultId: string, name: string) =>
    db
      .selectFrom("secrets")
      .leftJoin("secret_versions", (join) =>
        join
          .onRef("secret_versions.secret_id", "=", "secrets.id")
          .onRef("secret_versions.version", "=", "secrets.current_version"),
      )
      .select(SECRET_COLUMNS)
      .select(VERSION_COLUMNS)
      .where("secrets.vault_id", "=", vaultId)
      .where("secrets.name", "=", name),
);

const selectSecretWithVersion = precompiled(
  (db: Kysely<Database>, vaultId: string, name: string, version: number) =>
    db
      .selectFrom("secrets")
      .leftJoin("secret_versions", (join) =>
        join
          .onRef("secret_versions.secret_id", "=", "secrets.id")
          .on("secret_versions.version", "=", version),
      )
      .select(SECRET_COLUMNS)
      .select(VERSION_COLUMNS)
      .where("secrets.vault_id", "=", vaultId)
      .where("secrets.name", "=", name),
);

/**
 * A secret of a vault by name with one of its versions — version `version`, or the current
 * one when undefined — in one query. Null when there is no such secret; `version` is null
 * when the secret has no such version.
 */
export async function findSecretWithVersion(
  db: Kysely<Database>,
  vaultId: string,
  name: string,
  version: number | undefined,
): Promise<{ secret: SecretRow; version: SecretVersionRow | null } | null> {
  const [row] =
    version === undefined
      ? await selectSecretWithCurrentVersion(db, vaultId, name)
      : await selectSecretWithVersion(db, vaultId, name, version);
  const secret = row === undefined ? null : secretOf(row);
  return row === undefined || secret === null ? null : { secret, version: versionOf(row) };
}

/** A vault with the caller's role in it and, when they exist, a secret and one version. */
export interface VaultSecretVersion {
  vault: VaultRow;
  /** Null: the caller is not a member. */
  role: VaultRole | null;
  secret: SecretRow | null;
  version: SecretVersionRow | null;
}

const VAULT_COLUMNS = [
  "vaults.id",
  "vaults.slug",
  "vaults.description",
  "vaults.created_at",
  "vaults.updated_at",
  "vault_members.role",
] as const;

const selectVaultSecretWithCurrentVersion = precompiled(
  (db: Kysely<Database>, slug: string, userId: string, name: string) =>
    db
      .selectFrom("vaults")
      .leftJoin("vault_members", (join) =>
        join
          .onRef("vault_members.vault_id", "=", "vaults.id")
          .on("vault_members.user_id", "=", userId),
      )
      .leftJoin("secrets", (join) =>
        join.onRef("secrets.vault_id", "=", "vaults.id").on("secrets.name", "=", name),
      )
      .leftJoin("secret_versions", (join) =>
        join
          .onRef("secret_versions.secret_id", "=", "secrets.id")
          .onRef("secret_versions.version", "=", "secrets.current_version"),
      )
      .select(VAULT_COLUMNS)
      .select(SECRET_COLUMNS)
      .select(VERSION_COLUMNS)
      .where("vaults.slug", "=", slug),
);

const selectVaultSecretWithVersion = precompiled(
  (db: Kysely<Database>, slug: string, userId: string, name: string, version: number) =>
    db
      .selectFrom("vaults")
      .leftJoin("vault_members", (join) =>
        join
          .onRef("vault_members.vault_id", "=", "vaults.id")
          .on("vault_members.user_id", "=", userId),
      )
      .leftJoin("secrets", (join) =>
        join.onRef("secrets.vault_id", "=", "vaults.id").on("secrets.name", "=", name),
      )
      .leftJoin("secret_versions", (join) =>
        join
          .onRef("secret_versions.secret_id", "=", "secrets.id")
          .on("secret_versions.version", "=", version),
      )
      .select(VAULT_COLUMNS)
      .select(SECRET_COLUMNS)
      .select(VERSION_COLUMNS)
      .where("vaults.slug", "=", slug),
);

/**
 * What revealing needs, in one query: the vault named `slug`, `userId`'s role in it, the
 * secret `name` in it and its version `version` (the current one when undefined). Null when
 * there is no such vault. Nothing here is a decision: the caller asks the policy first.
 */
export async function findVaultSecretVersion(
  db: Kysely<Database>,
  slug: string,
  userId: string,
  name: string,
  version: number | undefined,
): Promise<VaultSecretVersion | null> {
  const [row] =
    version === undefined
      ? await selectVaultSecretWithCurrentVersion(db, slug, userId, name)
      : await selectVaultSecretWithVersion(db, slug, userId, name, version);
  if (row === undefined) return null;
  return {
    vault: {
      id: row.id,
      slug: row.slug,
      description: row.description,
      created_at: row.created_at,
      updated_at: row.updated_at,
    },
    role: row.role,
    secret: secretOf(row),
    version: versionOf(row),
  };
}

export async function listVersions(
  db: Kysely<Database>,
  secretId: string,
): Promise<Array<{ version: number; created_at: string; created_by: string | null }>> {
  return db
    .selectFrom("secret_versions")
    .select(["version", "created_at", "created_by"])
    .where("secret_id", "=", secretId)
    .orderBy("version", "desc")
    .execute();
}

/** Deletes versions numbered `olderThan` or lower (the keep-20 rule). Returns how many. */
export async function deleteVersionsUpTo(
  db: Kysely<Database>,
  secretId: string,
  olderThan: number,
): Promise<number> {
  const result = await db
    .deleteFrom("secret_versions")
    .where("secret_id", "=", secretId)
    .where("version", "<=", olderThan)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Deletes a secret; its versions and wrapped keys go with it (foreign-key cascade), and so do
 * its share links (src/shares), which name the secret rather than reference it: a deleted
 * secret's value must not stay reachable through a link made before.
 */
export async function deleteSecretRow(db: Kysely<Database>, secretId: string): Promise<void> {
  await db
    .deleteFrom("shares")
    .where(({ eb, and, selectFrom }) =>
      and([
        eb("vault_id", "=", selectFrom("secrets").select("vault_id").where("id", "=", secretId)),
        eb("secret_name", "=", selectFrom("secrets").select("name").where("id", "=", secretId)),
      ]),
    )
    .execute();
  await db.deleteFrom("secret_versions").where("secret_id", "=", secretId).execute();
  await db.deleteFrom("secrets").where("id", "=", secretId).execute();
}

/** Ids of every secret in a vault (to shred them with it). */
export async function listSecretIds(db: Kysely<Database>, vaultId: string): Promise<string[]> {
  return (
    await db.selectFrom("secrets").select("id").where("vault_id", "=", vaultId).execute()
  ).map((row) => row.id);
}

/** The shred ledger: a restored backup drops every secret listed here. */
export async function recordShredded(
  db: Kysely<Database>,
  secretIds: readonly string[],
  vaultId: string,
  now: string,
): Promise<void> {
  if (secretIds.length === 0) return;
  await db
    .insertInto("shredded_secrets")
    .values(secretIds.map((secret_id) => ({ secret_id, vault_id: vaultId, shredded_at: now })))
    .onConflict((oc) => oc.column("secret_id").doNothing())
    .execute();
}
