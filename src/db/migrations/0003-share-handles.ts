/**
 * 0003_share_handles: a share link's id is a credential (whoever holds it spends a view), so
 * `shares.id` now keeps its SHA-256 (hex), as tokens are kept, instead of the id itself.
 * Existing links keep working: each row's id is replaced by its hash, and the server hashes
 * the id a link presents. Frozen like 0001: it imports nothing but Kysely and node:crypto and
 * is never edited once released.
 *
 * `down` cannot recover an id from its hash, so it deletes every share link (they live at most
 * seven days, and are never in backups).
 */
import { createHash } from "node:crypto";
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{ id: string }>`select id from shares`.execute(db);
  for (const { id } of rows) {
    const handle = createHash("sha256").update(id, "utf8").digest("hex");
    await sql`update shares set id = ${handle} where id = ${id}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from shares`.execute(db);
}
