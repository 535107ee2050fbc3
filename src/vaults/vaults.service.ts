import { recordAuditEvent } from "../audit/audit.service.js";
import { dialectOf } from "../db/dialect.js";
import type { Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import type { Principal } from "../http/authentication.js";
import { conflict, notFound } from "../lib/errors.js";
import { randomId } from "../lib/random.js";
import type { VaultRole } from "../policy/policy.js";
import type { VaultAccess } from "./access.js";
import { deleteSecretRow, listSecretIds, recordShredded } from "./secrets.repository.js";
import type { VaultRow } from "./vaults.repository.js";
import {
  countOwners,
  deleteMember,
  deleteVaultRow,
  findEnabledUserByUsernameKey,
  findMemberRole,
  findVaultBySlug,
  insertVault,
  listVaultsOfUser,
  lockVaultRow,
  updateVaultDescription,
  upsertMember,
} from "./vaults.repository.js";

/** Who did it and from where, for the audit log. */
export interface Acting {
  actor: Principal;
  address: string;
  now: Date;
}

/** Records a successful vault or secret action by `acting.actor`. */
export function auditAction(
  db: Db,
  acting: Acting,
  action: string,
  target: string,
  details?: Record<string, string | number>,
): Promise<void> {
  return recordAuditEvent(
    db,
    {
      actorId: acting.actor.userId,
      actorName: acting.actor.username,
      action,
      target,
      address: acting.address,
      outcome: "success",
      ...(details ? { details } : {}),
    },
    acting.now,
  );
}

/**
 * The vault named `slug`, or null, with no policy check: for the operator's CLI (imports),
 * which acts with the server's own authority — whoever can run it can read MASTER_KEY and
 * the database anyway. Routes use authorizeVault.
 */
export function findVaultForOperator(db: Db, slug: string): Promise<VaultRow | null> {
  return findVaultBySlug(db, slug);
}

/** Creates a vault; the creator becomes its owner. A taken slug is a 409. */
export async function createVault(
  db: Db,
  acting: Acting,
  input: { slug: string; description?: string | undefined },
): Promise<VaultRow> {
  const now = acting.now.toISOString();
  const vault: VaultRow = {
    id: randomId(),
    slug: input.slug,
    description: input.description ?? "",
    created_at: now,
    updated_at: now,
  };
  try {
    await db.transaction().execute(async (trx) => {
      await insertVault(trx, vault);
      await upsertMember(trx, {
        vault_id: vault.id,
        user_id: acting.actor.userId,
        role: "owner",
        created_at: now,
      });
      await auditAction(trx, acting, "vault.create", vault.slug);
    });
  } catch (error) {
    if (dialectOf(db).isUniqueViolation(error))
      throw conflict("A vault with that slug already exists.");
    throw error;
  }
  return vault;
}

/** The caller's vaults; a token sees only the vaults in its scopes. */
export async function listVaults(
  db: Db,
  actor: Principal,
): Promise<Array<VaultRow & { role: VaultRole }>> {
  const vaults = await listVaultsOfUser(db, actor.userId);
  if (actor.kind !== "token") return vaults;
  const scoped = new Set(actor.scopes?.map((scope) => scope.vaultId));
  return vaults.filter((vault) => scoped.has(vault.id));
}

export async function updateVault(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  description: string,
): Promise<VaultRow> {
  await db.transaction().execute(async (trx) => {
    await updateVaultDescription(trx, access.vault.id, description, acting.now.toISOString());
    await auditAction(trx, acting, "vault.update", access.vault.slug);
  });
  return { ...access.vault, description, updated_at: acting.now.toISOString() };
}

/**
 * Deletes a vault and shreds every secret in it: rows and wrapped keys go in one
 * transaction, the ids go to the shred ledger, then the engine is asked to scrub freed pages.
 * Runs again after a deadlock with a key rotation batch rewriting the same versions.
 */
export async function deleteVault(db: Db, acting: Acting, access: VaultAccess): Promise<void> {
  await withTransactionRetry(db, async (trx) => {
    // First, so that no secret can be added between listing and deleting: one added then
    // would go with the vault by cascade without a shred-ledger entry, and a restore of an
    // older backup could bring it back.
    await lockVaultRow(trx, access.vault.id);
    const secretIds = await listSecretIds(trx, access.vault.id);
    for (const secretId of secretIds) await deleteSecretRow(trx, secretId);
    await recordShredded(trx, secretIds, access.vault.id, acting.now.toISOString());
    await deleteVaultRow(trx, access.vault.id);
    await auditAction(trx, acting, "vault.delete", access.vault.slug, {
      secretsShredded: secretIds.length,
    });
  });
  await dialectOf(db).scrubDeletedData(db);
}

/**
 * Adds a member or changes a member's role (owners only). The last owner cannot be demoted.
 * An unknown or disabled user is a 404.
 */
export async function putMember(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  username: string,
  role: VaultRole,
): Promise<{ username: string; role: VaultRole; created: boolean }> {
  const user = await findEnabledUserByUsernameKey(db, username.toLowerCase());
  if (user === null) throw notFound("There is no such user.");
  return db.transaction().execute(async (trx) => {
    const current = await findMemberRole(trx, access.vault.id, user.id);
    if (current === "owner" && role !== "owner" && (await countOwners(trx, access.vault.id)) <= 1) {
      throw conflict("The last owner cannot be demoted; make someone else an owner first.");
    }
    await upsertMember(trx, {
      vault_id: access.vault.id,
      user_id: user.id,
      role,
      created_at: acting.now.toISOString(),
    });
    await auditAction(
      trx,
      acting,
      current === null ? "member.add" : "member.role",
      access.vault.slug,
      {
        username: user.username,
        role,
      },
    );
    return { username: user.username, role, created: current === null };
  });
}

/** Removes a member (owners, or a member leaving). The last owner cannot leave. */
export async function removeMember(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  userId: string,
  username: string,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const current = await findMemberRole(trx, access.vault.id, userId);
    if (current === null) throw notFound("That user is not a member of this vault.");
    if (current === "owner" && (await countOwners(trx, access.vault.id)) <= 1) {
      throw conflict(
        "The last owner cannot leave; make someone else an owner or delete the vault.",
      );
    }
    await deleteMember(trx, access.vault.id, userId);
    await auditAction(trx, acting, "member.remove", access.vault.slug, { username });
  });
}
