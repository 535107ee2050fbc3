/**
 * Table-level reads and writes for backup and restore: whole tables in primary-key order,
 * batch inserts, and wiping. Table names come only from {@link BACKUP_TABLES}; column names
 * of restored rows are checked against the database's own columns first (see
 * {@link tableColumns}) and quoted by Kysely; values are always bound parameters.
 */
import { sql } from "kysely";
import { dialectOf } from "../db/dialect.js";
import type { Database, Db } from "../db/schema.js";

/** A row as stored: strings, numbers, nulls and (binary columns) Buffers. */
export type TableRow = Record<string, unknown>;

/** A table a backup holds, and the primary key that orders it. */
export interface BackupTable {
  name: keyof Database;
  key: readonly string[];
}

/**
 * Every table a backup holds, parents before children (the order rows are written and
 * restored in, so foreign keys hold at every step).
 */
export const BACKUP_TABLES: readonly BackupTable[] = Object.freeze([
  { name: "users", key: ["id"] },
  { name: "recovery_codes", key: ["id"] },
  { name: "passkeys", key: ["id"] },
  { name: "vaults", key: ["id"] },
  { name: "vault_members", key: ["vault_id", "user_id"] },
  { name: "secrets", key: ["id"] },
  { name: "secret_versions", key: ["id"] },
  { name: "api_tokens", key: ["id"] },
  { name: "audit_events", key: ["seq"] },
  { name: "shredded_secrets", key: ["secret_id"] },
]);

/**
 * Tables a backup leaves out: live sign-in state (sessions, mailed reset links, unconfirmed
 * sign-ups, passkey challenges) and one-time share links. They are credentials in flight
 * whose worth ends within hours or days; a restore empties them, so everyone signs in again
 * and asks for new links. A share link must never come back: one viewed or revoked since the
 * backup was taken would open again.
 */
export const TRANSIENT_TABLES: readonly (keyof Database)[] = Object.freeze([
  "sessions",
  "password_reset_tokens",
  "pending_registrations",
  "webauthn_challenges",
  "shares",
]);

/**
 * Tables whose rows earlier backups carried and backups no longer do: a restore reads them,
 * checks their count, and discards them (see {@link TRANSIENT_TABLES}).
 */
export const TABLES_NO_LONGER_BACKED_UP: ReadonlySet<string> = new Set(["shares"]);

/**
 * Tables added after backups were first written: a backup from before one simply has none of
 * its rows (its counts do not name it), and restores as such.
 */
export const TABLES_ADDED_LATER: ReadonlySet<keyof Database> = new Set(["passkeys"]);

/**
 * Runs `work` in one read transaction that sees a single consistent state of every table:
 * PostgreSQL `repeatable read, read only`; in SQLite any transaction reads one snapshot
 * (write-ahead log) from its first read to its end.
 */
export function inSnapshot<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  const builder =
    dialectOf(db).name === "postgres"
      ? db.transaction().setIsolationLevel("repeatable read").setAccessMode("read only")
      : db.transaction();
  return builder.execute(work);
}

export async function countRows(db: Db, table: keyof Database): Promise<number> {
  const { rows } = await sql<{
    n: number | string;
  }>`select count(*) as n from ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Up to `limit` rows of `table` after the row whose key is `after` (from the start when
 * null), in key order: keyset paging, so each batch costs the same however deep it is.
 */
export async function readRowsAfter(
  db: Db,
  table: BackupTable,
  after: TableRow | null,
  limit: number,
): Promise<TableRow[]> {
  const keys = sql.join(table.key.map((column) => sql.ref(column)));
  const where =
    after === null
      ? sql``
      : sql`where (${keys}) > (${sql.join(table.key.map((column) => after[column]))})`;
  const { rows } = await sql<TableRow>`select * from ${sql.table(table.name)} ${where}
    order by ${keys} limit ${limit}`.execute(db);
  return rows;
}

/** Inserts `rows` (all with the same columns) into `table`, keeping identity values given. */
export async function insertRows(db: Db, table: BackupTable, rows: TableRow[]): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const identity = table.name === "audit_events" ? dialectOf(db).identityInsertClause() : sql``;
  const values = sql.join(
    rows.map((row) => sql`(${sql.join(columns.map((column) => row[column] ?? null))})`),
  );
  await sql`insert into ${sql.table(table.name)}
    (${sql.join(columns.map((column) => sql.ref(column)))}) ${identity} values ${values}`.execute(
    db,
  );
}

/** Makes identity counters follow the rows a restore inserted. */
export async function syncIdentities(db: Db): Promise<void> {
  await dialectOf(db).syncIdentity(db, "audit_events", "seq");
}

/** Deletes every row of every table a backup covers, and of the transient ones. */
export async function deleteAllRows(db: Db): Promise<void> {
  const tables = [...BACKUP_TABLES.map((table) => table.name), ...TRANSIENT_TABLES];
  for (const table of tables.reverse()) await sql`delete from ${sql.table(table)}`.execute(db);
}

/** The shred ledger: every secret ever destroyed here. */
export async function readShredLedger(
  db: Db,
): Promise<Array<{ secret_id: string; vault_id: string; shredded_at: string }>> {
  return db.selectFrom("shredded_secrets").selectAll().execute();
}

/**
 * The tables of the schema Strongroom works in (PostgreSQL: `current_schema()`, not every
 * schema of the database) and their column names, without Kysely's bookkeeping tables.
 */
export async function tableColumns(db: Db): Promise<Map<string, Set<string>>> {
  const tables = await dialectOf(db).tableColumns(db);
  for (const name of [...tables.keys()]) if (name.startsWith("kysely_")) tables.delete(name);
  return tables;
}
