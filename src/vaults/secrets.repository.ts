import { type Kysely, type Selectable, sql } from "kysely";
import { dialectOf } from "../db/dialect.js";
import { precompiled } from "../db/precompiled.js";
import type { Database, SecretsTable, SecretVersionsTable } from "../db/schema.js";

export type SecretRow = Selectable<SecretsTable>;
export type SecretVersionRow = Selectable<SecretVersionsTable>;

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
 * names containing `search` (case-insensitive; LIKE wildcards in it match literally).
 */
export async function listSecretsPage(
  db: Kysely<Database>,
  vaultId: string,
  afterName: string | null,
  limit: number,
  search: string | null = null,
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
  return query.execute();
}

export async function insertSecret(db: Kysely<Database>, row: SecretRow): Promise<void> {
  await db.insertInto("secrets").values(row).execute();
}

export async function setCurrentVersion(
  db: Kysely<Database>,
  secretId: string,
  version: number,
  now: string,
): Promise<void> {
  await db
    .updateTable("secrets")
    .set({ current_version: version, updated_at: now })
    .where("id", "=", secretId)
    .execute();
}

export async function insertVersion(db: Kysely<Database>, row: SecretVersionRow): Promise<void> {
  await db.insertInto("secret_versions").values(row).execute();
}

/**
 * A secret of a vault by name with one of its versions — version `version`, or the current
 * one when undefined — in one query. Null when there is no such secret; `version` is null
 * when the secret has no such version.
 */
const VERSION_COLUMNS = [
  "secret_versions.id as v_id",
  "secret_versions.version as v_version",
  "secret_versions.key_id as v_key_id",
  "secret_versions.wrapped_key as v_wrapped_key",
  "secret_versions.nonce as v_nonce",
  "secret_versions.ciphertext as v_ciphertext",
  "secret_versions.note_ciphertext as v_note_ciphertext",
  "secret_versions.created_by as v_created_by",
  "secret_versions.created_at as v_created_at",
] as const;

const selectSecretWithCurrentVersion = precompiled(
  (db: Kysely<Database>, vaultId: string, name: string) =>
    db
      .selectFrom("secrets")
      .leftJoin("secret_versions", (join) =>
        join
          .onRef("secret_versions.secret_id", "=", "secrets.id")
          .onRef("secret_versions.version", "=", "secrets.current_version"),
      )
      .selectAll("secrets")
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
      .selectAll("secrets")
      .select(VERSION_COLUMNS)
      .where("secrets.vault_id", "=", vaultId)
      .where("secrets.name", "=", name),
);

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
  if (row === undefined) return null;
  const {
    v_id,
    v_version,
    v_key_id,
    v_wrapped_key,
    v_nonce,
    v_ciphertext,
    v_note_ciphertext,
    v_created_by,
    v_created_at,
    ...secret
  } = row;
  const found =
    v_id === null ||
    v_version === null ||
    v_key_id === null ||
    v_wrapped_key === null ||
    v_nonce === null ||
    v_ciphertext === null ||
    v_created_at === null
      ? null
      : {
          id: v_id,
          secret_id: secret.id,
          version: v_version,
          key_id: v_key_id,
          wrapped_key: v_wrapped_key,
          nonce: v_nonce,
          ciphertext: v_ciphertext,
          note_ciphertext: v_note_ciphertext,
          created_by: v_created_by,
          created_at: v_created_at,
        };
  return { secret, version: found };
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

/** Deletes a secret; its versions and wrapped keys go with it (foreign-key cascade). */
export async function deleteSecretRow(db: Kysely<Database>, secretId: string): Promise<void> {
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
