import type { Kysely, Selectable } from "kysely";
import { dialectOf } from "../db/dialect.js";
import { precompiled } from "../db/precompiled.js";
import type { Database, VaultMembersTable, VaultRole, VaultsTable } from "../db/schema.js";

export type VaultRow = Selectable<VaultsTable>;
export type MemberRow = Selectable<VaultMembersTable>;

export async function findVaultBySlug(
  db: Kysely<Database>,
  slug: string,
): Promise<VaultRow | null> {
  return (
    (await db.selectFrom("vaults").selectAll().where("slug", "=", slug).executeTakeFirst()) ?? null
  );
}

/**
 * The vault named `slug` with `userId`'s role in it (null: not a member), in one query;
 * null when there is no such vault.
 */
const selectVaultWithMemberRole = precompiled(
  (db: Kysely<Database>, slug: string, userId: string) =>
    db
      .selectFrom("vaults")
      .leftJoin("vault_members", (join) =>
        join
          .onRef("vault_members.vault_id", "=", "vaults.id")
          .on("vault_members.user_id", "=", userId),
      )
      .select([
        "vaults.id",
        "vaults.slug",
        "vaults.description",
        "vaults.created_at",
        "vaults.updated_at",
        "vault_members.role",
      ])
      .where("vaults.slug", "=", slug),
);

export async function findVaultWithMemberRole(
  db: Kysely<Database>,
  slug: string,
  userId: string,
): Promise<{ vault: VaultRow; role: VaultRole | null } | null> {
  const [row] = await selectVaultWithMemberRole(db, slug, userId);
  if (row === undefined) return null;
  const { role, ...vault } = row;
  return { vault, role };
}

/** The user's role in a vault, or null when not a member. */
export async function findMemberRole(
  db: Kysely<Database>,
  vaultId: string,
  userId: string,
): Promise<VaultRole | null> {
  const row = await db
    .selectFrom("vault_members")
    .select("role")
    .where("vault_id", "=", vaultId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row?.role ?? null;
}

/** Vaults the user is a member of, with their role, by slug. */
export async function listVaultsOfUser(
  db: Kysely<Database>,
  userId: string,
): Promise<Array<VaultRow & { role: VaultRole }>> {
  return db
    .selectFrom("vaults")
    .innerJoin("vault_members", "vault_members.vault_id", "vaults.id")
    .selectAll("vaults")
    .select("vault_members.role")
    .where("vault_members.user_id", "=", userId)
    .orderBy("vaults.slug")
    .execute();
}

export async function insertVault(db: Kysely<Database>, vault: VaultRow): Promise<void> {
  await db.insertInto("vaults").values(vault).execute();
}

export async function updateVaultDescription(
  db: Kysely<Database>,
  vaultId: string,
  description: string,
  now: string,
): Promise<void> {
  await db
    .updateTable("vaults")
    .set({ description, updated_at: now })
    .where("id", "=", vaultId)
    .execute();
}

/**
 * Locks a vault's row until the transaction ends (PostgreSQL; SQLite's single writer needs
 * nothing). Inserting a secret takes a key-share lock on its vault's row through the foreign
 * key, so a deleter holding this lock waits for writers in flight and blocks new ones: the
 * list of secrets it shreds is complete.
 */
export async function lockVaultRow(db: Kysely<Database>, vaultId: string): Promise<void> {
  await dialectOf(db)
    .lockForUpdate(db.selectFrom("vaults").select("id").where("id", "=", vaultId))
    .execute();
}

export async function deleteVaultRow(db: Kysely<Database>, vaultId: string): Promise<void> {
  await db.deleteFrom("vaults").where("id", "=", vaultId).execute();
}

export async function listMembers(
  db: Kysely<Database>,
  vaultId: string,
): Promise<Array<{ username: string; role: VaultRole; created_at: string; user_id: string }>> {
  return db
    .selectFrom("vault_members")
    .innerJoin("users", "users.id", "vault_members.user_id")
    .select([
      "users.username",
      "vault_members.role",
      "vault_members.created_at",
      "vault_members.user_id",
    ])
    .where("vault_members.vault_id", "=", vaultId)
    .orderBy("users.username_key")
    .execute();
}

/** Adds a member or changes their role. */
export async function upsertMember(db: Kysely<Database>, member: MemberRow): Promise<void> {
  await db
    .insertInto("vault_members")
    .values(member)
    .onConflict((oc) => oc.columns(["vault_id", "user_id"]).doUpdateSet({ role: member.role }))
    .execute();
}

export async function deleteMember(
  db: Kysely<Database>,
  vaultId: string,
  userId: string,
): Promise<boolean> {
  const result = await db
    .deleteFrom("vault_members")
    .where("vault_id", "=", vaultId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function countOwners(db: Kysely<Database>, vaultId: string): Promise<number> {
  const row = await db
    .selectFrom("vault_members")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("vault_id", "=", vaultId)
    .where("role", "=", "owner")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** An enabled user by case-insensitive username, for adding members. */
export async function findEnabledUserByUsernameKey(
  db: Kysely<Database>,
  key: string,
): Promise<{ id: string; username: string } | null> {
  const row = await db
    .selectFrom("users")
    .select(["id", "username"])
    .where("username_key", "=", key)
    .where("disabled_at", "is", null)
    .executeTakeFirst();
  return row ?? null;
}
