/**
 * 0001_initial: the schema of SPEC §3. Frozen in time: it imports nothing but Kysely, and
 * once released it is never edited; later changes are new migrations.
 *
 * Engine choices are made here, locally, not through src/db/dialect.ts, so that changing the
 * application can never change what this migration did:
 * - times: `text` holding ISO-8601 UTC in SQLite, `timestamptz` in PostgreSQL;
 * - binary: `blob` / `bytea`; JSON: `text` in both;
 * - no boolean columns (flags are nullable timestamps);
 * - primary keys are declared `not null` explicitly, because SQLite otherwise lets a
 *   non-integer primary key column hold NULL.
 */
import { type ColumnDefinitionBuilder, type Kysely, PostgresAdapter, sql } from "kysely";

type Types = { timestamp: "timestamptz" | "text"; blob: "bytea" | "blob"; postgres: boolean };

function typesFor(db: Kysely<unknown>): Types {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return postgres
    ? { timestamp: "timestamptz", blob: "bytea", postgres }
    : { timestamp: "text", blob: "blob", postgres };
}

const required = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => c.notNull();
const key = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => c.primaryKey().notNull();
const cascade =
  (reference: string) =>
  (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
    c.notNull().references(reference).onDelete("cascade");

/** Creates every table and index of the initial schema. */
export async function up(db: Kysely<unknown>): Promise<void> {
  const t = typesFor(db);

  await db.schema
    .createTable("users")
    .addColumn("id", "text", key)
    .addColumn("username", "text", required)
    .addColumn("username_key", "text", (c) => c.notNull().unique())
    .addColumn("email", "text", required)
    .addColumn("email_key", "text", (c) => c.notNull().unique())
    .addColumn("password_hash", "text", required)
    .addColumn("role", "text", (c) =>
      c.notNull().check(sql`role in ('admin', 'auditor', 'member')`),
    )
    .addColumn("disabled_at", t.timestamp)
    .addColumn("totp_secret", t.blob)
    .addColumn("totp_enabled_at", t.timestamp)
    .addColumn("totp_last_step", "integer")
    .addColumn("failed_login_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("failed_logins_before_last_login", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("locked_until", t.timestamp)
    .addColumn("last_login_at", t.timestamp)
    .addColumn("last_login_address", "text")
    .addColumn("created_at", t.timestamp, required)
    .addColumn("updated_at", t.timestamp, required)
    .execute();

  await db.schema
    .createTable("recovery_codes")
    .addColumn("id", "text", key)
    .addColumn("user_id", "text", cascade("users.id"))
    .addColumn("code_hash", "text", required)
    .addColumn("used_at", t.timestamp)
    .addColumn("created_at", t.timestamp, required)
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id", "text", key)
    .addColumn("user_id", "text", cascade("users.id"))
    .addColumn("created_at", t.timestamp, required)
    .addColumn("last_seen_at", t.timestamp, required)
    .addColumn("expires_at", t.timestamp, required)
    .addColumn("idle_expires_at", t.timestamp, required)
    .addColumn("reauth_at", t.timestamp)
    .addColumn("mfa_verified_at", t.timestamp)
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .execute();

  await db.schema
    .createTable("password_reset_tokens")
    .addColumn("token_hash", "text", key)
    .addColumn("user_id", "text", cascade("users.id"))
    .addColumn("created_at", t.timestamp, required)
    .addColumn("expires_at", t.timestamp, required)
    .addColumn("used_at", t.timestamp)
    .execute();

  // Self-service sign-ups wait here until the e-mail link is followed, so that signing up
  // with an address that already has an account looks exactly like any other sign-up.
  await db.schema
    .createTable("pending_registrations")
    .addColumn("token_hash", "text", key)
    .addColumn("user_id", "text", required)
    .addColumn("username", "text", required)
    .addColumn("username_key", "text", required)
    .addColumn("email", "text", required)
    .addColumn("email_key", "text", required)
    .addColumn("password_hash", "text", required)
    .addColumn("created_at", t.timestamp, required)
    .addColumn("expires_at", t.timestamp, required)
    .execute();

  await db.schema
    .createTable("vaults")
    .addColumn("id", "text", key)
    .addColumn("slug", "text", (c) => c.notNull().unique())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("created_at", t.timestamp, required)
    .addColumn("updated_at", t.timestamp, required)
    .execute();

  await db.schema
    .createTable("vault_members")
    .addColumn("vault_id", "text", cascade("vaults.id"))
    .addColumn("user_id", "text", cascade("users.id"))
    .addColumn("role", "text", (c) => c.notNull().check(sql`role in ('owner', 'editor', 'viewer')`))
    .addColumn("created_at", t.timestamp, required)
    .addPrimaryKeyConstraint("vault_members_pkey", ["vault_id", "user_id"])
    .execute();

  await db.schema
    .createTable("secrets")
    .addColumn("id", "text", key)
    .addColumn("vault_id", "text", cascade("vaults.id"))
    .addColumn("name", "text", required)
    .addColumn("type", "text", (c) => c.notNull().defaultTo("generic"))
    .addColumn("current_version", "integer", required)
    .addColumn("expires_at", t.timestamp)
    .addColumn("created_by", "text")
    .addColumn("created_at", t.timestamp, required)
    .addColumn("updated_at", t.timestamp, required)
    .addUniqueConstraint("secrets_vault_id_name_key", ["vault_id", "name"])
    .execute();

  await db.schema
    .createTable("secret_versions")
    .addColumn("id", "text", key)
    .addColumn("secret_id", "text", cascade("secrets.id"))
    .addColumn("version", "integer", required)
    .addColumn("key_id", "text", required)
    .addColumn("wrapped_key", t.blob, required)
    .addColumn("nonce", t.blob, required)
    .addColumn("ciphertext", t.blob, required)
    .addColumn("note_ciphertext", t.blob)
    .addColumn("created_by", "text")
    .addColumn("created_at", t.timestamp, required)
    .addUniqueConstraint("secret_versions_secret_id_version_key", ["secret_id", "version"])
    .execute();

  await db.schema
    .createTable("api_tokens")
    .addColumn("id", "text", key)
    .addColumn("user_id", "text", cascade("users.id"))
    .addColumn("name", "text", required)
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("scopes", "text", required)
    .addColumn("expires_at", t.timestamp, required)
    .addColumn("last_used_at", t.timestamp)
    .addColumn("created_at", t.timestamp, required)
    .addColumn("revoked_at", t.timestamp)
    .execute();

  // The hash chain follows `seq`, so it must be strictly increasing and never reused:
  // AUTOINCREMENT (not plain rowid) in SQLite, an identity nobody can insert into in PostgreSQL.
  await db.schema
    .createTable("audit_events")
    .addColumn("seq", t.postgres ? "bigint" : "integer", (c) =>
      t.postgres
        ? c.primaryKey().notNull().generatedAlwaysAsIdentity()
        : c.primaryKey().notNull().autoIncrement(),
    )
    .addColumn("id", "text", (c) => c.notNull().unique())
    .addColumn("at", t.timestamp, required)
    .addColumn("actor_id", "text")
    .addColumn("actor_name", "text")
    .addColumn("action", "text", required)
    .addColumn("target", "text")
    .addColumn("address", "text")
    .addColumn("outcome", "text", required)
    .addColumn("details", "text")
    .addColumn("prev_hash", "text", required)
    .addColumn("hash", "text", required)
    .execute();

  // No foreign key: the record of a shredding must outlive the vault, so that restoring an
  // older backup can drop what was shredded since.
  await db.schema
    .createTable("shredded_secrets")
    .addColumn("secret_id", "text", key)
    .addColumn("vault_id", "text", required)
    .addColumn("shredded_at", t.timestamp, required)
    .execute();

  await db.schema
    .createTable("shares")
    .addColumn("id", "text", key)
    .addColumn("vault_id", "text", cascade("vaults.id"))
    .addColumn("secret_name", "text", required)
    .addColumn("ciphertext", t.blob, required)
    .addColumn("max_views", "integer", required)
    .addColumn("view_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("expires_at", t.timestamp, required)
    .addColumn("created_by", "text", required)
    .addColumn("created_at", t.timestamp, required)
    .execute();

  // PostgreSQL does not index foreign keys by itself; without these, deleting a user or a
  // vault would scan every child table.
  const indexes: Array<[name: string, table: string, columns: string[]]> = [
    ["recovery_codes_user_id_idx", "recovery_codes", ["user_id"]],
    ["sessions_user_id_idx", "sessions", ["user_id"]],
    ["password_reset_tokens_user_id_idx", "password_reset_tokens", ["user_id"]],
    ["vault_members_user_id_idx", "vault_members", ["user_id"]],
    ["api_tokens_user_id_idx", "api_tokens", ["user_id"]],
    ["audit_events_at_idx", "audit_events", ["at"]],
    ["audit_events_actor_id_idx", "audit_events", ["actor_id"]],
    ["shares_vault_id_idx", "shares", ["vault_id"]],
  ];
  for (const [name, table, columns] of indexes) {
    await db.schema.createIndex(name).on(table).columns(columns).execute();
  }
}

/** Drops every table `up` created. */
export async function down(db: Kysely<unknown>): Promise<void> {
  // Children before parents; indexes go with their tables.
  const tables = [
    "shares",
    "shredded_secrets",
    "audit_events",
    "api_tokens",
    "secret_versions",
    "secrets",
    "vault_members",
    "vaults",
    "pending_registrations",
    "password_reset_tokens",
    "sessions",
    "recovery_codes",
    "users",
  ];
  for (const table of tables) await db.schema.dropTable(table).execute();
}
