/**
 * The SQLite database file behind `openDatabase`.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SQLite from "better-sqlite3";

/** How long a connection waits for another process's write lock, in milliseconds. */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

const OWNER_ONLY_FILE = 0o600;
const OWNER_ONLY_DIR = 0o700;

/**
 * Opens (creating if needed) the SQLite database at `path`, or an in-memory one for
 * `:memory:`, readable by the owner only, with Strongroom's pragmas applied:
 * WAL (readers do not block the writer), foreign keys enforced, freed pages zeroed
 * (`secure_delete`, so shredded secrets leave the file), `busy_timeout` 5 s, and
 * `synchronous=FULL` (a committed write survives power loss).
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
