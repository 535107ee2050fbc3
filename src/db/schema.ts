/**
 * Kysely table types for the schema built by `migrations/` (currently `0001_initial`).
 *
 * Conventions shared by both engines, so the application never sees a difference:
 * - Times are {@link Timestamp}s: ISO-8601 UTC strings (`new Date().toISOString()`), stored as
 *   `text` in SQLite and `timestamptz` in PostgreSQL (read back through the same format).
 *   The application always supplies them (no database defaults), so an injected clock rules.
 * - There are no boolean columns: a flag is a nullable timestamp saying when it was set.
 * - Binary columns are `Buffer` in and out (`blob` / `bytea`).
 * - JSON columns are `text`; the repository parses and validates them.
 */
import type { ColumnType, Generated, GeneratedAlways } from "kysely";

/** ISO-8601 UTC time, e.g. `2025-01-31T12:00:00.000Z` (millisecond precision). */
export type Timestamp = string;

/** A column holding JSON text; the repository owning it parses and validates it. */
export type JsonText = string;

/** System role of a user (SPEC §3). */
export type SystemRole = "admin" | "auditor" | "member";

/** Role of a user within one vault (SPEC §3). */
export type VaultRole = "owner" | "editor" | "viewer";

/** People who sign in (SPEC §3 User). */
export interface UsersTable {
  id: string;
  username: string;
  /** `username` lower-cased: usernames are unique without regard to case. */
  username_key: string;
  email: string;
  /** Normalised, lower-cased e-mail; unique. */
  email_key: string;
  password_hash: string;
  role: SystemRole;
  disabled_at: Timestamp | null;
  /** TOTP secret, encrypted with the master key; null until enrolment starts. */
  totp_secret: Buffer | null;
  totp_enabled_at: Timestamp | null;
  /** Set while the user has at least one passkey (a second factor, like TOTP). */
  passkey_enabled_at: Timestamp | null;
  /** Last accepted TOTP time step, so a code is never accepted twice. */
  totp_last_step: number | null;
  failed_login_count: Generated<number>;
  failed_logins_before_last_login: Generated<number>;
  locked_until: Timestamp | null;
  last_login_at: Timestamp | null;
  last_login_address: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Single-use two-factor recovery codes, stored hashed. */
export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  used_at: Timestamp | null;
  created_at: Timestamp;
}

/** Server-side sessions; the cookie holds the token, the table its hash. */
export interface SessionsTable {
  /** SHA-256 of the session token, hex: a database leak yields no usable cookie. */
  id: string;
  user_id: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  /** Absolute expiry. */
  expires_at: Timestamp;
  /** Sliding expiry, pushed forward on use. */
  idle_expires_at: Timestamp;
  reauth_at: Timestamp | null;
  mfa_verified_at: Timestamp | null;
  ip: string | null;
  user_agent: string | null;
}

/** Mailed password-reset tokens, stored hashed, single use. */
export interface PasswordResetTokensTable {
  /** SHA-256 of the mailed token, hex. */
  token_hash: string;
  user_id: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

/** Sign-ups waiting for their mailed link (24 hours), stored with the token hashed. */
export interface PendingRegistrationsTable {
  token_hash: string;
  /** The id the user will get when the registration is confirmed. */
  user_id: string;
  username: string;
  username_key: string;
  email: string;
  email_key: string;
  password_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
}

/** Shared containers of secrets (SPEC §3 Vault). */
export interface VaultsTable {
  id: string;
  slug: string;
  description: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Who may use a vault, and with which vault role. */
export interface VaultMembersTable {
  vault_id: string;
  user_id: string;
  role: VaultRole;
  created_at: Timestamp;
}

/** A named secret in a vault; its values live in `secret_versions`. */
export interface SecretsTable {
  id: string;
  vault_id: string;
  name: string;
  /** `generic` (default), `password`, `api_key`, `note`, `credential` or `card`. */
  type: Generated<string>;
  current_version: number;
  expires_at: Timestamp | null;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** One envelope-encrypted value of a secret; the last 20 are kept. */
export interface SecretVersionsTable {
  id: string;
  secret_id: string;
  version: number;
  /** Id of the master key that wrapped `wrapped_key`. */
  key_id: string;
  wrapped_key: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  note_ciphertext: Buffer | null;
  created_by: string | null;
  created_at: Timestamp;
}

/** Scoped, expiring API tokens, stored hashed. */
export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** SHA-256 of the `sr_…` token, hex. */
  token_hash: string;
  /** JSON array of `{vault, permission}`. */
  scopes: JsonText;
  expires_at: Timestamp;
  last_used_at: Timestamp | null;
  created_at: Timestamp;
  revoked_at: Timestamp | null;
}

/** The tamper-evident audit log: each `hash` covers `prev_hash`. */
export interface AuditEventsTable {
  /** Insertion order; the hash chain follows it. */
  seq: GeneratedAlways<number>;
  id: string;
  at: Timestamp;
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  target: string | null;
  address: string | null;
  outcome: string;
  details: JsonText | null;
  prev_hash: string;
  hash: string;
}

/** Secrets destroyed so far, so a restored backup can drop them again. */
export interface ShreddedSecretsTable {
  secret_id: string;
  vault_id: string;
  shredded_at: Timestamp;
}

/** One-time share links for a secret's value, encrypted by the browser. */
export interface SharesTable {
  id: string;
  vault_id: string;
  secret_name: string;
  /** Encrypted in the browser; the key never reaches the server. */
  ciphertext: Buffer;
  max_views: number;
  view_count: Generated<number>;
  expires_at: Timestamp;
  created_by: string;
  created_at: Timestamp;
}

/** Every table, for `Kysely<Database>`. */
/** A user's WebAuthn credential (0002_passkeys). */
export interface PasskeysTable {
  /** The credential id (base64url) the authenticator chose. */
  id: string;
  user_id: string;
  name: string;
  /** COSE public key. */
  public_key: Buffer;
  /** The signature counter last seen; `bigint` in PostgreSQL, read back as text there. */
  counter: ColumnType<number | string, number, number>;
  /** JSON array of transport hints (`internal`, `usb`, …) for the browser. */
  transports: JsonText;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
}

/** A WebAuthn challenge, usable once until `expires_at` (0002_passkeys). */
export interface WebauthnChallengesTable {
  id: string;
  /** base64url, as sent to the browser and echoed in its signed client data. */
  challenge: string;
  purpose: "register" | "authenticate";
  /** Whose registration it is; null for a sign-in, where the user is not known yet. */
  user_id: string | null;
  expires_at: Timestamp;
}

export interface Database {
  users: UsersTable;
  recovery_codes: RecoveryCodesTable;
  sessions: SessionsTable;
  password_reset_tokens: PasswordResetTokensTable;
  pending_registrations: PendingRegistrationsTable;
  vaults: VaultsTable;
  vault_members: VaultMembersTable;
  secrets: SecretsTable;
  secret_versions: SecretVersionsTable;
  api_tokens: ApiTokensTable;
  audit_events: AuditEventsTable;
  shredded_secrets: ShreddedSecretsTable;
  shares: SharesTable;
  passkeys: PasskeysTable;
  webauthn_challenges: WebauthnChallengesTable;
}

/**
 * The database handle services and routes receive (or a transaction: Kysely's `Transaction`
 * is a `Kysely`). Only repositories and `src/db/` import Kysely itself (lint rule).
 */
export type Db = import("kysely").Kysely<Database>;
