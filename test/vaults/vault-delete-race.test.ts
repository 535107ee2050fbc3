import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import { deleteVault } from "../../src/vaults/vaults.service.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";

const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");

/**
 * A secret being created while its vault is deleted must end up shredded *and* in the shred
 * ledger (so no restore brings it back), never removed by cascade behind the ledger's back.
 * PostgreSQL only: SQLite runs one write transaction at a time, so the race cannot happen.
 */
describe("deleting a vault while a secret is being added to it", {
  skip: postgres === undefined ? "PostgreSQL only (TEST_DATABASE_URL not set)" : false,
}, () => {
  let database: TestDatabase | undefined;
  after(async () => {
    await database?.cleanup();
  });

  it("waits for the writer and records its secret in the shred ledger", async () => {
    assert.ok(postgres);
    database = await postgres.create();
    const handle = await openDatabase(database.target);
    try {
      const { db } = handle;
      await migrateToLatest(db);
      const now = new Date().toISOString();
      const vault = {
        id: crypto.randomUUID(),
        slug: "racing",
        description: "",
        created_at: now,
        updated_at: now,
      };
      await db.insertInto("vaults").values(vault).execute();
      const secretId = crypto.randomUUID();

      // A writer inserts a secret and has not committed yet when the deletion starts.
      let commitWriter: () => void = () => {};
      const writerMayCommit = new Promise<void>((resolve) => {
        commitWriter = resolve;
      });
      let inserted: () => void = () => {};
      const insertDone = new Promise<void>((resolve) => {
        inserted = resolve;
      });
      const writer = db.transaction().execute(async (trx) => {
        await trx
          .insertInto("secrets")
          .values({
            id: secretId,
            vault_id: vault.id,
            name: "LATE",
            current_version: 0,
            expires_at: null,
            created_by: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
        inserted();
        await writerMayCommit;
      });
      await insertDone;
      const deletion = deleteVault(
        db,
        {
          actor: {
            kind: "session",
            userId: crypto.randomUUID(),
            username: "owner",
            role: "member",
            sessionId: "s",
            tokenId: null,
            scopes: null,
          },
          address: "127.0.0.1",
          now: new Date(),
        },
        { vault: { ...vault }, role: "owner" },
      );
      // Give the deletion every chance to run ahead of the writer, then let the writer commit.
      await new Promise((resolve) => setTimeout(resolve, 300));
      commitWriter();
      await writer;
      await deletion;

      const ledger = await db.selectFrom("shredded_secrets").select("secret_id").execute();
      assert.deepEqual(
        ledger.map((row) => row.secret_id),
        [secretId],
      );
      assert.equal((await db.selectFrom("secrets").selectAll().execute()).length, 0);
      assert.equal((await db.selectFrom("vaults").selectAll().execute()).length, 0);
    } finally {
      await handle.close();
    }
  });
});
