/**
 * The databases every data suite runs against: SQLite always, PostgreSQL when
 * `TEST_DATABASE_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/test`).
 *
 * Each `create()` gives a database nobody else uses: a new SQLite file in a fresh temporary
 * directory, or a new randomly named PostgreSQL schema (dropped with everything in it by
 * `cleanup()`), so test files can run in parallel, also against one shared server.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import pg from "pg";
import { type DatabaseTarget, parseDatabaseUrl } from "../../src/db/url.js";

/** One database created for a test, and how to remove it. */
export interface TestDatabase {
  target: DatabaseTarget;
  cleanup(): Promise<void>;
}

/** A kind of database a data suite runs on. */
export interface TestDatabaseKind {
  /** `sqlite` or `postgres`, for test names. */
  name: string;
  create(): Promise<TestDatabase>;
}

/** Shown once per test file when PostgreSQL is not configured. */
export const POSTGRES_SKIPPED = "TEST_DATABASE_URL not set: PostgreSQL tests skipped";

let reportedSkip = false;

/**
 * The database kinds to run a data suite on. Call it at module top level or inside a
 * `describe` body (not inside a running test): without `TEST_DATABASE_URL` it registers one
 * skipped test saying so, the first time it is called in a file.
 *
 * @throws {DatabaseUrlError} when `TEST_DATABASE_URL` is set but not a PostgreSQL URL.
 */
export function testDatabaseTargets(): TestDatabaseKind[] {
  const kinds: TestDatabaseKind[] = [{ name: "sqlite", create: createSqliteDatabase }];
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const target = parseDatabaseUrl(url);
    if (target.kind !== "postgres") throw new Error("TEST_DATABASE_URL must be a postgres:// URL");
    kinds.push({ name: "postgres", create: () => createPostgresSchema(target.url) });
  } else if (!reportedSkip) {
    reportedSkip = true;
    it("postgres", { skip: POSTGRES_SKIPPED }, () => {});
  }
  return kinds;
}

async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = await mkdtemp(join(tmpdir(), "strongroom-test-"));
  // A subdirectory that does not exist yet, so openDatabase's own mkdir (0700) is exercised.
  const path = join(dir, "data", "strongroom.db");
  return {
    target: { kind: "sqlite", path },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

async function createPostgresSchema(url: string): Promise<TestDatabase> {
  const schema = `test_${randomBytes(8).toString("hex")}`;
  // The name is generated above from hex digits, so interpolating it is safe.
  await withClient(url, (client) => client.query(`create schema ${schema}`));
  return {
    target: { kind: "postgres", url, schema },
    cleanup: () => withClient(url, (client) => client.query(`drop schema ${schema} cascade`)),
  };
}

async function withClient(
  url: string,
  work: (client: pg.Client) => Promise<unknown>,
): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
