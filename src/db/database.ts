/**
 * Opening the database: the one `Kysely<Database>` of a process, on SQLite or PostgreSQL.
 */
import { Kysely, type LogEvent, SqliteDialect, sql } from "kysely";
import type { Pool } from "pg";
import { type Dialect, postgresDialect, sqliteDialect } from "./dialect.js";
import { createPostgresPool } from "./postgres.js";
import { OwnSchemaPostgresDialect } from "./postgres-introspector.js";
import type { Database } from "./schema.js";
import { openSqliteFile } from "./sqlite.js";
import { type DatabaseTarget, describeDatabaseTarget } from "./url.js";

/** An open database and what the application needs to use it. */
export interface DatabaseHandle {
  db: Kysely<Database>;
  /** Engine-specific capabilities (unique-violation detection, row locks, …). */
  dialect: Dialect;
  target: DatabaseTarget;
  /** Runs `select 1` within `timeoutMs` milliseconds; false on any error or timeout, never throws. */
  ping(timeoutMs: number): Promise<boolean>;
  /**
   * The PostgreSQL pool's connection counts right now, for metrics; null on SQLite, which
   * has one connection and no pool. Read-only: never opens or closes a connection.
   */
  poolStats(): PoolStats | null;
  /** Closes every connection. Safe to call more than once. */
  close(): Promise<void>;
}

/** A connection pool's state at one moment (pg's `Pool` counters). */
export interface PoolStats {
  /** Connections open, idle or in use. */
  total: number;
  /** Open connections waiting for a query. */
  idle: number;
  /** Queries queued because every connection is in use and the pool is at `max`. */
  waiting: number;
  /** The most connections the pool will open. */
  max: number;
}

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * Kysely's query logger. Events carry bound parameters, which include password hashes and
   * ciphertext: log the SQL and timings, never `event.query.parameters`. Default: none.
   */
  log?: (event: LogEvent) => void;
  /**
   * Told about PostgreSQL connections that broke while idle (a server restart, a network
   * cut). Informational: the pool has already dropped them. Default: ignored.
   */
  onConnectionError?: (error: Error) => void;
}

/** The database could not be reached (or, for SQLite, the file could not be opened). */
export class DatabaseUnreachableError extends Error {
  override name = "DatabaseUnreachableError";
}

/**
 * Opens the database named by `target` and checks it answers `select 1`. SQLite files are
 * created 0600 in a 0700 directory; PostgreSQL uses a pool (see `postgres.ts`). Migrations
 * are not applied here: see `migrateToLatest`.
 *
 * @throws {DatabaseUrlError} when a PostgreSQL target's URL or schema is malformed.
 * @throws {DatabaseUnreachableError} when the database cannot be opened or does not answer,
 *   with a message naming the target (password masked) and the cause.
 */
export async function openDatabase(
  target: DatabaseTarget,
  options: OpenDatabaseOptions = {},
): Promise<DatabaseHandle> {
  const { db, dialect, pool } = createKysely(target, options);
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw unreachable(target, error);
  }
  let closed: Promise<void> | undefined;
  return {
    db,
    dialect,
    target,
    ping: (timeoutMs) => ping(db, timeoutMs),
    poolStats: () =>
      pool === null
        ? null
        : {
            total: pool.totalCount,
            idle: pool.idleCount,
            waiting: pool.waitingCount,
            max: pool.options.max,
          },
    close: () => {
      closed ??= db.destroy();
      return closed;
    },
  };
}

function createKysely(
  target: DatabaseTarget,
  options: OpenDatabaseOptions,
): { db: Kysely<Database>; dialect: Dialect; pool: Pool | null } {
  const log = options.log;
  if (target.kind === "sqlite") {
    let database: ReturnType<typeof openSqliteFile>;
    try {
      database = openSqliteFile(target.path);
    } catch (error) {
      throw unreachable(target, error);
    }
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }), log });
    return { db, dialect: sqliteDialect, pool: null };
  }
  const pool = createPostgresPool({
    url: target.url,
    schema: target.schema,
    max: target.poolMax,
    onError: options.onConnectionError ?? noop,
  });
  const db = new Kysely<Database>({ dialect: new OwnSchemaPostgresDialect({ pool }), log });
  return { db, dialect: postgresDialect, pool };
}

function noop(): void {}

async function ping(db: Kysely<Database>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((settle) => {
    timer = setTimeout(() => settle(false), timeoutMs);
  });
  // On timeout the query keeps running; the catch keeps its late failure from going unhandled.
  const query = sql`select 1`.execute(db).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function unreachable(target: DatabaseTarget, error: unknown): DatabaseUnreachableError {
  const where = describeDatabaseTarget(target);
  return new DatabaseUnreachableError(
    `database unreachable at ${where}: ${redact(describeCause(error), target)}`,
    { cause: error },
  );
}

/** A one-line reason. Node reports a refused dual-stack connect as an AggregateError with an empty message. */
function describeCause(error: unknown): string {
  if (error instanceof AggregateError && error.message === "") {
    const first: unknown = error.errors[0];
    if (first instanceof Error && first.message !== "") return first.message;
  }
  if (error instanceof Error) {
    if (error.message !== "") return error.message;
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? code : error.name;
  }
  return String(error);
}

/** Belt and braces: drivers should never echo a password, but make sure the message cannot. */
function redact(message: string, target: DatabaseTarget): string {
  if (target.kind !== "postgres") return message;
  let password = "";
  try {
    password = decodeURIComponent(new URL(target.url).password);
  } catch {
    return message;
  }
  return password === "" ? message : message.split(password).join("***");
}
