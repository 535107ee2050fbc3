/**
 * The databases tests run against.
 *
 * - Data suites (`testDatabaseTargets`) run on SQLite and, when `TEST_DATABASE_URL` is set
 *   (e.g. `postgres://postgres@127.0.0.1:5432/test`), on PostgreSQL too.
 * - Everything else (apps from `createTestApp`, servers from `startTestServer`, CLI
 *   processes) runs on the **test engine**: SQLite, or PostgreSQL when `TEST_ENGINE=postgres`
 *   (`npm run test:postgres`), so the whole suite passes on either engine. In that mode the
 *   data suites run on PostgreSQL only: the SQLite pass has already covered them.
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
  if (testEngine() === "postgres") return [postgresKind(requirePostgresUrl())];
  const kinds: TestDatabaseKind[] = [{ name: "sqlite", create: createSqliteDatabase }];
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    kinds.push(postgresKind(requirePostgresUrl()));
  } else if (!reportedSkip) {
    reportedSkip = true;
    it("postgres", { skip: POSTGRES_SKIPPED }, () => {});
  }
  return kinds;
}

/** The engine apps, servers and CLI processes of this test run use (see the file comment). */
export function testEngine(): "sqlite" | "postgres" {
  const engine = process.env.TEST_ENGINE ?? "sqlite";
  if (engine !== "sqlite" && engine !== "postgres") {
    throw new Error(`TEST_ENGINE must be sqlite or postgres, not ${engine}`);
  }
  return engine;
}

function requirePostgresUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("TEST_ENGINE=postgres needs TEST_DATABASE_URL (a postgres:// URL)");
  const target = parseDatabaseUrl(url);
  if (target.kind !== "postgres") throw new Error("TEST_DATABASE_URL must be a postgres:// URL");
  return target.url;
}

function postgresKind(url: string): TestDatabaseKind {
  return { name: "postgres", create: () => createPostgresSchema(url) };
}

/**
 * A new, empty database on the test engine: a SQLite file in a fresh temporary directory, or
 * a new PostgreSQL schema. `cleanup()` removes it.
 */
export function createTestDatabase(): Promise<TestDatabase> {
  return testEngine() === "postgres"
    ? createPostgresSchema(requirePostgresUrl())
    : createSqliteDatabase();
}

/** A new PostgreSQL schema whatever the test engine (needs TEST_DATABASE_URL). */
export function createPostgresTestDatabase(): Promise<TestDatabase> {
  return createPostgresSchema(requirePostgresUrl());
}

/** The `DATABASE_URL` that reaches `target` from another process. */
export function databaseUrlOf(target: DatabaseTarget): string {
  if (target.kind === "sqlite") return `sqlite://${target.path}`;
  if (target.schema === undefined) return target.url;
  const url = new URL(target.url);
  url.searchParams.set("schema", target.schema);
  return url.toString();
}

/** A new SQLite database whatever the test engine, for suites about SQLite itself. */
export async function createSqliteDatabase(): Promise<TestDatabase> {
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
