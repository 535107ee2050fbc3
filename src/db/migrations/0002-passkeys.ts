/**
 * 0002_passkeys: WebAuthn credentials (passkeys) and the challenges issued for them. Frozen
 * like 0001: it imports nothing but Kysely and is never edited once released.
 *
 * - `passkeys.id` is the credential id (base64url) the authenticator chose: globally unique,
 *   and what an assertion names, so sign-in finds the credential without knowing the user.
 * - `webauthn_challenges` keeps each challenge server-side until it is used once or expires;
 *   it works across instances because it lives in the shared database.
 * - `users.passkey_enabled_at` says the user has at least one passkey (set with the first,
 *   cleared with the last), so "has a second factor" is read from the user row alone.
 */
import { type ColumnDefinitionBuilder, type Kysely, PostgresAdapter, sql } from "kysely";

const required = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => c.notNull();
const key = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => c.primaryKey().notNull();

export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const timestamp = postgres ? "timestamptz" : "text";
  const blob = postgres ? "bytea" : "blob";

  await db.schema
    .createTable("passkeys")
    .addColumn("id", "text", key)
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("name", "text", required)
    .addColumn("public_key", blob, required)
    .addColumn("counter", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("transports", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("created_at", timestamp, required)
    .addColumn("last_used_at", timestamp)
    .execute();
  await db.schema.createIndex("passkeys_user_id_idx").on("passkeys").column("user_id").execute();

  await db.schema.alterTable("users").addColumn("passkey_enabled_at", timestamp).execute();

  await db.schema
    .createTable("webauthn_challenges")
    .addColumn("id", "text", key)
    .addColumn("challenge", "text", required)
    .addColumn("purpose", "text", (c) =>
      c.notNull().check(sql`purpose in ('register', 'authenticate')`),
    )
    .addColumn("user_id", "text", (c) => c.references("users.id").onDelete("cascade"))
    .addColumn("expires_at", timestamp, required)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("webauthn_challenges").execute();
  await db.schema.dropTable("passkeys").execute();
  await db.schema.alterTable("users").dropColumn("passkey_enabled_at").execute();
}
