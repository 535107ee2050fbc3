import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { notFound } from "../lib/errors.js";
import type { Action, VaultRole } from "../policy/policy.js";
import { authorize } from "../policy/policy.js";
import type { VaultRow } from "./vaults.repository.js";
import { findVaultWithMemberRole } from "./vaults.repository.js";

/** A vault the caller is allowed to act on, with the caller's role in it. */
export interface VaultAccess {
  vault: VaultRow;
  role: VaultRole;
}

/**
 * Finds a vault by slug and asks the policy whether `actor` may do `action` in it. A vault
 * that does not exist and one the caller may not see get the same 404.
 */
export async function authorizeVault(
  db: Db,
  actor: Principal,
  slug: string,
  action: Action,
): Promise<VaultAccess> {
  return grantVaultAccess(actor, action, await findVaultWithMemberRole(db, slug, actor.userId));
}

/**
 * The policy's half of {@link authorizeVault}, for callers that read the vault and the
 * caller's role along with other rows: 404 when there is no such vault (`found` null) or the
 * caller may not see it, 403 when they may see it but not do `action`.
 */
export function grantVaultAccess(
  actor: Principal,
  action: Action,
  found: { vault: VaultRow; role: VaultRole | null } | null,
): VaultAccess {
  if (found === null) throw notFound();
  const { vault, role } = found;
  authorize(actor, action, { vaultId: vault.id, role });
  // authorize() only allows members, so the role is set here.
  return { vault, role: role ?? "viewer" };
}
