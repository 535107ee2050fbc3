import type { ApiTokenRow } from "./tokens.repository.js";
import type { TokenResponse } from "./tokens.schema.js";

/**
 * A token as its owner sees it: the allow-list of what leaves the server (never the token
 * text nor its hash). `slugs` maps vault ids to slugs; a scope whose vault has since been
 * deleted is left out, since it can never grant anything again (vault ids are not reused).
 */
export function presentApiToken(
  row: ApiTokenRow,
  slugs: ReadonlyMap<string, string>,
): TokenResponse {
  const scopes: TokenResponse["scopes"] = [];
  for (const scope of row.scopes) {
    const vault = slugs.get(scope.vaultId);
    if (vault !== undefined) scopes.push({ vault, permission: scope.permission });
  }
  return {
    id: row.id,
    name: row.name,
    scopes,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revoked: row.revoked_at !== null,
  };
}
