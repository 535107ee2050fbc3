/**
 * Applying the migrations in `migrations/`. Concurrent runs are serialised (a PostgreSQL
 * advisory lock taken by Kysely's Migrator; SQLite's write lock, see
 * `Dialect.withMigrationLock`), so many instances may start at once, and a failed migration
 * is rolled back rather than left half-applied.
 */
import { DEFAULT_MIGRATION_TABLE, type Kysely, Migrator, sql } from "kysely";
import { dialectOf } from "./dialect.js";
import { migrationProvider, migrations } from "./migrations/index.js";

/** A migration (or the migrator's own bookkeeping) failed; nothing after it was applied. */
export class MigrationError extends Error {
  override name = "MigrationError";
  /** Name of the migration that failed, or undefined when it failed before any ran. */
  readonly migration: string | undefined;

  constructor(message: string, migration: string | undefined, cause: unknown) {
    super(message, { cause });
    this.migration = migration;
  }
}

/** Kysely's bookkeeping table (its default name, which createMigrator keeps). */
const MIGRATION_TABLE = DEFAULT_MIGRATION_TABLE;

async function createMigrator<DB>(db: Kysely<DB>): Promise<Migrator> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one, so a
  // `kysely_migration` table in another schema of the same database would be mistaken for
  // ours. Pin it to the schema we actually work in.
  const migrationTableSchema = await dialectOf(db).migrationTableSchema(db);
  return new Migrator({ db, provider: migrationProvider, migrationTableSchema });
}

/**
 * Applies every pending migration, in name order.
 *
 * @returns the names of the migrations applied by this call (empty when already current).
 * @throws {MigrationError} naming the migration that failed, with the driver error as cause.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<{ applied: string[] }> {
  const migrator = await createMigrator(db);
  const dialect = dialectOf(db);
  return dialect.withMigrationLock(db, async () => {
    const { error, results = [] } = await migrator.migrateToLatest();
    if (error === undefined) return { applied: results.map((result) => result.migrationName) };
    const failed = results.find((result) => result.status === "Error")?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(
      failed === undefined
        ? `database migration failed: ${reason}`
        : `database migration ${failed} failed: ${reason}`,
      failed,
      error,
    );
  });
}

/** Names of the migrations not yet applied to `db`, in the order they would run. */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const applied = new Set(await appliedMigrations(db));
  return knownMigrations().filter((name) => !applied.has(name));
}

/**
 * Names of the migrations applied to `db`, in the order they ran, read from Kysely's
 * bookkeeping table in our own schema, without the migrator's bookkeeping round trips.
 */
export async function appliedMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const tables = await dialectOf(db).tableColumns(db);
  if (!tables.has(MIGRATION_TABLE)) return [];
  const { rows } = await sql<{
    name: string;
  }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db);
  return rows.map((row) => row.name);
}

/** Every migration this version of Strongroom knows, in the order they apply. */
export function knownMigrations(): string[] {
  return Object.keys(migrations);
}

/**
 * Applies pending migrations up to and including `name` (restoring a backup made at an older
 * schema first rebuilds that schema, then migrates the restored rows forward). Never goes
 * down: Kysely's `migrateTo` would undo later migrations, so that is refused here.
 * @throws {MigrationError} as {@link migrateToLatest}, or when `db` is already past `name`.
 */
export async function migrateUpTo<DB>(db: Kysely<DB>, name: string): Promise<void> {
  const known = knownMigrations();
  const applied = await appliedMigrations(db);
  if (!known.includes(name) || applied.some((done) => known.indexOf(done) > known.indexOf(name))) {
    throw new MigrationError(
      `cannot migrate up to ${name}: unknown, or already past it`,
      name,
      null,
    );
  }
  const migrator = await createMigrator(db);
  const dialect = dialectOf(db);
  await dialect.withMigrationLock(db, async () => {
    const { error, results = [] } = await migrator.migrateTo(name);
    if (error === undefined) return;
    const failed = results.find((result) => result.status === "Error")?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`database migration to ${name} failed: ${reason}`, failed, error);
  });
}
