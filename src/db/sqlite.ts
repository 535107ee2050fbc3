/**
 * The SQLite database file behind `openDatabase`.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";

/** How long a connection waits for another process's write lock, in milliseconds. */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

/** Most prepared statements {@link cacheStatements} keeps per connection. */
export const SQLITE_STATEMENT_CACHE_SIZE = 256;

const OWNER_ONLY_FILE = 0o600;
const OWNER_ONLY_DIR = 0o700;

/**
 * Opens (creating if needed) the SQLite database at `path`, or an in-memory one for
 * `:memory:`, readable by the owner only, with Strongroom's pragmas applied:
 * WAL (readers do not block the writer), foreign keys enforced, freed pages zeroed
 * (`secure_delete`, so shredded secrets leave the file), `busy_timeout` 5 s, and
 * `synchronous=FULL` (a committed write survives power loss). Statements are prepared once
 * per SQL text and reused ({@link cacheStatements}).
 *
 * @throws the fs or SQLite error when the directory or file cannot be created or opened.
 */
export function openSqliteFile(path: string): SQLite.Database {
  const database = path === ":memory:" ? new SQLite(path) : new SQLite(prepareFile(path));
  try {
    database.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    database.pragma("journal_mode = WAL");
    database.pragma("synchronous = FULL");
    database.pragma("foreign_keys = ON");
    database.pragma("secure_delete = ON");
  } catch (error) {
    database.close();
    throw error;
  }
  return cacheStatements(database);
}

/**
 * Makes `database.prepare` reuse the statement already prepared for the same SQL text (at most
 * {@link SQLITE_STATEMENT_CACHE_SIZE}, least recently used dropped first). Kysely's driver
 * prepares every query it runs, and compiling the SQL again costs more than running most of
 * ours. Sharing is safe: better-sqlite3 resets a statement after each `run`/`all`/`get`, the
 * SQL text fixes everything else (parameters are bound per call), and SQLite re-prepares a
 * statement by itself after a schema change. A statement still being iterated (`busy`) is
 * never handed out: the caller gets a fresh one.
 */
export function cacheStatements(database: SQLite.Database): SQLite.Database {
  const prepareFresh = database.prepare.bind(database);
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (source: string): SQLite.Statement => {
    const cached = cache.get(source);
    if (cached !== undefined) {
      if (cached.busy) return prepareFresh(source);
      // Map order is insertion order: re-inserting makes this the most recently used.
      cache.delete(source);
      cache.set(source, cached);
      return cached;
    }
    const statement = prepareFresh(source);
    cache.set(source, statement);
    if (cache.size > SQLITE_STATEMENT_CACHE_SIZE) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    return statement;
  };
  database.prepare = prepare as SQLite.Database["prepare"];
  return database;
}

/** Creates the directory (0700) and file (0600) before SQLite does, with umask-proof modes. */
function prepareFile(path: string): string {
  const file = resolve(path);
  const dir = dirname(file);
  // Only a directory we create is ours to restrict; an existing one (the working directory,
  // a mounted volume) keeps the mode its owner chose.
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: OWNER_ONLY_DIR });
    chmodSync(dir, OWNER_ONLY_DIR);
  }
  // Creating the file ourselves, 0600 from the first byte, leaves no window in which
  // SQLite's default (0644 less umask) would expose it. chmod also tightens an old file.
  closeSync(openSync(file, "a", OWNER_ONLY_FILE));
  chmodSync(file, OWNER_ONLY_FILE);
  // SQLite gives new -wal/-shm files the main file's mode; ones left from before may not have it.
  for (const sidecar of [`${file}-wal`, `${file}-shm`]) {
    if (existsSync(sidecar)) chmodSync(sidecar, OWNER_ONLY_FILE);
  }
  return file;
}
