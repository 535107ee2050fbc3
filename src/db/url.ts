/**
 * Parsing and rendering of `DATABASE_URL`.
 *
 * Every message here is a fixed sentence: a database URL usually carries a password, so an
 * error never repeats the input it rejects.
 */

/** Where the database lives: an SQLite file (or `:memory:`) or a PostgreSQL server. */
export type DatabaseTarget =
  | { kind: "sqlite"; path: string }
  | {
      kind: "postgres";
      url: string;
      schema?: string;
      /** Most connections this process opens (`DATABASE_POOL_MAX`); default in `postgres.ts`. */
      poolMax?: number;
    };

/** A `DATABASE_URL` (or a hand-built target) that cannot name a database. */
export class DatabaseUrlError extends Error {
  override name = "DatabaseUrlError";
}

/**
 * A PostgreSQL schema name we are willing to put into `search_path`: lower-case identifiers
 * only, at most 63 characters (PostgreSQL's NAMEDATALEN - 1), so it never needs quoting.
 */
export const POSTGRES_SCHEMA_PATTERN: RegExp = /^[a-z_][a-z0-9_]{0,62}$/;

const SQLITE_PREFIX = /^sqlite:\/\//i;
const POSTGRES_PROTOCOLS = new Set(["postgres:", "postgresql:"]);
/** Query parameters that carry credentials and must never reach a log line. */
const SECRET_PARAMS = ["password", "sslpassword"];

/**
 * Parses a `DATABASE_URL`.
 *
 * - `sqlite://./data/strongroom.db` (relative to the working directory),
 *   `sqlite:///abs/path.db` (absolute), `sqlite://:memory:`.
 * - `postgres://user:pass@host:5432/db` or `postgresql://…`; a host is required, either in the
 *   authority or as `?host=/socket/dir`. `?schema=name` selects a schema (it becomes the
 *   `search_path` of every connection) and is removed from the URL handed to the driver.
 *
 * @throws {DatabaseUrlError} for an empty string, another scheme, a missing path or host, a
 *   malformed URL or an invalid schema name. The message never contains the URL.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.trim() === "") throw new DatabaseUrlError("database URL is empty");
  if (SQLITE_PREFIX.test(url)) return parseSqliteUrl(url);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") return parsePostgresUrl(url);
  throw new DatabaseUrlError("database URL must start with sqlite:// or postgres://");
}

function parseSqliteUrl(url: string): DatabaseTarget {
  const path = url.replace(SQLITE_PREFIX, "");
  if (path === "") throw new DatabaseUrlError("sqlite:// needs a file path");
  // A NUL byte would silently truncate the path inside SQLite's C API.
  if (path.includes("\0")) throw new DatabaseUrlError("sqlite:// path contains a NUL byte");
  return { kind: "sqlite", path };
}

function parsePostgresUrl(url: string): DatabaseTarget {
  const parsed = checkPostgresUrl(url);
  const schema = parsed.searchParams.get("schema");
  if (schema === null) return { kind: "postgres", url };
  checkPostgresSchema(schema);
  parsed.searchParams.delete("schema");
  return { kind: "postgres", url: parsed.toString(), schema };
}

/**
 * Checks that `url` is a usable PostgreSQL URL and returns it parsed. Shared with
 * `openDatabase`, which also accepts targets that did not come from {@link parseDatabaseUrl}.
 *
 * @throws {DatabaseUrlError} when it is malformed, not postgres(ql)://, or has no host.
 */
export function checkPostgresUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError("postgres URL is malformed");
  }
  if (!POSTGRES_PROTOCOLS.has(parsed.protocol)) {
    throw new DatabaseUrlError("postgres URL must start with postgres:// or postgresql://");
  }
  // `?host=` is how libpq-style URLs name a Unix socket directory instead of a TCP host.
  if (parsed.hostname === "" && !parsed.searchParams.get("host")) {
    throw new DatabaseUrlError("postgres URL has no host");
  }
  return parsed;
}

/**
 * @throws {DatabaseUrlError} unless `schema` matches {@link POSTGRES_SCHEMA_PATTERN}.
 */
export function checkPostgresSchema(schema: string): void {
  if (!POSTGRES_SCHEMA_PATTERN.test(schema)) {
    throw new DatabaseUrlError(
      "postgres schema must be 1-63 lower-case letters, digits or underscores, not starting with a digit",
    );
  }
}

/**
 * Renders a target for logs and error messages, with any password replaced by `***`,
 * e.g. `postgres://app:***@db:5432/strongroom?schema=tenant_a` or `sqlite://./data/x.db`.
 * Never throws: an unparseable PostgreSQL URL renders as `postgres://(malformed URL)`.
 */
export function describeDatabaseTarget(target: DatabaseTarget): string {
  if (target.kind === "sqlite") return `sqlite://${target.path}`;
  let parsed: URL;
  try {
    parsed = new URL(target.url);
  } catch {
    return "postgres://(malformed URL)";
  }
  if (parsed.password !== "") parsed.password = "***";
  for (const name of SECRET_PARAMS) {
    if (parsed.searchParams.has(name)) parsed.searchParams.set(name, "***");
  }
  if (target.schema !== undefined) parsed.searchParams.set("schema", target.schema);
  return parsed.toString();
}
