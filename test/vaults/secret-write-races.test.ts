/**
 * Secret writers that deadlock on PostgreSQL and must still all succeed. An import holds the
 * audit chain's lock from its first secret to its commit and locks each next secret row
 * after it; a single write locks its row first and the audit chain last. Caught in the
 * middle, each waits for the other, and PostgreSQL rolls one back (40P01) — which then has
 * to run again rather than fail.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { verifyAuditChain } from "../../src/audit/index.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import { randomId } from "../../src/lib/random.js";
import { SecretBytes } from "../../src/lib/secret-bytes.js";
import { importSecrets, putSecret } from "../../src/vaults/secrets.service.js";
import type { VaultRow } from "../../src/vaults/vaults.repository.js";
import { findVaultForOperator } from "../../src/vaults/vaults.service.js";
import { POSTGRES_SKIPPED, testDatabaseTargets } from "../helpers/databases.js";

const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");
const keys = {
  keyring: [{ id: "k1", key: new SecretBytes(randomBytes(32)) }],
  secretKey: new SecretBytes(randomBytes(32)),
};

describe("secret writers deadlocking on PostgreSQL", {
  skip: postgres === undefined ? POSTGRES_SKIPPED : false,
}, () => {
  let database: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let vault: VaultRow;
  /** Another session, standing for any transaction that holds a lock a while. */
  let other: pg.Client;

  before(async () => {
    const created = await (postgres?.create() ?? Promise.reject(new Error("no postgres")));
    cleanup = created.cleanup;
    if (created.target.kind !== "postgres") throw new Error("expected postgres");
    database = await openDatabase(created.target);
    await migrateToLatest(database.db);
    const now = new Date().toISOString();
    await database.db
      .insertInto("vaults")
      .values({ id: randomId(), slug: "races", created_at: now, updated_at: now })
      .execute();
    const found = await findVaultForOperator(database.db, "races");
    assert.ok(found);
    vault = found;
    other = new pg.Client({ connectionString: created.target.url });
    await other.connect();
    await other.query(`set search_path to ${created.target.schema}`);
  });
  after(async () => {
    await other?.end();
    await database?.close();
    await cleanup?.();
  });

  const acting = {
    actor: {
      kind: "session" as const,
      userId: randomId(),
      username: "writer",
      role: "member" as const,
      sessionId: null,
      tokenId: null,
      scopes: null,
    },
    address: "192.0.2.1",
    now: new Date(),
  };

  /**
   * Waits until a server process not in `known` is blocked (pg_blocking_pids) by the
   * `other` session or by one of `known` on a `select … for update`, and returns its pid.
   */
  async function nextBlockedLocker(otherPid: number, known: number[]): Promise<number> {
    for (let attempt = 0; attempt < 300; attempt++) {
      // pg_stat_activity is read once per transaction unless told otherwise, and `other`
      // is inside one.
      await other.query("select pg_stat_clear_snapshot()");
      const { rows } = await other.query<{ pid: number; query: string; blockers: number[] }>(
        "select pid, query, pg_blocking_pids(pid) as blockers from pg_stat_activity",
      );
      const found = rows.find(
        (row) =>
          !known.includes(row.pid) &&
          row.blockers.some((pid) => pid === otherPid || known.includes(pid)) &&
          / for update$/.test(row.query),
      );
      if (found !== undefined) return found.pid;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("no writer became blocked");
  }

  async function versionsOf(name: string): Promise<number[]> {
    const rows = await database.db
      .selectFrom("secret_versions")
      .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
      .select("secret_versions.version")
      .where("secrets.name", "=", name)
      .orderBy("secret_versions.version")
      .execute();
    return rows.map((row) => row.version);
  }

  it("an import and a single write caught in a deadlock both commit", async () => {
    const access = { vault, role: "owner" as const };
    await putSecret(database.db, keys, acting, access, { name: "ALPHA", value: "a1" });
    const { secret: beta } = await putSecret(database.db, keys, acting, access, {
      name: "BETA",
      value: "b1",
    });
    const otherPid = (await other.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]
      ?.pid;
    assert.ok(otherPid);

    // 1. Another session claims BETA's next version number, uncommitted (its foreign key
    //    check also share-locks BETA's row). The single write queues first for BETA's row.
    await other.query("begin");
    await other.query(
      `insert into secret_versions (id, secret_id, version, key_id, wrapped_key, nonce, ciphertext, created_at)
       values ($1, $2, 2, 'k1', '\\x00', '\\x00', '\\x00', now())`,
      [randomId(), beta.id],
    );
    const single = putSecret(database.db, keys, acting, access, { name: "BETA", value: "b2" });
    const singlePid = await nextBlockedLocker(otherPid, []);

    // 2. The import writes ALPHA, takes the audit chain's lock, and queues for BETA's row.
    const imported = importSecrets(
      database.db,
      keys.keyring,
      { name: "cli", address: null },
      vault,
      [
        { name: "ALPHA", value: "a2" },
        { name: "BETA", value: "b3" },
      ],
      { now: new Date(), source: "test" },
    );
    await nextBlockedLocker(otherPid, [singlePid]);

    // 3. Released, the single write gets BETA's row, writes version 2 and goes on to the
    //    audit chain, which the import holds while it waits for BETA: a deadlock.
    await other.query("rollback");
    const [written, counts] = await Promise.all([single, imported]);

    assert.equal(written.created, false);
    assert.deepEqual(counts, { created: 0, updated: 2 });
    assert.deepEqual(await versionsOf("ALPHA"), [1, 2]);
    assert.deepEqual(await versionsOf("BETA"), [1, 2, 3], "no version lost or duplicated");
    const chain = await verifyAuditChain(database.db, { batchSize: 100 });
    assert.equal(chain.ok, true, JSON.stringify(chain));
  });
});
