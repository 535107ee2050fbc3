/**
 * The one place where SQLite and PostgreSQL differ. Code asks a {@link Dialect} for a named
 * capability instead of testing which engine it runs on. (Migrations are the exception by
 * design: they are frozen in time and decide their column types locally.)
 */
import { type Kysely, PostgresAdapter, type RawBuilder, SqliteAdapter, sql } from "kysely";

/** Engine-specific behaviour, reached through `DatabaseHandle.dialect` or {@link dialectOf}. */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /** True when `err` (or an error in its `cause` chain) is a unique or primary-key violation. */
  isUniqueViolation(err: unknown): boolean;
  /** True when `err` (or an error in its `cause` chain) is a foreign-key violation. */
  isForeignKeyViolation(err: unknown): boolean;
  /**
   * True when `err` means the database cannot be reached or is overloaded right now (a lost
   * connection, a refused or timed-out connect, a server shutting down, a busy SQLite file):
   * the request may succeed later, so it is answered 503, not 500.
   */
  isConnectionError(err: unknown): boolean;
  /**
   * True when `err` (or an error in its `cause` chain) means the transaction lost a race with
   * a concurrent one and was rolled back, so running it again from the start may succeed:
   * PostgreSQL's serialization_failure (40001) and deadlock_detected (40P01); SQLite's
   * SQLITE_BUSY_SNAPSHOT (a transaction that read, then tried to write after another
   * connection wrote: its snapshot is stale, and `busy_timeout` does not wait for that).
   * Plain SQLITE_BUSY is not one: `busy_timeout` has already waited it out.
   * See `withTransactionRetry`.
   */
  isRetryableTransactionError(err: unknown): boolean;
  /**
   * Every table of the schema Strongroom works in (PostgreSQL: `current_schema()` only, not
   * every schema of the database) with its column names.
   */
  tableColumns<DB>(db: Kysely<DB>): Promise<Map<string, Set<string>>>;
  /**
   * Adds `for update` on PostgreSQL, so rows read in a transaction stay locked until it ends.
   * SQLite has no row locks and needs none: the single connection runs one transaction at a
   * time, so the query is returned unchanged.
   */
  lockForUpdate<Q extends { forUpdate(): Q }>(query: Q): Q;
  /**
   * Serialises appends to the audit chain until the surrounding transaction ends: each event
   * hashes the previous one, so two writers must never read the same "last" event. PostgreSQL
   * takes a transaction-level advisory lock (a row lock cannot lock the end of an empty
   * table); SQLite needs nothing, its one write transaction at a time already serialises.
   */
  lockAuditChain<DB>(trx: Kysely<DB>): Promise<void>;
  /**
   * The schema the migration bookkeeping tables belong in: PostgreSQL's `current_schema()`
   * (the first existing schema on `search_path`), or `undefined` on SQLite or when
   * `search_path` names no existing schema.
   */
  migrationTableSchema<DB>(db: Kysely<DB>): Promise<string | undefined>;
  /**
   * Makes deleted rows leave the database files, as far as the engine allows. Call it after
   * the deleting transaction commits (shredding a secret). SQLite already zeroes freed pages
   * (`secure_delete=ON`), and this checkpoints and truncates the write-ahead log, which
   * still holds the old pages. PostgreSQL keeps dead tuples until `VACUUM` and cannot zero
   * them, so there this is a no-op: the data there is ciphertext whose key is gone.
   */
  scrubDeletedData<DB>(db: Kysely<DB>): Promise<void>;
  /**
   * Runs `work` (the migrator) so that one process migrates at a time and a failure leaves
   * no half-applied change. PostgreSQL needs nothing here: Kysely's migrator takes an advisory
   * lock and wraps each migration in a transaction. For SQLite Kysely does neither, so this
   * holds a `begin immediate` transaction (SQLite's write lock; other processes wait up to
   * `busy_timeout`) around all of `work` and rolls it back if `work` throws. Nothing else may
   * use `db` meanwhile: SQLite's single connection would run it inside that transaction.
   */
  withMigrationLock<DB, T>(db: Kysely<DB>, work: () => Promise<T>): Promise<T>;
  /**
   * What goes between the column list and `values` of an insert that supplies its own values
   * for an identity column (restoring `audit_events.seq` from a backup): PostgreSQL's
   * `overriding system value` for `generated always` columns; nothing in SQLite.
   */
  identityInsertClause(): RawBuilder<unknown>;
  /**
   * After rows were inserted with explicit identity values, makes the next generated value
   * follow the largest one. PostgreSQL's sequence does not move by itself; SQLite's
   * AUTOINCREMENT counter already does, so there this does nothing.
   */
  syncIdentity<DB>(trx: Kysely<DB>, table: string, column: string): Promise<void>;
}

interface ColumnRow {
  table_name: string;
  column_name: string;
}

function groupColumns(rows: readonly ColumnRow[]): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  for (const row of rows) {
    const columns = tables.get(row.table_name) ?? new Set<string>();
    columns.add(row.column_name);
    tables.set(row.table_name, columns);
  }
  return tables;
}

/** Follows `cause` a few levels: callers may have wrapped the driver's error. */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === "string") codes.push(code);
    current = cause;
  }
  return codes;
}

/** Messages of the error and its causes (also the members of an AggregateError). */
function errorMessages(err: unknown): string[] {
  const messages: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    messages.push(current.message);
    if (current instanceof AggregateError) {
      for (const inner of current.errors) if (inner instanceof Error) messages.push(inner.message);
    }
    current = current.cause;
  }
  return messages;
}

/**
 * Socket errors and SQLSTATE classes 08 (connection exception) and 57P (operator
 * intervention: shutdown, cannot connect now), plus 53300 (too many connections) and 57014
 * (a statement cut short by the statement timeout).
 */
const POSTGRES_UNAVAILABLE_CODES = [
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  // query_canceled: the statement timeout (or an operator) cut a statement short; the server
  // is too busy or blocked right now, and the request may well succeed later.
  "57014",
];

/** pg raises these without a code when a connection dies or the pool cannot connect. */
const POSTGRES_UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i;

function hasCode(err: unknown, wanted: readonly string[]): boolean {
  return errorCodes(err).some((code) => wanted.includes(code));
}

/** better-sqlite3 reports SQLite's extended result codes by name. */
export const sqliteDialect: Dialect = {
  name: "sqlite",
  isUniqueViolation: (err) =>
    hasCode(err, ["SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"]),
  isForeignKeyViolation: (err) => hasCode(err, ["SQLITE_CONSTRAINT_FOREIGNKEY"]),
  isConnectionError: (err) =>
    hasCode(err, [
      "SQLITE_BUSY",
      "SQLITE_LOCKED",
      "SQLITE_CANTOPEN",
      "SQLITE_IOERR",
      "SQLITE_FULL",
    ]),
  isRetryableTransactionError: (err) => hasCode(err, ["SQLITE_BUSY_SNAPSHOT"]),
  async tableColumns(db) {
    const { rows } = await sql<ColumnRow>`select m.name as table_name, p.name as column_name
      from sqlite_master m join pragma_table_info(m.name) p
      where m.type = 'table' and m.name not like 'sqlite_%'`.execute(db);
    return groupColumns(rows);
  },
  lockForUpdate: (query) => query,
  lockAuditChain: async () => {},
  migrationTableSchema: async () => undefined,
  async scrubDeletedData(db) {
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
  },
  async withMigrationLock(db, work) {
    await sql`begin immediate`.execute(db);
    try {
      const result = await work();
      await sql`commit`.execute(db);
      return result;
    } catch (error) {
      // SQLite may already have rolled back (a full disk, say); the original error matters more.
      await sql`rollback`.execute(db).catch(() => {});
      throw error;
    }
  },
  identityInsertClause: () => sql``,
  syncIdentity: async () => {},
};

/** The class of Strongroom's audit-chain advisory locks ("SRAU"), the first of two int4 keys. */
const AUDIT_CHAIN_LOCK_CLASS = 0x5352_4155;

/** pg reports SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const postgresDialect: Dialect = {
  name: "postgres",
  isUniqueViolation: (err) => hasCode(err, ["23505"]),
  isForeignKeyViolation: (err) => hasCode(err, ["23503"]),
  isConnectionError: (err) =>
    hasCode(err, POSTGRES_UNAVAILABLE_CODES) ||
    errorMessages(err).some((message) => POSTGRES_UNAVAILABLE_MESSAGES.test(message)),
  isRetryableTransactionError: (err) => hasCode(err, ["40001", "40P01"]),
  async tableColumns(db) {
    const { rows } = await sql<ColumnRow>`select table_name, column_name
      from information_schema.columns where table_schema = current_schema()`.execute(db);
    return groupColumns(rows);
  },
  lockForUpdate: (query) => query.forUpdate(),
  async lockAuditChain(trx) {
    // Advisory locks belong to the whole database, but each schema holds its own audit chain:
    // the second key names the schema, so deployments (or test runs) sharing one database in
    // separate schemas never wait on each other's chains.
    await sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_CLASS}, hashtext(coalesce(current_schema(), '')))`.execute(
      trx,
    );
  },
  async migrationTableSchema(db) {
    const { rows } = await sql<{
      schema: string | null;
    }>`select current_schema() as schema`.execute(db);
    return rows[0]?.schema ?? undefined;
  },
  scrubDeletedData: async () => {},
  withMigrationLock: (_db, work) => work(),
  identityInsertClause: () => sql`overriding system value`,
  async syncIdentity(trx, table, column) {
    // setval(…, max, true) makes the next value max + 1; on an empty table, (1, false) makes it 1.
    await sql`select setval(pg_get_serial_sequence(${table}, ${column}),
      coalesce((select max(${sql.ref(column)}) from ${sql.table(table)}), 1),
      (select count(*) > 0 from ${sql.table(table)}))`.execute(trx);
  },
};

/**
 * The dialect of an open Kysely instance (or transaction), for code that was handed only `db`.
 *
 * @throws {Error} when `db` uses an adapter other than Kysely's SQLite or PostgreSQL one.
 */
export function dialectOf<DB>(db: Kysely<DB>): Dialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) return sqliteDialect;
  if (adapter instanceof PostgresAdapter) return postgresDialect;
  throw new Error("unsupported database adapter: Strongroom runs on SQLite or PostgreSQL");
}
