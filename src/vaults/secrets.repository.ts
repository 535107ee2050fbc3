import { type Kysely, type Selectable, sql } from "kysely";
import { dialectOf } from "../db/dialect.js";
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

export async function findVersion(
  db: Kysely<Database>,
  secretId: string,
  version: number,
): Promise<SecretVersionRow | null> {
  return (
    (await db
      .selectFrom("secret_versions")
      .selectAll()
      .where("secret_id", "=", secretId)
      .where("version", "=", version)
      .executeTakeFirst()) ?? null
  );
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
