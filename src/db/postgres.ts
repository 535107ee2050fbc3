/**
 * The PostgreSQL connection pool behind `openDatabase`.
 */
import { createRequire } from "node:module";
import type pgModule from "pg";
import type { CustomTypesConfig, Pool, PoolConfig } from "pg";
import { checkPostgresSchema, checkPostgresUrl } from "./url.js";

const require = createRequire(import.meta.url);
let loadedPg: typeof pgModule | undefined;
/** The pg driver, loaded on first use: a server on SQLite never holds it in memory. */
function pg(): typeof pgModule {
  loadedPg ??= require("pg") as typeof pgModule;
  return loadedPg;
}

/**
 * Default pool size per process (`DATABASE_POOL_MAX` overrides it). Every instance (and
 * every CLI process) opens up to this many, so instances × this must stay below the
 * server's `max_connections`.
 */
export const POSTGRES_POOL_MAX = 10;
/** How long to wait for a new connection before giving up, in milliseconds. */
export const POSTGRES_CONNECT_TIMEOUT_MS = 5_000;
/** Server-side limit on any one statement, in milliseconds. */
export const POSTGRES_STATEMENT_TIMEOUT_MS = 30_000;
/** A transaction left idle this long is ended by the server, releasing its locks (ms). */
export const POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
/** An unused pooled connection is closed after this many milliseconds. */
export const POSTGRES_IDLE_TIMEOUT_MS = 30_000;
/**
 * A connection that has heard nothing for this long starts TCP keepalive probes (ms). A
 * server that vanished without closing its connections (a hard failover, a dropped NAT
 * mapping) leaves a query waiting for an answer that never comes; the probes end that wait.
 * Left to the OS, the first probe would come after two hours.
 */
export const POSTGRES_KEEPALIVE_IDLE_MS = 10_000;

let loadedTypes: CustomTypesConfig | undefined;

/**
 * Parsers for our pools only: pg's global parsers are shared by every pg user in the process,
 * so we leave them alone. `timestamptz` becomes the same ISO-8601 UTC string SQLite stores
 * (microseconds are dropped); int8 becomes a number (counts, `audit_events.seq`), which is
 * exact up to 2^53.
 */
function types(): CustomTypesConfig {
  if (loadedTypes !== undefined) return loadedTypes;
  const { builtins, getTypeParser: defaultTypeParser } = pg().types;
  const parsePostgresDate: (value: string) => unknown = defaultTypeParser(
    builtins.TIMESTAMPTZ,
    "text",
  );
  const parseTimestamptz = (value: string): string => {
    const parsed = parsePostgresDate(value);
    // `infinity` and friends have no ISO form; hand them back untouched rather than throw
    // inside the driver's row parser.
    return parsed instanceof Date && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : value;
  };
  loadedTypes = {
    getTypeParser: (id, format) => {
      if (format !== "binary" && id === builtins.TIMESTAMPTZ) return parseTimestamptz;
      if (format !== "binary" && id === builtins.INT8) return Number;
      return defaultTypeParser(id, format);
    },
  };
  return loadedTypes;
}

/**
 * Settings every connection starts with, whatever the server's, database's or role's
 * defaults say: the locking is designed for read committed. There a row locked `for update`
 * is read afresh once its lock is granted, and so is the audit chain's last event once its
 * advisory lock is; under repeatable read a transaction would keep reading the snapshot
 * taken before it waited, and two events could name the same predecessor (a forked chain).
 * The space is escaped the way PostgreSQL splits `options`.
 */
const STARTUP_SETTINGS = ["-c default_transaction_isolation=read\\ committed"];

/**
 * Adds {@link STARTUP_SETTINGS} and, given a schema, `-c search_path=<schema>` after any
 * `options` startup parameter the URL carries, so ours win. It has to be in the connection
 * string: pg lets connection-string parameters override the config object.
 */
function connectionStringFor(url: string, schema: string | undefined): string {
  const parsed = checkPostgresUrl(url);
  const settings = [...STARTUP_SETTINGS];
  if (schema !== undefined) {
    checkPostgresSchema(schema);
    settings.push(`-c search_path=${schema}`);
  }
  const existing = parsed.searchParams.get("options");
  parsed.searchParams.set("options", [existing ?? "", ...settings].join(" ").trim());
  return parsed.toString();
}

/**
 * Creates (without connecting) a pg pool of at most `max` connections (default
 * {@link POSTGRES_POOL_MAX}) for `url`, confined to `schema` when given.
 * `onError` receives errors of connections that broke while idle or between queries; pg
 * would otherwise raise them as an uncaught exception. The pool drops such connections and
 * opens new ones on demand, so it recovers by itself once the server is back.
 *
 * @throws {DatabaseUrlError} for a malformed URL or schema name.
 * @throws {RangeError} when `max` is not a positive integer.
 */
export function createPostgresPool(options: {
  url: string;
  schema?: string | undefined;
  max?: number | undefined;
  onError: (error: Error) => void;
}): Pool {
  const { url, schema, max = POSTGRES_POOL_MAX, onError } = options;
  checkPostgresUrl(url);
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError("max must be a positive integer");
  const config: PoolConfig = {
    connectionString: connectionStringFor(url, schema),
    max,
    connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: POSTGRES_IDLE_TIMEOUT_MS,
    statement_timeout: POSTGRES_STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: POSTGRES_KEEPALIVE_IDLE_MS,
    application_name: "strongroom",
    types: types(),
  };
  const pool = new (pg().Pool)(config);
  // Idle clients report through the pool; checked-out clients report on themselves, and an
  // EventEmitter 'error' with no listener would crash the process.
  pool.on("error", onError);
  pool.on("connect", (client) => client.on("error", onError));
  return pool;
}
