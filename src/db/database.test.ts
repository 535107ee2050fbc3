import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Insertable, type Kysely, sql } from "kysely";
import pg from "pg";
import {
  createSqliteDatabase,
  type TestDatabase,
  testDatabaseTargets,
} from "../../test/helpers/databases.js";
import { type DatabaseHandle, DatabaseUnreachableError, openDatabase } from "./database.js";
import { migrateToLatest, pendingMigrations } from "./migrate.js";
import { migrations } from "./migrations/index.js";
import { POSTGRES_POOL_MAX } from "./postgres.js";
import type { Database } from "./schema.js";
import { DatabaseUrlError } from "./url.js";

/**
 * The schema both engines must produce, column by column in declaration order; a trailing
 * `?` marks a nullable column.
 */
const EXPECTED_TABLES: Record<string, string[]> = {
  api_tokens: [
    "id",
    "user_id",
    "name",
    "token_hash",
    "scopes",
    "expires_at",
    "last_used_at?",
    "created_at",
    "revoked_at?",
  ],
  audit_events: [
    "seq",
    "id",
    "at",
    "actor_id?",
    "actor_name?",
    "action",
    "target?",
    "address?",
    "outcome",
    "details?",
    "prev_hash",
    "hash",
  ],
  passkeys: [
    "id",
    "user_id",
    "name",
    "public_key",
    "counter",
    "transports",
    "created_at",
    "last_used_at?",
  ],
  password_reset_tokens: ["token_hash", "user_id", "created_at", "expires_at", "used_at?"],
  pending_registrations: [
    "token_hash",
    "user_id",
    "username",
    "username_key",
    "email",
    "email_key",
    "password_hash",
    "created_at",
    "expires_at",
  ],
  recovery_codes: ["id", "user_id", "code_hash", "used_at?", "created_at"],
  secret_versions: [
    "id",
    "secret_id",
    "version",
    "key_id",
    "wrapped_key",
    "nonce",
    "ciphertext",
    "note_ciphertext?",
    "created_by?",
    "created_at",
  ],
  secrets: [
    "id",
    "vault_id",
    "name",
    "type",
    "current_version",
    "expires_at?",
    "created_by?",
    "created_at",
    "updated_at",
  ],
  sessions: [
    "id",
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "idle_expires_at",
    "reauth_at?",
    "mfa_verified_at?",
    "ip?",
    "user_agent?",
  ],
  shares: [
    "id",
    "vault_id",
    "secret_name",
    "ciphertext",
    "max_views",
    "view_count",
    "expires_at",
    "created_by",
    "created_at",
  ],
  shredded_secrets: ["secret_id", "vault_id", "shredded_at"],
  users: [
    "id",
    "username",
    "username_key",
    "email",
    "email_key",
    "password_hash",
    "role",
    "disabled_at?",
    "totp_secret?",
    "totp_enabled_at?",
    "totp_last_step?",
    "failed_login_count",
    "failed_logins_before_last_login",
    "locked_until?",
    "last_login_at?",
    "last_login_address?",
    "created_at",
    "updated_at",
    "passkey_enabled_at?",
  ],
  vault_members: ["vault_id", "user_id", "role", "created_at"],
  vaults: ["id", "slug", "description", "created_at", "updated_at"],
  webauthn_challenges: ["id", "challenge", "purpose", "user_id?", "expires_at"],
};

/** Tables and columns (`name` or `name?`) as the engine itself reports them. */
async function describeSchema(handle: DatabaseHandle): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {};
  const add = (table: string, column: string, nullable: boolean): void => {
    tables[table] ??= [];
    tables[table].push(nullable ? `${column}?` : column);
  };
  if (handle.dialect.name === "sqlite") {
    const { rows } = await sql<{ table: string; column: string; notnull: number }>`
      select m.name as "table", c.name as "column", c."notnull" as "notnull"
      from sqlite_master m join pragma_table_info(m.name) c
      where m.type = 'table' and m.name not like 'sqlite_%' and m.name not like 'kysely_%'
      order by m.name, c.cid`.execute(handle.db);
    for (const row of rows) add(row.table, row.column, row.notnull === 0);
  } else {
    const { rows } = await sql<{ table: string; column: string; is_nullable: string }>`
      select table_name as "table", column_name as "column", is_nullable
      from information_schema.columns
      where table_schema = current_schema() and table_name not like 'kysely_%'
      order by table_name, ordinal_position`.execute(handle.db);
    for (const row of rows) add(row.table, row.column, row.is_nullable === "YES");
  }
  return tables;
}

type NewUser = Insertable<Database["users"]>;

function userRow(overrides: Partial<NewUser> = {}): NewUser {
  const username = `user_${randomBytes(4).toString("hex")}`;
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    username,
    username_key: username.toLowerCase(),
    email: `${username}@example.test`,
    email_key: `${username}@example.test`,
    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$placeholder",
    role: "member",
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}

async function insertUser(
  db: Kysely<Database>,
  overrides: Partial<NewUser> = {},
): Promise<NewUser> {
  const row = userRow(overrides);
  await db.insertInto("users").values(row).execute();
  return row;
}

async function captureError(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  assert.fail("expected the operation to fail");
}

for (const kind of testDatabaseTargets()) {
  describe(`database on ${kind.name}`, () => {
    let testDatabase: TestDatabase;
    let handle: DatabaseHandle;

    before(async () => {
      testDatabase = await kind.create();
      handle = await openDatabase(testDatabase.target);
    });

    after(async () => {
      await handle?.close();
      await testDatabase?.cleanup();
    });

    it("applies the migrations once, then has none pending", async () => {
      const all = ["0001_initial", "0002_passkeys", "0003_share_handles"];
      assert.deepEqual(await pendingMigrations(handle.db), all);
      assert.deepEqual(await migrateToLatest(handle.db), { applied: all });
      assert.deepEqual(await migrateToLatest(handle.db), { applied: [] });
      assert.deepEqual(await pendingMigrations(handle.db), []);
    });

    it("builds the same tables and columns as the other engine", async () => {
      assert.deepEqual(await describeSchema(handle), EXPECTED_TABLES);
    });

    it("reports itself in the handle", () => {
      assert.equal(handle.dialect.name, kind.name);
      assert.equal(handle.target, testDatabase.target);
    });

    it("detects a unique violation (usernames are unique without regard to case)", async () => {
      const first = await insertUser(handle.db);
      const error = await captureError(() =>
        insertUser(handle.db, {
          username: first.username.toUpperCase(),
          username_key: first.username_key,
        }),
      );
      assert.equal(handle.dialect.isUniqueViolation(error), true);
      assert.equal(handle.dialect.isForeignKeyViolation(error), false);
      // Wrapped by a service, it is still recognised.
      assert.equal(handle.dialect.isUniqueViolation(new Error("wrapped", { cause: error })), true);
      assert.equal(handle.dialect.isUniqueViolation(new Error("something else")), false);
      assert.equal(handle.dialect.isUniqueViolation(undefined), false);
    });

    it("detects a foreign key violation", async () => {
      const now = new Date().toISOString();
      const error = await captureError(() =>
        handle.db
          .insertInto("sessions")
          .values({
            id: randomBytes(32).toString("hex"),
            user_id: randomUUID(),
            created_at: now,
            last_seen_at: now,
            expires_at: now,
            idle_expires_at: now,
          })
          .execute(),
      );
      assert.equal(handle.dialect.isForeignKeyViolation(error), true);
      assert.equal(handle.dialect.isUniqueViolation(error), false);
    });

    it("enforces the role check constraints", async () => {
      await assert.rejects(insertUser(handle.db, { role: "root" as "admin" }));
    });

    it("reads timestamps back as the ISO strings written", async () => {
      const at = "2024-02-29T23:59:59.123Z";
      const user = await insertUser(handle.db, { created_at: at, locked_until: null });
      const row = await handle.db
        .selectFrom("users")
        .select(["created_at", "updated_at", "locked_until", "disabled_at"])
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.created_at, at);
      assert.equal(row.updated_at, user.updated_at);
      assert.equal(row.locked_until, null);
      assert.equal(row.disabled_at, null);
    });

    it("applies column defaults and returns integers as numbers", async () => {
      const user = await insertUser(handle.db);
      const row = await handle.db
        .selectFrom("users")
        .select("failed_login_count")
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.failed_login_count, 0);
      const { count } = await handle.db
        .selectFrom("users")
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .executeTakeFirstOrThrow();
      assert.equal(typeof count, "number");
    });

    it("numbers audit events in increasing order", async () => {
      const event = (hash: string) => ({
        id: randomUUID(),
        at: new Date().toISOString(),
        action: "test.event",
        outcome: "success",
        prev_hash: "0".repeat(64),
        hash,
      });
      await handle.db.insertInto("audit_events").values(event("a")).execute();
      await handle.db.insertInto("audit_events").values(event("b")).execute();
      const rows = await handle.db
        .selectFrom("audit_events")
        .select(["seq", "hash"])
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        rows.map((r) => r.hash),
        ["a", "b"],
      );
      assert.equal(typeof rows[0]?.seq, "number");
      assert.ok((rows[1]?.seq ?? 0) > (rows[0]?.seq ?? 0));
    });

    it("stores binary data as Buffers both ways", async () => {
      const now = new Date().toISOString();
      const vaultId = randomUUID();
      const secretId = randomUUID();
      const ciphertext = Buffer.concat([randomBytes(40), Buffer.from([0, 255, 0])]);
      await handle.db
        .insertInto("vaults")
        .values({ id: vaultId, slug: `v-${vaultId.slice(0, 8)}`, created_at: now, updated_at: now })
        .execute();
      await handle.db
        .insertInto("secrets")
        .values({
          id: secretId,
          vault_id: vaultId,
          name: "API_KEY",
          current_version: 1,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await handle.db
        .insertInto("secret_versions")
        .values({
          id: randomUUID(),
          secret_id: secretId,
          version: 1,
          key_id: "k1",
          wrapped_key: randomBytes(60),
          nonce: randomBytes(12),
          ciphertext,
          created_at: now,
        })
        .execute();
      const version = await handle.db
        .selectFrom("secret_versions")
        .select(["ciphertext", "note_ciphertext"])
        .where("secret_id", "=", secretId)
        .executeTakeFirstOrThrow();
      assert.ok(Buffer.isBuffer(version.ciphertext));
      assert.ok(version.ciphertext.equals(ciphertext));
      assert.equal(version.note_ciphertext, null);
      const vault = await handle.db
        .selectFrom("vaults")
        .select("description")
        .where("id", "=", vaultId)
        .executeTakeFirstOrThrow();
      assert.equal(vault.description, "");
    });

    it("deleting a user deletes its sessions and recovery codes", async () => {
      const user = await insertUser(handle.db);
      const now = new Date().toISOString();
      for (let i = 0; i < 2; i++) {
        await handle.db
          .insertInto("sessions")
          .values({
            id: randomBytes(32).toString("hex"),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now,
            idle_expires_at: now,
          })
          .execute();
      }
      await handle.db
        .insertInto("recovery_codes")
        .values({ id: randomUUID(), user_id: user.id, code_hash: "h", created_at: now })
        .execute();
      await handle.db.deleteFrom("users").where("id", "=", user.id).execute();
      const sessions = await handle.db
        .selectFrom("sessions")
        .select("id")
        .where("user_id", "=", user.id)
        .execute();
      const codes = await handle.db
        .selectFrom("recovery_codes")
        .select("id")
        .where("user_id", "=", user.id)
        .execute();
      assert.deepEqual(sessions, []);
      assert.deepEqual(codes, []);
    });

    it("locks rows for update inside a transaction", async () => {
      const user = await insertUser(handle.db);
      const locked = await handle.db
        .transaction()
        .execute((trx) =>
          handle.dialect
            .lockForUpdate(trx.selectFrom("users").select("id").where("id", "=", user.id))
            .executeTakeFirst(),
        );
      assert.equal(locked?.id, user.id);
    });

    it("answers ping", async () => {
      assert.equal(await handle.ping(1_000), true);
    });

    it("rolls back 0002_passkeys with its down migration, leaving 0001's schema", async () => {
      const scratch = await kind.create();
      const other = await openDatabase(scratch.target);
      try {
        const initial = migrations["0001_initial"];
        const passkeys = migrations["0002_passkeys"];
        assert.ok(initial && passkeys?.down);
        await initial.up(other.db);
        const before = await describeSchema(other);
        await passkeys.up(other.db);
        await passkeys.down(other.db);
        assert.deepEqual(await describeSchema(other), before);
      } finally {
        await other.close();
        await scratch.cleanup();
      }
    });

    it("rolls back 0001_initial with its down migration", async () => {
      const scratch = await kind.create();
      const other = await openDatabase(scratch.target);
      try {
        const initial = migrations["0001_initial"];
        assert.ok(initial?.down);
        await initial.up(other.db);
        await initial.down(other.db);
        assert.deepEqual(await describeSchema(other), {});
      } finally {
        await other.close();
        await scratch.cleanup();
      }
    });
  });
}

describe("database on sqlite: file and connection settings", () => {
  let testDatabase: TestDatabase;
  let handle: DatabaseHandle;
  let path: string;

  before(async () => {
    // SQLite's own settings: on SQLite whatever the test engine.
    testDatabase = await createSqliteDatabase();
    assert.equal(testDatabase.target.kind, "sqlite");
    path = testDatabase.target.kind === "sqlite" ? testDatabase.target.path : "";
    handle = await openDatabase(testDatabase.target);
    await migrateToLatest(handle.db);
  });

  after(async () => {
    await handle?.close();
    await testDatabase?.cleanup();
  });

  it("has the pragmas in effect", async () => {
    const pragma = async (name: string): Promise<unknown> => {
      const { rows } = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(
        handle.db,
      );
      return Object.values(rows[0] ?? {})[0];
    };
    assert.equal(await pragma("journal_mode"), "wal");
    assert.equal(await pragma("foreign_keys"), 1);
    assert.equal(await pragma("secure_delete"), 1);
    assert.equal(await pragma("busy_timeout"), 5000);
    assert.equal(await pragma("synchronous"), 2); // FULL
  });

  it("keeps the file 0600, its write-ahead log too, in a 0700 directory", async () => {
    await insertUser(handle.db);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
  });

  it("leaves no trace of deleted data in the files after scrubDeletedData", async () => {
    const marker = randomBytes(48);
    const now = new Date().toISOString();
    const vaultId = randomUUID();
    await handle.db
      .insertInto("vaults")
      .values({
        id: vaultId,
        slug: `scrub-${vaultId.slice(0, 8)}`,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await handle.db
      .insertInto("shares")
      .values({
        id: randomUUID(),
        vault_id: vaultId,
        secret_name: "X",
        ciphertext: marker,
        max_views: 1,
        expires_at: now,
        created_by: "u",
        created_at: now,
      })
      .execute();
    await handle.dialect.scrubDeletedData(handle.db);
    const contains = (): boolean =>
      [path, `${path}-wal`].some((file) => existsSync(file) && readFileSync(file).includes(marker));
    assert.equal(contains(), true, "the marker should be on disk before the delete");
    await handle.db.deleteFrom("vaults").where("id", "=", vaultId).execute();
    await handle.dialect.scrubDeletedData(handle.db);
    assert.equal(contains(), false);
  });

  it("undoes all of a failed migration run, since SQLite DDL is not wrapped by Kysely", async () => {
    const failure = new Error("migration blew up");
    await assert.rejects(
      handle.dialect.withMigrationLock(handle.db, async () => {
        await handle.db.schema.createTable("half_done").addColumn("x", "text").execute();
        throw failure;
      }),
      (error) => error === failure,
    );
    const { rows } = await sql<{ name: string }>`
      select name from sqlite_master where name = 'half_done'`.execute(handle.db);
    assert.deepEqual(rows, []);
    assert.equal(await handle.ping(100), true);
  });

  it("works in memory", async () => {
    const memory = await openDatabase({ kind: "sqlite", path: ":memory:" });
    try {
      await migrateToLatest(memory.db);
      assert.deepEqual(await pendingMigrations(memory.db), []);
      assert.equal(await memory.ping(100), true);
    } finally {
      await memory.close();
    }
  });

  it("returns false from ping once closed, and closes twice without complaint", async () => {
    const other = await openDatabase({ kind: "sqlite", path: ":memory:" });
    await other.close();
    await other.close();
    assert.equal(await other.ping(100), false);
  });
});

const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");

describe("database on postgres: pool behaviour", { skip: postgres === undefined }, () => {
  let testDatabase: TestDatabase;
  let handle: DatabaseHandle;
  const connectionErrors: Error[] = [];

  before(async () => {
    assert.ok(postgres);
    testDatabase = await postgres.create();
    handle = await openDatabase(testDatabase.target, {
      onConnectionError: (error) => connectionErrors.push(error),
    });
  });

  after(async () => {
    await handle?.close();
    await testDatabase?.cleanup();
  });

  it("works inside the configured schema", async () => {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(
      handle.db,
    );
    assert.equal(testDatabase.target.kind, "postgres");
    assert.equal(
      rows[0]?.schema,
      testDatabase.target.kind === "postgres" ? testDatabase.target.schema : "",
    );
  });

  it("lets concurrent instances migrate at once, applying each migration exactly once", async () => {
    const second = await openDatabase(testDatabase.target);
    try {
      const results = await Promise.all([migrateToLatest(handle.db), migrateToLatest(second.db)]);
      assert.deepEqual(results.flatMap((result) => result.applied).sort(), [
        "0001_initial",
        "0002_passkeys",
        "0003_share_handles",
      ]);
    } finally {
      await second.close();
    }
  });

  it("recovers by itself after its connections are killed", async () => {
    assert.equal(await handle.ping(1_000), true);
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(handle.db);
    const pid = rows[0]?.pid;
    assert.equal(typeof pid, "number");
    assert.equal(testDatabase.target.kind, "postgres");
    const admin = new pg.Client({
      connectionString: testDatabase.target.kind === "postgres" ? testDatabase.target.url : "",
    });
    await admin.connect();
    try {
      await admin.query("select pg_terminate_backend($1)", [pid]);
    } finally {
      await admin.end();
    }
    // The first ping may pick the dead connection before its error event lands; the pool
    // then drops it and the next ping opens a new one.
    let answered = false;
    for (let attempt = 0; attempt < 5 && !(answered && connectionErrors.length > 0); attempt++) {
      answered = await handle.ping(2_000);
    }
    assert.equal(answered, true);
    // The broken connection was reported to the handler, not thrown at the process.
    assert.ok(connectionErrors.length > 0);
  });

  it("gives up on a ping that takes longer than its timeout", async () => {
    // Hold every pooled connection (POSTGRES_POOL_MAX) so the ping has to wait for one.
    const blockers = Array.from({ length: POSTGRES_POOL_MAX }, () =>
      sql`select pg_sleep(2)`.execute(handle.db),
    );
    let released = false;
    const allReleased = Promise.all(blockers).then(() => {
      released = true;
    });
    assert.equal(await handle.ping(50), false);
    // It gave up on its own, not because a connection came free (no timing assertion).
    assert.equal(released, false);
    await allReleased;
    assert.equal(await handle.ping(1_000), true);
  });
});

describe("openDatabase failures", () => {
  it("names the unreachable PostgreSQL server with the password masked", async () => {
    const target = {
      kind: "postgres",
      url: "postgres://postgres:hunter2@127.0.0.1:1/test",
    } as const;
    await assert.rejects(openDatabase(target), (error: unknown) => {
      assert.ok(error instanceof DatabaseUnreachableError);
      assert.match(
        error.message,
        /^database unreachable at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test: /,
      );
      assert.match(error.message, /ECONNREFUSED/);
      assert.doesNotMatch(error.message, /hunter2/);
      assert.ok(error.cause);
      return true;
    });
  });

  it("rejects a malformed PostgreSQL target with DatabaseUrlError", async () => {
    await assert.rejects(
      openDatabase({ kind: "postgres", url: "postgres://u:hunter2@[bad/db" }),
      DatabaseUrlError,
    );
    await assert.rejects(
      openDatabase({ kind: "postgres", url: "postgres://127.0.0.1/test", schema: "x; drop" }),
      DatabaseUrlError,
    );
  });

  it("reports an SQLite file that cannot be created as unreachable", async () => {
    // A path running through a regular file can never become a directory, even for root.
    const dir = await mkdtemp(join(tmpdir(), "strongroom-test-"));
    try {
      const blocker = join(dir, "not-a-directory");
      await writeFile(blocker, "");
      const path = join(blocker, "data", "strongroom.db");
      await assert.rejects(openDatabase({ kind: "sqlite", path }), (error: unknown) => {
        assert.ok(error instanceof DatabaseUnreachableError);
        assert.ok(error.message.startsWith(`database unreachable at sqlite://${path}: `));
        assert.match(error.message, /ENOTDIR/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
