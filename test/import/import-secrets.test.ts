import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import { randomId } from "../../src/lib/random.js";
import { SecretBytes } from "../../src/lib/secret-bytes.js";
import { openSecretVersion } from "../../src/vaults/secret-crypto.js";
import { importSecrets, previewSecretImport } from "../../src/vaults/secrets.service.js";
import type { VaultRow } from "../../src/vaults/vaults.repository.js";
import { findVaultForOperator } from "../../src/vaults/vaults.service.js";
import { testDatabaseTargets } from "../helpers/databases.js";

const keyring = [{ id: "k1", key: new SecretBytes(randomBytes(32)) }];
const operator = { name: "cli", address: null };

for (const kind of testDatabaseTargets()) {
  describe(`importSecrets (${kind.name})`, () => {
    let database: DatabaseHandle;
    let cleanup: () => Promise<void>;
    let vault: VaultRow;
    before(async () => {
      const created = await kind.create();
      cleanup = created.cleanup;
      database = await openDatabase(created.target);
      await migrateToLatest(database.db);
      const now = new Date().toISOString();
      await database.db
        .insertInto("vaults")
        .values({ id: randomId(), slug: "imports", created_at: now, updated_at: now })
        .execute();
      const found = await findVaultForOperator(database.db, "imports");
      assert.ok(found);
      vault = found;
      assert.equal(await findVaultForOperator(database.db, "elsewhere"), null);
    });
    after(async () => {
      await database.close();
      await cleanup();
    });

    async function counts(): Promise<number[]> {
      const db = database.db;
      const count = async (table: "secrets" | "secret_versions" | "audit_events") =>
        Number(
          (
            await db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number | string>().as("n"))
              .executeTakeFirstOrThrow()
          ).n,
        );
      return [await count("secrets"), await count("secret_versions"), await count("audit_events")];
    }

    it("writes all or nothing: a failure at the third entry leaves no trace", async () => {
      const entries = ["ONE", "TWO", "THREE", "FOUR"].map((name) => ({ name, value: `v-${name}` }));
      const before = await counts();
      await assert.rejects(
        importSecrets(database.db, keyring, operator, vault, entries, {
          now: new Date(),
          source: "test",
          onProgress: (done) => {
            if (done === 3) throw new Error("the disk is full");
          },
        }),
        /the disk is full/,
      );
      assert.deepEqual(await counts(), before);
      assert.deepEqual(await previewSecretImport(database.db, vault, ["ONE", "TWO"]), {
        created: 2,
        updated: 0,
      });
    });

    it("imports every entry as a new version, sealed for its own row, with progress", async () => {
      const progress: Array<[number, number]> = [];
      const first = await importSecrets(
        database.db,
        keyring,
        operator,
        vault,
        [{ name: "ONE", value: "first" }],
        { now: new Date(), source: "test" },
      );
      assert.deepEqual(first, { created: 1, updated: 0 });
      const second = await importSecrets(
        database.db,
        keyring,
        operator,
        vault,
        [
          { name: "ONE", value: "second" },
          { name: "TWO", value: "zwei ✓" },
        ],
        {
          now: new Date(),
          source: "test",
          onProgress: (done, total) => progress.push([done, total]),
        },
      );
      assert.deepEqual(second, { created: 1, updated: 1 });
      assert.deepEqual(progress, [
        [1, 2],
        [2, 2],
      ]);
      assert.deepEqual(await previewSecretImport(database.db, vault, ["ONE", "TWO", "THREE"]), {
        created: 1,
        updated: 2,
      });
      const rows = await database.db
        .selectFrom("secret_versions")
        .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
        .select([
          "secrets.name",
          "secrets.created_by as secretCreatedBy",
          "secret_versions.secret_id",
          "secret_versions.version",
          "secret_versions.key_id",
          "secret_versions.wrapped_key",
          "secret_versions.nonce",
          "secret_versions.ciphertext",
          "secret_versions.note_ciphertext",
          "secret_versions.created_by",
        ])
        .orderBy("secrets.name")
        .orderBy("secret_versions.version")
        .execute();
      assert.deepEqual(
        rows.map((row) => [
          row.name,
          row.version,
          openSecretVersion(
            keyring,
            { vaultId: vault.id, secretId: row.secret_id, version: row.version },
            row,
          ).value.toString("utf8"),
          row.created_by,
          row.secretCreatedBy,
        ]),
        [
          ["ONE", 1, "first", "cli", null],
          ["ONE", 2, "second", "cli", null],
          ["TWO", 1, "zwei ✓", "cli", null],
        ],
      );
    });
  });
}
