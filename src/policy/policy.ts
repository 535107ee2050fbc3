import type { Principal } from "../http/authentication.js";
import { AppError, notFound } from "../lib/errors.js";

/** Roles within one vault, strongest first. */
export type VaultRole = "owner" | "editor" | "viewer";

/** What an API token may do in one vault. */
export interface TokenScope {
  vaultId: string;
  permission: "read" | "write";
}

/**
 * The caller as the policy sees it: the principal, which for token callers carries the
 * token's scopes. The caller's vault role is looked up live per request, so a demotion
 * applies at once to the user and to every token they own.
 */
export type Actor = Principal;

/** The actions the API performs. Every route names exactly one. */
export type Action =
  | "vault.create"
  | "vault.list"
  | "vault.read"
  | "vault.update"
  | "vault.delete"
  | "member.list"
  | "member.manage"
  | "secret.list"
  | "secret.reveal"
  | "secret.write"
  | "secret.delete"
  | "secret.expiry"
  | "share.create"
  | "share.manage"
  | "token.manage"
  | "user.admin"
  | "audit.read";

/** The vault an action is about, with the caller's role in it (null: not a member). */
export interface VaultResource {
  vaultId: string;
  role: VaultRole | null;
}

const RANK: Record<VaultRole, number> = { viewer: 1, editor: 2, owner: 3 };

/** The least vault role each vault action needs, and what a token scope must allow. */
const VAULT_RULES: Partial<Record<Action, { role: VaultRole; token: "read" | "write" | null }>> = {
  "vault.read": { role: "viewer", token: "read" },
  "vault.update": { role: "owner", token: null },
  "vault.delete": { role: "owner", token: null },
  "member.list": { role: "viewer", token: null },
  "member.manage": { role: "owner", token: null },
  "secret.list": { role: "viewer", token: "read" },
  "secret.reveal": { role: "viewer", token: "read" },
  "secret.write": { role: "editor", token: "write" },
  "secret.delete": { role: "editor", token: "write" },
  // Extending an expiry makes an expired value revealable again: the vault's owners decide.
  "secret.expiry": { role: "owner", token: "write" },
  // Share links: editors create them (and list and revoke their own); owners manage all.
  "share.create": { role: "editor", token: "write" },
  "share.manage": { role: "owner", token: "write" },
};

/** The verdict: allowed, or why not — `hidden` when the caller may not even see the vault. */
export type Decision = { allowed: true } | { allowed: false; hidden: boolean };

const ALLOW: Decision = { allowed: true };
const DENY: Decision = { allowed: false, hidden: false };
const HIDE: Decision = { allowed: false, hidden: true };

function tokenScopeFor(actor: Actor, vaultId: string): "read" | "write" | null {
  const scope = actor.scopes?.find((s) => s.vaultId === vaultId);
  return scope?.permission ?? null;
}

/**
 * The one authorization decision of Strongroom. Default deny: an action not listed here is
 * refused. Admins manage users but get no access to vaults they are not members of;
 * auditors read the audit log and nothing else; a token never exceeds its scopes nor its
 * owner's current role.
 */
export function decide(actor: Actor, action: Action, vault?: VaultResource): Decision {
  const principal = actor;
  const isToken = principal.kind === "token";
  switch (action) {
    case "vault.create":
      return !isToken && principal.role !== "auditor" ? ALLOW : DENY;
    case "vault.list":
      return principal.role !== "auditor" ? ALLOW : DENY;
    case "token.manage":
      return !isToken && principal.role !== "auditor" ? ALLOW : DENY;
    case "user.admin":
      return !isToken && principal.role === "admin" ? ALLOW : DENY;
    case "audit.read":
      return !isToken && (principal.role === "admin" || principal.role === "auditor")
        ? ALLOW
        : DENY;
    default:
      break;
  }
  const rule = VAULT_RULES[action];
  if (rule === undefined || vault === undefined) return DENY;
  // Not a member: the vault does not exist as far as this caller can tell.
  if (vault.role === null || principal.role === "auditor") return HIDE;
  if (isToken) {
    const permission = tokenScopeFor(actor, vault.vaultId);
    if (permission === null) return HIDE;
    if (rule.token === null) return DENY;
    if (rule.token === "write" && permission !== "write") return DENY;
  }
  return RANK[vault.role] >= RANK[rule.role] ? ALLOW : DENY;
}

/**
 * Throws unless `decide` allows: 404 when the caller may not see the vault (so its existence
 * is not revealed), 403 when they can see it but lack the right. Both are logged as the
 * security event `security.access_denied` (the client's 404 stays that of a missing vault).
 */
export function authorize(actor: Actor, action: Action, vault?: VaultResource): void {
  const decision = decide(actor, action, vault);
  if (decision.allowed) return;
  if (decision.hidden) throw notFound(undefined, { securityEvent: "security.access_denied" });
  throw new AppError("forbidden", 403, "Forbidden", {
    detail: "You are not allowed to do this.",
    securityEvent: "security.access_denied",
  });
}
